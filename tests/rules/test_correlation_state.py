"""Correlation windows survive a restart: state in the `<prefix>-state` index or a file."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import Elasticsearch

from socmon.indices import IndexNames
from socmon.rules.correlation_state import EsStateStore, FileStateStore, StateStore
from tests.rules.correlation_helpers import SSH_BRUTE, SSH_FAILED, engine, feed, match


def _restart_keeps_the_window(store: StateStore) -> None:
    first = engine(SSH_BRUTE)
    evs = [
        match(SSH_FAILED, i, {"source": {"ip": "203.0.113.9"}, "user": {"name": "root"}})
        for i in range(5)
    ]
    assert feed(first, evs[:3]) == []
    store.save(first.snapshot())
    # "restart": a new engine, state reloaded
    second = engine(SSH_BRUTE)
    assert second.restore(store.load()) == 1
    # replayed events (same ids) are not counted twice
    assert feed(second, evs[:3]) == []
    out = feed(second, evs[3:])
    assert len(out) == 1 and len(out[0].events) == 5
    # without the state, the same two events are not enough
    third = engine(SSH_BRUTE)
    assert feed(third, evs[3:]) == []


def test_state_in_elasticsearch(es_client: Elasticsearch, names: IndexNames) -> None:
    store = EsStateStore(es_client, names, "test")
    assert store.load() == {}
    _restart_keeps_the_window(store)


def test_state_in_a_file(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path, "test")
    assert store.load() == {}
    _restart_keeps_the_window(store)
    (tmp_path / "correlation" / "test.json").write_text("{broken")
    assert store.load() == {}


def test_changed_rule_discards_state(tmp_path: Path) -> None:
    e = engine(SSH_BRUTE)
    feed(e, [match(SSH_FAILED, 0, {"source": {"ip": "203.0.113.9"}})])
    snap = e.snapshot()
    snap[SSH_BRUTE]["fingerprint"] = "other"
    assert engine(SSH_BRUTE).restore(snap) == 0
