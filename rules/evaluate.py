"""Run rules over events without Elasticsearch: ``evaluate_events`` (tests, ``socmon hunt``).

Loads the rules (correlations included),
compiles them into a ``StreamingEngine`` and returns every detection, in event order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from socmon.rules.correlation import make_correlator
from socmon.rules.detection import Detection
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_rules


def attach_correlator(engine: StreamingEngine, state_dir: Path | None = None) -> bool:
    """Plug the correlation engine into ``engine`` when the engine has correlation rules.
    Returns True when attached."""
    if not engine.correlations:
        return False
    engine.set_correlator(make_correlator(engine, state_dir=state_dir))
    return True


def build_engine(
    rule_paths: Iterable[Path | str],
    placeholders: dict[str, list[str]] | None = None,
    with_correlations: bool = True,
) -> StreamingEngine:
    loaded = load_rules(rule_paths)
    engine = StreamingEngine.from_rules(loaded, placeholders=placeholders)
    if with_correlations:
        attach_correlator(engine)
    return engine


def run_events(engine: StreamingEngine, events: Iterable[dict[str, Any]]) -> list[Detection]:
    out: list[Detection] = []
    for ev in events:
        out.extend(engine.match(ev))
    if engine.correlator is not None:
        out.extend(engine.correlator.flush())
    return out


def evaluate_events(rule_paths: list[Path], events: Iterable[dict[str, Any]]) -> list[Detection]:
    """Load ``rule_paths`` (files or directories), run every event, return the detections.
    Rule problems are logged (``socmon rules check`` lists them)."""
    return run_events(build_engine(rule_paths), events)
