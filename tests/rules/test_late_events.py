"""Late events against the real Elasticsearch node (issue 14): scheduled detection covers
events by the time socmon stored them (``event.ingested``), so a burst stored minutes or
hours after it happened raises the same alerts as on time, and nothing alerts twice.

The events go through socmon's own storage path (``StorageSink`` -> ``BulkWriter``, and the
disk spool for the site outage); the expected detections come from the streaming engine over
the same events (a peer implementation) and from the shipped rule's table (10 failures from
one address within 5 minutes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.bulk import BulkWriter
from socmon.es import make_client
from socmon.ids import doc_id
from socmon.indices import IndexNames, apply_templates
from socmon.metrics import REGISTRY
from socmon.rules.evaluate import build_engine, run_events
from socmon.rules.loader import finish, load_paths
from socmon.rules.scheduled import ScheduledRunner
from socmon.rules.scheduled_convert import ScheduledSet, convert
from socmon.rules.scheduled_output import DetectionOutput
from socmon.settings import Settings, load_settings
from socmon.storage_sink import StorageSink
from tests.foundation.test_run import free_port
from tests.rules.test_scheduled_mode import ssh

pytestmark = pytest.mark.es

LINUX = Path(__file__).resolve().parents[2] / "rules" / "sigma" / "linux"
SSH_BRUTE = "ffbe4eca-2102-4b00-bdbf-d2841b905fff"


def burst(start: float, n: int, ip: str = "203.0.113.77") -> list[tuple[str, dict[str, Any]]]:
    """n failed SSH logins from one address, 2 s apart, with fixed ids."""
    return [(doc_id("late-test", ip, str(i)), ssh(start + 2 * i, ip)) for i in range(n)]


def delay_sum() -> float:
    got = REGISTRY.get_sample_value(
        "socmon_ingest_delay_seconds_sum", {"source": "sshd", "path": "direct"}
    )
    return got or 0.0


def brute_only() -> ScheduledSet:
    s = convert(finish(load_paths([LINUX])))
    return ScheduledSet(
        rules=[],
        correlations=[c for c in s.correlations if c.key == SSH_BRUTE],
        suppressed=s.suppressed,
    )


def runner(
    client: Elasticsearch, names: IndexNames, settings: Settings, **kw: Any
) -> ScheduledRunner:
    ds = settings.detection.model_copy(update={"scheduled_delay": 0.0, **kw})
    return ScheduledRunner(client, names, brute_only(), ds, DetectionOutput(client, names))


def store(writer: BulkWriter, names: IndexNames, events: list[tuple[str, dict[str, Any]]]) -> None:
    sink = StorageSink(writer, names)
    for i, ev in events:
        sink.emit(i, ev)
    assert writer.flush(timeout=60)


def store_now(
    client: Elasticsearch, settings: Settings, names: IndexNames, events: list[tuple[str, Any]]
) -> None:
    w = BulkWriter(client, settings.storage, names, settings.storage.spool_dir)
    try:
        store(w, names, events)
    finally:
        w.close()
    assert w.counts["created"] == len(events)


def alerts(client: Elasticsearch, names: IndexNames) -> list[tuple[str, str]]:
    client.indices.refresh(index=names.alerts)
    got = client.search(index=names.alerts, size=100, query={"match_all": {}})
    return sorted((h["_source"]["rule"]["id"], h["_id"]) for h in got["hits"]["hits"])


def streamed(events: list[tuple[str, dict[str, Any]]]) -> int:
    dets = run_events(build_engine([LINUX]), [e for _, e in events])
    return sum(1 for d in dets if d.rule_id == SSH_BRUTE)


def test_late_burst_raises_the_same_alerts_as_on_time(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    late_names = names
    ontime_names = IndexNames(f"{names.prefix}-ontime")
    apply_templates(es_client, ontime_names)
    now = time.time()
    late = burst(now - 540, 30)  # happened 9 minutes ago, collected now
    ontime = burst(now - 60, 30)  # the same burst (same ids) collected at once
    expected = streamed(late)
    assert expected == streamed(ontime) == 3  # 30 failures, a detection per 10 (rule table)

    r_late = runner(es_client, late_names, settings)  # default lookback (300 s)
    assert r_late.run_once() == 0  # coverage reaches "now" before the burst arrives
    before = delay_sum()
    store_now(es_client, settings, late_names, late)
    assert delay_sum() - before >= 30 * 480  # lateness recorded
    es_client.indices.refresh(index=late_names.events_pattern)
    assert r_late.run_once() == expected
    assert r_late.run_once() == 0  # a second pass re-reads the lookback: nothing new

    r_on = runner(es_client, ontime_names, settings)
    store_now(es_client, settings, ontime_names, ontime)
    es_client.indices.refresh(index=ontime_names.events_pattern)
    assert r_on.run_once() == expected
    assert r_on.run_once() == 0
    # the same alerts (ids from the rule and the events), each once
    assert alerts(es_client, late_names) == alerts(es_client, ontime_names)
    assert len(alerts(es_client, late_names)) == expected


def test_site_outage_spool_replay_alerts_once(
    es_client: Elasticsearch, names: IndexNames, settings: Settings, tmp_path: Path
) -> None:
    """A site collector cut off from the cluster spools its events; coverage moves on; when
    the link is back the spool is replayed and its brute-force burst (12 failures: one
    detection by the rule's table) raises exactly one alert."""
    spool = tmp_path / "site-spool"
    dead = make_client(load_settings(es={"url": f"http://127.0.0.1:{free_port()}"}).es)
    cut = settings.storage.model_copy(update={"max_retries": 0})
    events = burst(time.time() - 1200, 12, ip="198.51.100.9")  # 20 minutes of event time ago
    assert streamed(events) == 1
    site = BulkWriter(dead, cut, names, spool)
    store(site, names, events)
    assert site.counts["spooled"] == 12 and site.counts["created"] == 0
    site.close(timeout=5)

    r = runner(es_client, names, settings, scheduled_lookback=1.0)
    assert r.run_once() == 0
    time.sleep(2.5)  # coverage passes the moment the events were first handed over
    assert r.run_once() == 0
    back = BulkWriter(es_client, settings.storage, names, spool)
    back.start()
    deadline = time.monotonic() + 60
    while not back.drained() and time.monotonic() < deadline:
        time.sleep(0.1)
    back.close()
    assert back.counts["replayed"] == 12 and back.counts["created"] == 12
    es_client.indices.refresh(index=names.events_pattern)
    assert es_client.count(index=names.events_pattern)["count"] == 12
    assert r.run_once() == 1
    assert r.run_once() == 0
    assert len(alerts(es_client, names)) == 1


def test_a_shippers_old_event_ingested_does_not_hide_a_burst(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    """Events that come with a shipper's ``event.ingested`` a day old keep it, and are still
    examined when socmon stores them (its own ``socmon.ingested``): the burst alerts once."""
    events = burst(time.time() - 120, 12, ip="198.51.100.44")
    old = "2026-01-01T00:00:00.000Z"
    for _, ev in events:
        ev["event"]["ingested"] = old
    r = runner(es_client, names, settings)  # default lookback
    assert r.run_once() == 0
    store_now(es_client, settings, names, events)
    es_client.indices.refresh(index=names.events_pattern)
    got = es_client.search(index=names.events_pattern, size=20)["hits"]["hits"]
    assert {h["_source"]["event"]["ingested"] for h in got} == {old}
    assert all(h["_source"]["socmon"]["ingested"] > old for h in got)
    assert r.run_once() == streamed(events) == 1
    assert r.run_once() == 0
    assert len(alerts(es_client, names)) == 1
