"""``socmon.ingested`` (socmon's storage time, scheduled detection's window key) and
``event.ingested`` (ECS: arrival in the central store; a shipper's value is kept) -- issue 14.
Expectations from the ECS field definitions, not from the code."""

from __future__ import annotations

import orjson

from socmon.ingest_time import restamp_line, stamp
from socmon.timestamps import iso_epoch as iso

T1, T2 = 1_800_000_000.0, 1_800_003_600.0  # storage, then a replay an hour later


def test_socmon_stamps_both_when_no_shipper_did_and_follows_a_replay() -> None:
    ev: dict = {"@timestamp": iso(T1 - 5), "event": {"dataset": "sshd", "created": iso(T1 - 1)}}
    stamp(ev, now=T1)
    assert ev["event"]["ingested"] == ev["socmon"]["ingested"] == iso(T1)
    assert ev["event"]["created"] == iso(T1 - 1)  # collection time untouched
    again = orjson.loads(restamp_line(orjson.dumps(ev), now=T2))
    # replayed from the spool: it reached the store only now
    assert again["event"]["ingested"] == again["socmon"]["ingested"] == iso(T2)


def test_a_shippers_event_ingested_is_kept_and_socmon_keeps_its_own() -> None:
    shipper = "2026-01-01T00:00:00.000Z"  # an upstream pipeline's value, days old
    ev: dict = {"@timestamp": iso(T1 - 5), "event": {"ingested": shipper}, "socmon": {"a": 1}}
    stamp(ev, now=T1)
    assert ev["event"]["ingested"] == shipper
    assert ev["socmon"] == {"a": 1, "ingested": iso(T1)}
    again = orjson.loads(restamp_line(orjson.dumps(ev), now=T2))
    assert again["event"]["ingested"] == shipper and again["socmon"]["ingested"] == iso(T2)
