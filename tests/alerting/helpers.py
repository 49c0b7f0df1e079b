"""Detections built by hand for the alerting tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from socmon.rules.detection import Detection, MatchedEvent

T0 = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.UTC)


def ts(seconds: float) -> str:
    t = T0 + dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event(
    n: int,
    at: float | None = None,
    src: str = "203.0.113.7",
    host: str = "web-01",
    user: str = "root",
    unit: str = "so-tttt",
    **extra: Any,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "@timestamp": ts(at if at is not None else n),
        "event": {"dataset": "linux.auth", "kind": "event", "original": f"line {n}"},
        "source": {"ip": src},
        "host": {"name": host},
        "user": {"name": user},
        "organization": {"id": unit, "name": unit.upper()},
    }
    ev.update(extra)
    return ev


def detection(
    events: list[dict[str, Any]],
    rule_id: str = "rule-ssh-brute",
    level: str = "high",
    ids: list[str] | None = None,
    **kw: Any,
) -> Detection:
    ids = ids or [f"ev-{e['event']['original']}-{e['source']['ip']}" for e in events]
    matched = [
        MatchedEvent(i, "socmon-events-2026.11.24", e) for i, e in zip(ids, events, strict=True)
    ]
    return Detection(
        rule_id=rule_id,
        rule_title=kw.pop("rule_title", "SSH brute force"),
        level=level,
        status="stable",
        tags=kw.pop("tags", ["attack.credential_access", "attack.t1110.001"]),
        events=matched,
        timestamp=events[-1]["@timestamp"],
        first_timestamp=events[0]["@timestamp"],
        **kw,
    )
