"""Scheduled mode follows the rule store without a restart, through the watcher it shares
with the streaming engine (``rules.reload``): a rule created or enabled in the store is
queried within the poll interval, a changed one keeps its coverage and is applied at once,
a disabled or deleted one stops (its coverage suspended: back, it starts as a new rule).
Real Elasticsearch."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames, events_index_for
from socmon.rules.detection import Detection
from socmon.rules.reload import RuleWatcher
from socmon.rules.scheduled import CoverageStore, ScheduledService
from socmon.rules.services import StreamingDetectionService, build
from socmon.rules.store import delete_rule, save_rule, set_enabled
from socmon.runner import build_context
from socmon.settings import Settings
from tests.rules.test_engine_service import RULE

pytestmark = pytest.mark.es

R1 = "5e1f0000-0000-4000-8000-000000000001"
R2 = "5e1f0000-0000-4000-8000-000000000002"
POLL = 0.3


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def event(t: float, text: str) -> dict[str, Any]:
    return {
        "@timestamp": iso(t),
        "event": {"dataset": "linux.auth"},
        "message": f"sshd[1]: {text} here",
    }


def put(es: Elasticsearch, names: IndexNames, doc_id: str, doc: dict[str, Any]) -> None:
    index = events_index_for(names, doc["@timestamp"])
    es.index(index=index, id=doc_id, document=doc, refresh=True)


def ctx_for(settings: Settings, tmp_path: Path) -> Any:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "r1.yml").write_text(RULE.format(n=1))
    det = settings.detection.model_copy(
        update={
            "rule_paths": [rules_dir],
            "store_poll_interval": POLL,
            "correlation_state": "off",
            "scheduled_interval": 3600.0,  # no regular pass during the test: reloads run rules
            "scheduled_delay": 0.0,
            "scheduled_lookback": 600.0,
        }
    )
    return build_context(settings.model_copy(update={"detection": det}))


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.05)
    return time.monotonic() - t0


def scheduled(got: list[Detection], rule: str) -> set[str]:
    return {d.events[0].id for d in list(got) if d.mode == "scheduled" and d.rule_id == rule}


def test_scheduled_mode_follows_the_rule_store(
    settings: Settings, names: IndexNames, es_client: Elasticsearch, tmp_path: Path
) -> None:
    now = time.time()
    put(es_client, names, "e1", event(now - 30, "needle1"))
    put(es_client, names, "e2", event(now - 20, "needle2"))
    put(es_client, names, "e3", event(now - 10, "needle3"))
    ctx = ctx_for(settings, tmp_path)
    got: list[Detection] = []
    ctx.detection_handler = got.append
    services = build(ctx)
    stream, sched = services
    assert isinstance(stream, StreamingDetectionService) and isinstance(sched, ScheduledService)
    assert stream.watcher is sched.watcher  # one watcher, one load per change, both modes
    cov = CoverageStore(es_client, names)
    for s in services:
        s.start()
    try:
        wait_for(lambda: scheduled(got, R1) == {"e1"})  # the pass at start (file rule)

        # created (enabled) in the store: queried within the poll interval, not the next
        # scheduled_interval (an hour)
        save_rule(es_client, names, "r2", RULE.format(n=2), "tester", enabled=True)
        took = wait_for(lambda: scheduled(got, R2) == {"e2"})
        assert took < 10 * POLL + 5.0
        # the streaming engine gets the same rules at its own poll (the two modes poll the one
        # watcher independently, so it may come a moment after the scheduled pass)
        assert wait_for(lambda: stream.engine.rule(R2) is not None) < 10 * POLL + 5.0
        first = cov.get(R2)
        assert first is not None

        # changed (same id, another value): coverage continues, the new version is applied
        # at once over the lookback
        save_rule(es_client, names, "r2", RULE.format(n=2).replace("needle2", "needle3"), "t")
        wait_for(lambda: "e3" in scheduled(got, R2))
        second = cov.get(R2)
        assert second is not None and second >= first
    finally:
        for s in services:
            s.stop()
        ctx.writer.close()

    # disabled: the runner stops querying it and suspends its coverage
    set_enabled(es_client, names, "r2", False, "tester")
    changes = sched.maybe_reload()
    assert changes is not None and changes.removed == {R2} and not changes.added
    assert R2 not in sched.runner.active() and R1 in sched.runner.active()
    assert cov.get(R2) is None
    doc = es_client.get(index=names.state, id=f"scheduled:{R2}")["_source"]
    assert doc["suspended"] and doc["covered_until"]
    put(es_client, names, "e4", event(time.time() - 1, "needle3"))
    got.clear()
    sched.runner.run_once()
    assert scheduled(got, R2) == set()

    # enabled again: a new rule (one lookback of history), no gap for the disabled time
    set_enabled(es_client, names, "r2", True, "tester")
    changes = sched.maybe_reload()
    assert changes is not None and changes.added == {R2}
    sched.runner.run_once(changes.added)
    assert scheduled(got, R2) == {"e3", "e4"}
    assert cov.get(R2) is not None

    # deleted: stops again
    delete_rule(es_client, names, "r2", "tester")
    changes = sched.maybe_reload()
    assert changes is not None and changes.removed == {R2}
    assert R2 not in sched.runner.active()
    assert sched.maybe_reload() is None  # nothing new


def test_unreadable_store_keeps_the_rules_in_use(
    settings: Settings, names: IndexNames, es_client: Elasticsearch, tmp_path: Path
) -> None:
    ctx = ctx_for(settings, tmp_path)
    from socmon.rules.loader import load_for_run

    failing = {"on": False}

    def load(c: Any, strict: bool) -> Any:
        if failing["on"] and strict:
            raise ConnectionError("store unreachable")
        return load_for_run(c, strict)

    w = RuleWatcher(ctx, load)
    w.initial()
    assert w.poll(0) is not None and w.poll(1) is None
    save_rule(es_client, names, "r2", RULE.format(n=2), "tester", enabled=True)
    failing["on"] = True
    assert w.poll(1) is None and w.generation == 1  # kept, retried at the next poll
    failing["on"] = False
    got = w.poll(1)
    assert got is not None and got[0] == 2
    assert any(str(r.id) == R2 for r in got[1].rules)
    ctx.writer.close()
