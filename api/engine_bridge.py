"""The detection engine (rules layer) as the API uses it: compiling one rule to find the
problems only the streaming matcher sees, and running a rule over posted sample events.

These engines are built for one request: they count in ``rules.metrics.UNEXPOSED``, so the
service's figures (rules loaded, events, detections, rule problems) stay the service's."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_text
from socmon.rules.metrics import UNEXPOSED


def _engine(rule_yaml: str) -> StreamingEngine:
    loaded = load_text(rule_yaml, "<api>", problems=UNEXPOSED.problems)
    return StreamingEngine.from_rules(loaded, metrics=UNEXPOSED)


def compile_problems(rule_yaml: str) -> list[str]:
    """Fatal problems of loading and compiling the rule for streaming detection."""
    return [p.reason for p in _engine(rule_yaml).problems if p.fatal]


def evaluate(rule_yaml: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one rule over ``events`` (each matched once): {matched, total, matches (indexes),
    detections}."""
    engine = _engine(rule_yaml)
    matches: list[int] = []
    detections: list[dict[str, Any]] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        found = engine.match(ev, event_id=f"sample-{i}")
        if found:
            matches.append(i)
        detections += [asdict(d) for d in found]
    return {
        "matched": len(matches),
        "total": len(events),
        "matches": matches,
        "detections": detections,
    }
