"""The operations gauges read from the real cluster (socmon.es_metrics) and the per-unit ingest
series (socmon.ingest_metrics)."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from socmon.es_metrics import ClusterCollector, read_cluster, watermark_ratio
from socmon.ingest_metrics import IngestMetrics
from tests.alerting.receivers import free_port


def _samples(collector: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reg = CollectorRegistry()
    reg.register(collector)  # type: ignore[arg-type]
    text = generate_latest(reg).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


@pytest.mark.parametrize(
    ("value", "ratio"),
    # the forms Elasticsearch's disk-allocator settings take (its reference: percentage,
    # ratio, or an absolute free-space size)
    [("85%", 0.85), ("90.5%", 0.905), ("0.95", 0.95), ("500mb", None), ("1gb", None), (None, None)],
)
def test_watermark_ratio(value: object, ratio: float | None) -> None:
    assert watermark_ratio(value) == ratio


@pytest.mark.es
def test_cluster_gauges_from_the_real_node(es_client: Elasticsearch) -> None:
    health = es_client.cluster.health()
    snap = read_cluster(es_client)
    assert snap.up and snap.status == health["status"]
    assert snap.nodes == health["number_of_nodes"] >= 1
    assert set(snap.disks) == {n["name"] for n in es_client.nodes.info()["nodes"].values()}
    assert all(0 < avail <= total for total, avail in snap.disks.values())
    wm = snap.watermarks
    assert 0 < wm["low"] < wm["high"] < wm["flood_stage"] <= 1
    c = ClusterCollector()
    c.snapshot = snap
    got = _samples(c)
    assert got[("socmon_es_up", ())] == 1
    colours = {dict(k[1])["color"]: v for k, v in got.items() if k[0].endswith("health_status")}
    assert colours == {col: float(col == health["status"]) for col in ("green", "yellow", "red")}


def test_unreachable_cluster_is_up_zero_and_nothing_stale() -> None:
    client = Elasticsearch(f"http://127.0.0.1:{free_port()}", max_retries=0)
    snap = read_cluster(client, timeout=2)
    assert not snap.up
    c = ClusterCollector()
    c.snapshot = snap
    assert _samples(c) == {("socmon_es_up", ()): 0.0}


def test_ingest_counts_per_unit_and_dataset() -> None:
    m = IngestMetrics()
    events = (
        [{"organization": {"id": "xa-a"}, "event": {"dataset": "sshd"}}] * 3
        + [{"organization": {"id": "xa-b"}, "event": {"dataset": "sshd"}}]
        + [{"event": {"dataset": "nginx.access"}}, {"organization": "bad", "event": None}]
    )
    for e in events:
        m.observe(e)
    got = _samples(m)
    counts = {
        dict(k[1])["unit"] + "/" + dict(k[1])["dataset"]: v
        for k, v in got.items()
        if k[0] == "socmon_ingest_events_total"
    }
    assert counts == {
        "xa-a/sshd": 3,
        "xa-b/sshd": 1,
        "unassigned/nginx.access": 1,
        "unassigned/unknown": 1,
    }
    stamps = [v for k, v in got.items() if k[0] == "socmon_ingest_last_event_timestamp_seconds"]
    assert len(stamps) == 4 and all(v > 1.7e9 for v in stamps)
