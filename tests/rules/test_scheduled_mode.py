"""Scheduled mode against the real Elasticsearch node: queries, coverage, catch-up, gaps,
no double alerts, correlations as aggregations + replay."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.ids import doc_id
from socmon.indices import IndexNames, events_index_for
from socmon.rules.detection import Detection
from socmon.rules.loader import load_paths
from socmon.rules.scheduled import GAPS, LAG, CoverageStore, ScheduledRunner
from socmon.rules.scheduled_convert import ScheduledSet, convert
from socmon.rules.scheduled_output import DetectionOutput
from socmon.settings import Settings

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "sigma"
SQLI = "33bf04d9-1508-413e-8963-22a1b14bca2b"
SSH_BRUTE = "ffbe4eca-2102-4b00-bdbf-d2841b905fff"
SSH_SPRAY = "5e0f506d-d61b-4b6b-9925-8ec445197d0a"
NOW = 1_800_000_000.0  # fixed "now" for the runner's clock


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@pytest.fixture(scope="module")
def converted() -> ScheduledSet:
    from socmon.rules.loader import finish

    loaded = finish(load_paths([SHIPPED / "web", SHIPPED / "linux"]))
    s = convert(loaded)
    assert not s.problems, s.problems
    return s


def index_events(client: Elasticsearch, names: IndexNames, events: list[dict[str, Any]]) -> None:
    """Store the events as if on time: a collector-shaped ``event.ingested`` (the real clock)
    becomes the event's ``@timestamp`` (the runner's fixed clock); shipper-shaped documents
    stay without one."""
    ops: list[dict[str, Any]] = []
    for i, e in enumerate(events):
        if "ingested" in e.get("event", {}):
            e["event"]["ingested"] = e["@timestamp"]
        ops.append({"create": {"_index": events_index_for(names, e["@timestamp"]), "_id": f"e{i}"}})
        ops.append(e)
    resp = client.bulk(operations=ops, refresh=True)
    assert not resp["errors"], resp


def web(t: float, url: str) -> dict[str, Any]:
    # shaped like another shipper's document: no organization, no event.kind
    return {
        "@timestamp": iso(t),
        "event": {"dataset": "nginx.access"},
        "url": {"original": url},
        "source": {"ip": "198.51.100.20"},
        "http": {"response": {"status_code": 200}},
    }


def ssh(t: float, ip: str, user: str = "root") -> dict[str, Any]:
    return {
        "@timestamp": iso(t),
        "event": {
            "dataset": "sshd",
            "category": ["authentication"],
            "outcome": "failure",
            "action": "login-failed",
        },
        "source": {"ip": ip},
        "user": {"name": user},
    }


def runner(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    converted: ScheduledSet,
    only: set[str],
    sink: list[Detection] | None = None,
    **overrides: Any,
) -> ScheduledRunner:
    ds = settings.detection.model_copy(
        update={"scheduled_delay": 0.0, "scheduled_lookback": 60.0, **overrides}
    )
    subset = ScheduledSet(
        rules=[r for r in converted.rules if r.key in only],
        correlations=[c for c in converted.correlations if c.key in only],
        suppressed=converted.suppressed,
    )
    handler = sink.append if sink is not None else None
    out = DetectionOutput(es_client, names, handler)
    return ScheduledRunner(es_client, names, subset, ds, out, clock=lambda: NOW)


def test_single_rule_detects_once(
    es_client: Elasticsearch, names: IndexNames, settings: Settings, converted: ScheduledSet
) -> None:
    index_events(
        es_client,
        names,
        [
            web(NOW - 30, "/search?q=1'%20or%201=1--"),
            web(NOW - 20, "/search?q=hello"),
            web(NOW - 10_000, "/old?id=1 union select password from users"),  # before lookback
        ],
    )
    r = runner(es_client, names, settings, converted, {SQLI})
    assert r.run_once() == 1
    es_client.indices.refresh(index=names.alerts)
    got = es_client.search(index=names.alerts, query={"term": {"rule.id": SQLI}})["hits"]["hits"]
    assert len(got) == 1
    doc = got[0]["_source"]
    assert doc["detection_mode"] == "scheduled" and doc["severity"] == "high"
    assert doc["event_refs"][0]["id"] == "e0"
    assert got[0]["_id"] == doc_id("detection", SQLI, "e0")  # same id as the streaming engine's
    # a second pass: nothing new (coverage); forgetting coverage: still no double alert
    assert r.run_once() == 0
    es_client.delete(index=names.state, id=f"scheduled:{SQLI}", refresh=True)
    assert r.run_once() == 0
    assert LAG.labels(SQLI)._value.get() == 0.0


def test_catch_up_after_outage_and_gap(
    es_client: Elasticsearch, names: IndexNames, settings: Settings, converted: ScheduledSet
) -> None:
    index_events(
        es_client,
        names,
        [
            web(NOW - 2.5 * 3600, "/a?x=<script>alert(1)</script>' union select 1"),
            web(NOW - 30 * 3600, "/b?id=1 union select 2"),
        ],
    )
    cov = CoverageStore(es_client, names)
    # the rule last covered up to 3 hours ago (socmon was down): caught up in 1 h chunks
    cov.set(SQLI, NOW - 3 * 3600)
    sink: list[Detection] = []
    r = runner(es_client, names, settings, converted, {SQLI}, sink, scheduled_chunk=3600.0)
    assert len(r.windows(SQLI, NOW)[0]) == 4
    assert r.run_once() == 1
    assert sink[0].events[0].id == "e0"
    assert cov.get(SQLI) == NOW
    # down for two days with max_catchup 1 day: the older day is a counted gap
    cov.set(SQLI, NOW - 48 * 3600)
    gaps = GAPS.labels(SQLI)._value.get()
    sink.clear()
    r = runner(es_client, names, settings, converted, {SQLI}, sink, scheduled_max_catchup=86400.0)
    r.run_once()
    assert GAPS.labels(SQLI)._value.get() == gaps + 1
    assert [d.events[0].id for d in sink] == ["e0"]  # e1 (30 h ago) fell in the gap


def test_correlation_brute_force_and_spraying(
    es_client: Elasticsearch, names: IndexNames, settings: Settings, converted: ScheduledSet
) -> None:
    evs = [ssh(NOW - 200 + i * 5, "203.0.113.50") for i in range(12)]  # brute force
    evs += [ssh(NOW - 200 + i, "203.0.113.51") for i in range(3)]  # too few
    evs += [ssh(NOW - 100 + i * 3, "203.0.113.52", f"user{i}") for i in range(6)]  # spraying
    index_events(es_client, names, evs)
    sink: list[Detection] = []
    r = runner(
        es_client,
        names,
        settings,
        converted,
        {SSH_BRUTE, SSH_SPRAY},
        sink,
        scheduled_lookback=600.0,
    )
    r.run_once()
    by_rule = {(d.rule_id, d.group_by["source.ip"]): d for d in sink}
    assert set(by_rule) == {(SSH_BRUTE, "203.0.113.50"), (SSH_SPRAY, "203.0.113.52")}
    brute = by_rule[(SSH_BRUTE, "203.0.113.50")]
    assert brute.mode == "correlation" and len(brute.events) == 10
    assert brute.events[0].index is not None
    spray = by_rule[(SSH_SPRAY, "203.0.113.52")]
    assert len({e.event["user"]["name"] for e in spray.events}) == 5
    # the base rule is not reported alone (generate: false) and a re-run adds nothing
    assert all(d.mode == "correlation" for d in sink)
    sink.clear()
    r.run_once()  # the same runner re-reads the lookback: nothing handed over again
    assert sink == []
    for key in (SSH_BRUTE, SSH_SPRAY):
        es_client.delete(index=names.state, id=f"scheduled:{key}", refresh=True)
    # a restarted process (a new runner, coverage lost) finds it again
    r = runner(
        es_client,
        names,
        settings,
        converted,
        {SSH_BRUTE, SSH_SPRAY},
        sink,
        scheduled_lookback=600.0,
    )
    r.run_once()
    ids = {d.id for d in sink}
    assert brute.id in ids  # the same detection id again: alerting deduplicates


CHAIN = "a32d3fa9-ec31-4d5c-941e-ce059467d0b1"
RDP_BRUTE = "70254cfe-35ab-476b-af63-f2585c456638"


def test_correlation_temporal_chain_and_windows_events(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    """Aliased temporal_ordered (no prefilter) and an event_count over Windows events shaped
    as the collectors shape them; the same detections as the streaming engine."""
    from socmon.rules.evaluate import build_engine, run_events
    from socmon.rules.loader import finish
    from tests.rules.test_shipped_rules import expand

    def win(t: float, code: int, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "windows": {
                "channel": "Security",
                "event_id": code,
                "time": iso(t),
                "computer": "ub-tinh-01.tinh.local",
                "data": data,
            }
        }

    raw = [
        win(
            NOW - 300 + i * 5,
            4625,
            {"TargetUserName": "KeToan", "LogonType": 10, "IpAddress": "203.0.113.99"},
        )
        for i in range(12)
    ]
    raw.append(win(NOW - 200, 4624, {"TargetUserName": "KeToan", "LogonType": 10}))
    raw.append(
        win(
            NOW - 100,
            4732,
            {
                "SubjectUserName": "KeToan",
                "TargetUserName": "Administrators",
                "TargetSid": "S-1-5-32-544",
            },
        )
    )
    events = expand(raw)
    index_events(es_client, names, events)
    loaded = finish(load_paths([SHIPPED / "windows"]))
    conv = convert(loaded)
    assert not conv.problems
    sink: list[Detection] = []
    r = runner(es_client, names, settings, conv, {CHAIN, RDP_BRUTE}, sink, scheduled_lookback=900.0)
    r.run_once()
    got = {(d.rule_id, len(d.events)) for d in sink}
    assert got == {(CHAIN, 14), (RDP_BRUTE, 10)}
    chain = next(d for d in sink if d.rule_id == CHAIN)
    assert chain.group_by == {"host.name": "ub-tinh-01.tinh.local", "account": "KeToan"}
    # the streaming engine finds the same correlations over the same events
    streamed = run_events(build_engine([SHIPPED / "windows"]), events)
    assert {(d.rule_id, len(d.events)) for d in streamed if d.mode == "correlation"} == got
