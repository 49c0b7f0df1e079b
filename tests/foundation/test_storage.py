"""The storage layer against the real node: templates, idempotent bulk writes, dead letters,
in-order acks, backpressure, and the disk spool."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.bulk import BulkWriter
from socmon.es import make_client
from socmon.indices import (
    IndexNames,
    apply_templates,
    delete_expired_event_indices,
    events_index_for,
    templates_applied,
)
from socmon.settings import Settings, load_settings
from socmon.spool import Spool
from socmon.storage_sink import StorageSink

pytestmark = pytest.mark.es


def ecs_event(i: int, day: str = "2026-11-24") -> dict:
    return {
        "@timestamp": f"{day}T10:00:{i % 60:02d}.000Z",
        "message": f"Failed password for root from 203.0.113.{i % 250} port 22 ssh2",
        "event": {"dataset": "test.storage", "category": ["authentication"], "outcome": "failure"},
        "source": {"ip": f"203.0.113.{i % 250}", "port": 40000 + i % 1000},
        "user": {"name": "root"},
        "organization": {"id": "so-tttt", "name": "Sở Thông tin và Truyền thông"},
        "labels": {"n": str(i)},
    }


def refresh_count(client: Elasticsearch, index: str) -> int:
    client.indices.refresh(index=index, allow_no_indices=True)
    return int(client.count(index=index, allow_no_indices=True)["count"])


def test_templates_applied_twice_and_mappings_are_explicit(
    es_client: Elasticsearch, index_prefix: str
) -> None:
    names = IndexNames(index_prefix)
    first = apply_templates(es_client, names)
    second = apply_templates(es_client, names)
    assert first == second
    assert templates_applied(es_client, names)
    es_client.index(index=names.events(dt.date(2026, 11, 24)), document=ecs_event(1))
    m = es_client.indices.get_mapping(index=names.events_pattern)
    props = next(iter(m.values()))["mappings"]["properties"]
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["message"]["type"] == "text"
    assert props["event"]["properties"]["dataset"]["type"] == "keyword"
    assert props["organization"]["properties"]["id"]["type"] == "keyword"
    assert props["@timestamp"]["type"] == "date"
    for kind in ("alerts", "rules", "exceptions", "audit", "deadletter", "state"):
        assert es_client.indices.exists(index=f"{index_prefix}-{kind}")


def test_events_index_is_chosen_from_the_timestamp() -> None:
    names = IndexNames("p")
    assert events_index_for(names, "2026-01-02T03:04:05Z") == "p-events-2026.01.02"
    assert events_index_for(names, "garbage") == "p-events-1970.01.01"
    assert events_index_for(names, None) == "p-events-1970.01.01"


def test_write_read_back_and_replay_never_duplicates(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    w = BulkWriter(es_client, settings.storage, names, spool_dir=settings.storage.spool_dir)
    sink = StorageSink(w, names)
    for i in range(3000):
        sink.emit(f"doc-{i}", ecs_event(i))
    assert w.flush(60)
    assert refresh_count(es_client, names.events_pattern) == 3000
    got = es_client.get(index="-".join([names.prefix, "events", "2026.11.24"]), id="doc-7")
    assert got["_source"]["user"]["name"] == "root"
    # A replay of the same events (same ids) writes nothing new and is counted as duplicates.
    for i in range(3000):
        sink.emit(f"doc-{i}", ecs_event(i))
    w.close()
    assert refresh_count(es_client, names.events_pattern) == 3000
    assert w.counts["created"] == 3000 and w.counts["duplicate"] == 3000


def test_mapping_conflicts_go_to_the_dead_letter_index_with_the_reason(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    w = BulkWriter(es_client, settings.storage, names, spool_dir=settings.storage.spool_dir)
    sink = StorageSink(w, names)
    sink.emit("good-1", ecs_event(1))
    bad = ecs_event(2)
    bad["event"]["dataset"] = {"not": "a keyword"}
    sink.emit("bad-1", bad)
    sink.emit("good-2", ecs_event(3))
    w.close()
    assert refresh_count(es_client, names.events_pattern) == 2
    assert w.counts["dead_lettered"] == 1
    es_client.indices.refresh(index=names.deadletter)
    hits = es_client.search(index=names.deadletter)["hits"]["hits"]
    assert len(hits) == 1
    dl = hits[0]["_source"]
    assert dl["doc_id"] == "bad-1" and dl["status"] == 400
    assert "event.dataset" in dl["reason"]
    assert '"not":"a keyword"' in dl["document"]


def test_acks_fire_in_order_only_after_durability(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    st = settings.storage.model_copy(update={"batch_size": 50, "senders": 4})
    w = BulkWriter(es_client, st, names, spool_dir=settings.storage.spool_dir)
    sink = StorageSink(w, names)
    acked: list[int] = []
    seen_in_es: list[bool] = []

    def make_ack(i: int):  # type: ignore[no-untyped-def]
        def ack() -> None:
            acked.append(i)
            if i % 500 == 0:  # spot-check that the document is really there
                doc = es_client.get(index=f"{names.prefix}-events-2026.11.24", id=f"a-{i}")
                seen_in_es.append(bool(doc["found"]))

        return ack

    for i in range(2000):
        sink.emit(f"a-{i}", ecs_event(i), make_ack(i))
    w.close()
    assert acked == list(range(2000))
    assert seen_in_es and all(seen_in_es)


def test_backpressure_bounds_memory(es_url: str, names: IndexNames, settings: Settings) -> None:
    # Point at a port where nothing listens, with a tiny spool that blocks when full: the
    # producer must block instead of buffering without bound.
    dead = load_settings(es={"url": "http://127.0.0.1:1", "request_timeout": 1})
    st = settings.storage.model_copy(
        update={
            "batch_size": 10,
            "max_pending_batches": 2,
            "max_retries": 0,
            "spool_max_bytes": 20_000,
            "backoff_initial": 0.05,
        }
    )
    w = BulkWriter(make_client(dead.es), st, names, spool_dir=settings.storage.spool_dir)
    produced = [0]
    done = threading.Event()

    def produce() -> None:
        for i in range(100_000):
            if done.is_set():
                return
            w.add(f"{names.prefix}-events-2026.11.24", f"b-{i}", ecs_event(i))
            produced[0] = i + 1

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        time.sleep(3)
        assert t.is_alive(), "producer should be blocked by backpressure"
        stalled_at = produced[0]
        time.sleep(1)
        assert produced[0] == stalled_at < 1000
        assert w.spool.size_bytes <= 20_000 + 10_000  # at most one batch over the limit check
        # stopping (SIGTERM) with Elasticsearch away and the spool full does not hang: the
        # senders blocked on the spool write their batch over the limit and the writer stops
        done.set()
        t0 = time.monotonic()
        w.close(timeout=1)
        assert time.monotonic() - t0 < 15
        assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("bulk-"))
    finally:  # no sender left retrying the dead address during the tests that follow
        done.set()
        w.close(timeout=1)


def test_spool_holds_batches_while_unreachable_and_replays_after_restart(
    es_client: Elasticsearch, es_url: str, names: IndexNames, settings: Settings, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool-replay"
    dead = load_settings(es={"url": "http://127.0.0.1:1", "request_timeout": 1})
    st = settings.storage.model_copy(update={"batch_size": 100, "max_retries": 1})
    w1 = BulkWriter(make_client(dead.es), st, names, spool_dir=spool_dir)
    sink = StorageSink(w1, names)
    acked = []
    for i in range(1000):
        sink.emit(f"s-{i}", ecs_event(i), lambda i=i: acked.append(i))
    assert w1.flush(60)
    assert len(acked) == 1000  # durable = in the spool
    assert w1.counts["spooled"] == 1000
    w1.close(timeout=5)
    segments = sorted(spool_dir.glob("*.ndjson"))
    assert len(segments) == 10
    # A new process (new writer) on the same spool directory, Elasticsearch reachable.
    w2 = BulkWriter(es_client, st, names, spool_dir=spool_dir)
    w2.start()
    deadline = time.monotonic() + 60
    while len(w2.spool) and time.monotonic() < deadline:
        time.sleep(0.1)
    w2.close()
    assert refresh_count(es_client, names.events_pattern) == 1000
    assert w2.counts["replayed"] == 1000
    assert list(spool_dir.glob("*.ndjson")) == []


def test_spool_drop_oldest_policy_counts_what_it_drops(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "sp", max_bytes=250, policy="drop_oldest")
    for i in range(5):
        sp.append(b"x" * 100, docs=10 + i)
    assert sp.size_bytes <= 250
    assert len(sp) == 2
    # survives a restart: a new Spool over the same directory sees the same segments in order
    sp2 = Spool(tmp_path / "sp", max_bytes=250, policy="drop_oldest")
    first = sp2.oldest()
    assert first is not None and first.docs == 13


def test_retention_deletes_only_expired_daily_indices(
    es_client: Elasticsearch, names: IndexNames
) -> None:
    import datetime as dt

    for day in ("2026.01.01", "2026.11.20", "2026.11.24"):
        es_client.indices.create(index=f"{names.prefix}-events-{day}")
    deleted = delete_expired_event_indices(es_client, names, 30, today=dt.date(2026, 11, 24))
    assert deleted == [f"{names.prefix}-events-2026.01.01"]
    assert es_client.indices.exists(index=f"{names.prefix}-events-2026.11.20")
