"""Streaming detection inside `socmon run`: events in through ctx.events, detections out to
the alerts index (no alerting yet) or to ctx.detection_handler; rule store changes reload the
engine without a restart. Real Elasticsearch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames
from socmon.rules.services import build
from socmon.rules.store import save_rule
from socmon.runner import build_context
from socmon.settings import Settings

pytestmark = pytest.mark.es

RULE = """title: socmon test rule {n}
id: 5e1f0000-0000-4000-8000-00000000000{n}
status: test
level: high
logsource: {{product: linux, service: auth}}
detection:
    sel:
        message|contains: 'needle{n}'
    condition: sel
"""


def _ctx(settings: Settings, tmp_path: Path, **det: Any) -> Any:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "r1.yml").write_text(RULE.format(n=1))
    s = settings.model_copy(
        update={
            "detection": settings.detection.model_copy(
                update={
                    "rule_paths": [rules_dir],
                    "scheduled_enabled": False,
                    "store_poll_interval": 0.2,
                    "correlation_state": "off",
                    **det,
                }
            )
        }
    )
    return build_context(s)


def _event(n: int, text: str) -> dict[str, Any]:
    return {
        "@timestamp": "2026-11-24T10:00:00.000Z",
        "event": {"dataset": "linux.auth", "kind": "event"},
        "message": text,
        "organization": {"id": "t", "name": "t"},
    }


def _alerts(client: Elasticsearch, names: IndexNames) -> list[dict[str, Any]]:
    client.indices.refresh(index=names.alerts)
    r = client.search(index=names.alerts, size=100)
    return [h["_source"] for h in r["hits"]["hits"]]


def test_engine_service_writes_detections_and_reloads_store(
    settings: Settings, names: IndexNames, es_client: Elasticsearch, tmp_path: Path
) -> None:
    ctx = _ctx(settings, tmp_path)
    services = build(ctx)
    [svc] = services
    assert not svc.ready()  # the API's readiness: not before its threads run
    svc.start()
    try:
        assert svc.ready()
        ctx.events.emit("e1", _event(1, "sshd: needle1 here"))
        ctx.events.emit("e2", _event(1, "nothing"))
        assert svc.drain()
        ctx.writer.flush(10)
        docs = [d for d in _alerts(es_client, names) if d.get("kind") == "detection"]
        assert [d["rule"]["id"] for d in docs] == ["5e1f0000-0000-4000-8000-000000000001"]
        assert docs[0]["event_refs"][0]["id"] == "e1" and docs[0]["severity"] == "high"
        # replay: same detection id, stored once
        ctx.events.emit("e1", _event(1, "sshd: needle1 here"))
        assert svc.drain()
        ctx.writer.flush(10)
        assert len(_alerts(es_client, names)) == 1

        # a rule added to the store is picked up without a restart
        save_rule(es_client, names, "r2", RULE.format(n=2), "tester", enabled=True)
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and svc.engine.rule("5e1f0000-0000-4000-8000-000000000002") is None
        ):
            time.sleep(0.1)
        assert svc.engine.rule("5e1f0000-0000-4000-8000-000000000002") is not None
        ctx.events.emit("e3", _event(2, "needle2"))
        assert svc.drain()
        ctx.writer.flush(10)
        assert len(_alerts(es_client, names)) == 2
    finally:
        for s in services:
            s.stop()
        ctx.writer.close()


def test_engine_service_hands_detections_to_alerting(
    settings: Settings, names: IndexNames, tmp_path: Path
) -> None:
    ctx = _ctx(settings, tmp_path, store_rules=False)
    got: list[Any] = []
    ctx.detection_handler = got.append
    services = build(ctx)
    services[0].start()
    try:
        ctx.events.emit("e1", _event(1, "needle1"))
        assert services[0].drain()
        assert [d.rule_id for d in got] == ["5e1f0000-0000-4000-8000-000000000001"]
    finally:
        for s in services:
            s.stop()
        ctx.writer.close()
