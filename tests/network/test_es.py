"""Flows from a pcap land in Elasticsearch with the right counts, and a replay duplicates
nothing (deterministic ids)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from socmon.bulk import BulkWriter
from socmon.collectors.network.reader import read_pcap_events
from socmon.indices import IndexNames
from socmon.settings import Settings
from socmon.storage_sink import StorageSink
from tests.network.helpers import write_pcap

pytestmark = pytest.mark.es


def _capture(path: Path) -> Path:
    pkts = []
    for i in range(30):
        c, s, sp = "10.1.0.1", f"10.2.0.{i % 5 + 1}", 40000 + i
        pkts += [
            Ether() / IP(src=c, dst=s) / TCP(sport=sp, dport=80, flags="S"),
            Ether() / IP(src=s, dst=c) / TCP(sport=80, dport=sp, flags="SA"),
            Ether() / IP(src=c, dst=s) / TCP(sport=sp, dport=80, flags="A"),
            Ether()
            / IP(src=c, dst=s)
            / TCP(sport=sp, dport=80, flags="PA")
            / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ether() / IP(src=c, dst=s) / TCP(sport=sp, dport=80, flags="FA"),
            Ether() / IP(src=s, dst=c) / TCP(sport=80, dport=sp, flags="FA"),
        ]
    for i in range(10):
        pkts.append(
            Ether()
            / IP(src="10.1.0.1", dst="10.1.0.53")
            / UDP(sport=50000 + i, dport=53)
            / DNS(qd=DNSQR(qname=f"h{i}.example.org"))
        )
    return write_pcap(path, pkts)


def _ship(path: Path, es_client: Elasticsearch, settings: Settings, names: IndexNames) -> int:
    writer = BulkWriter(es_client, settings.storage, names, spool_dir=settings.storage.spool_dir)
    writer.start()
    sink = StorageSink(writer, names)
    acked = []
    n = 0
    for doc_id, ev in read_pcap_events(path):
        sink.emit(doc_id, ev, lambda: acked.append(1))
        n += 1
    writer.close()
    assert len(acked) == n
    return n


def test_flows_land_in_elasticsearch(
    tmp_path: Path, es_client: Elasticsearch, settings: Settings, names: IndexNames
) -> None:
    pcap = _capture(tmp_path / "es.pcap")
    n = _ship(pcap, es_client, settings, names)
    es_client.indices.refresh(index=names.events_pattern)
    r = es_client.search(
        index=names.events_pattern,
        size=0,
        aggs={"ds": {"terms": {"field": "event.dataset"}}},
        track_total_hits=True,
    )
    assert r["hits"]["total"]["value"] == n
    by_ds = Counter({b["key"]: b["doc_count"] for b in r["aggregations"]["ds"]["buckets"]})
    assert by_ds == Counter({"network.flow": 40, "network.http": 30, "network.dns": 10})
    # the counters are mapped as numbers, addresses as ip: range and CIDR queries work
    r = es_client.search(
        index=names.events_pattern,
        query={
            "bool": {
                "filter": [
                    {"term": {"event.dataset": "network.flow"}},
                    {"term": {"destination.ip": "10.2.0.0/24"}},
                    {"range": {"network.packets": {"gte": 6}}},
                ]
            }
        },
        aggs={"pk": {"sum": {"field": "network.packets"}}},
        size=0,
    )
    assert r["hits"]["total"]["value"] == 30
    assert r["aggregations"]["pk"]["value"] == 180

    # a replay of the same capture creates nothing new
    _ship(pcap, es_client, settings, names)
    es_client.indices.refresh(index=names.events_pattern)
    assert es_client.count(index=names.events_pattern)["count"] == n
