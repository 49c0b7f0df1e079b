"""The detection engine (rules layer) as the API uses it: compiling one rule to find the
problems only the streaming matcher sees, and running a rule over posted sample events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_text


def compile_problems(rule_yaml: str) -> list[str]:
    """Fatal problems of loading and compiling the rule for streaming detection."""
    engine = StreamingEngine.from_rules(load_text(rule_yaml, "<api>"))
    return [p.reason for p in engine.problems if p.fatal]


def evaluate(rule_yaml: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one rule over ``events``: {matched, total, matches (indexes), detections}."""
    engine = StreamingEngine.from_rules(load_text(rule_yaml, "<api>"))
    matches: list[int] = []
    detections: list[dict[str, Any]] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        if engine.match_rules(ev):
            matches.append(i)
        for d in engine.match(ev, event_id=f"sample-{i}"):
            detections.append(asdict(d))
    return {
        "matched": len(matches),
        "total": len(events),
        "matches": matches,
        "detections": detections,
    }
