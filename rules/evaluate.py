"""Run rules over events without Elasticsearch: ``evaluate_events`` (tests, ``socmon hunt``).

Loads the rules (correlations included once ``rules.correlation`` provides a correlator),
compiles them into a ``StreamingEngine`` and returns every detection, in event order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from socmon.rules.detection import Detection
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_rules

log = logging.getLogger(__name__)


def attach_correlator(engine: StreamingEngine, state_dir: Path | None = None) -> bool:
    """Plug the correlation engine into ``engine`` when the engine has correlation rules and
    ``rules.correlation`` offers ``make_correlator(engine, state_dir=...)``. Returns True when
    attached."""
    if not engine.correlations:
        return False
    try:
        from socmon.rules import correlation
    except ImportError:
        log.warning(
            "correlation rules loaded but no correlation engine available",
            extra={"count": len(engine.correlations)},
        )
        return False
    make = getattr(correlation, "make_correlator", None)
    if make is None:
        log.warning("rules.correlation has no make_correlator(); correlations not evaluated")
        return False
    engine.set_correlator(make(engine, state_dir=state_dir))
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
    flush = getattr(engine.correlator, "flush", None)
    if callable(flush):
        out.extend(flush())
    return out


def evaluate_events(rule_paths: list[Path], events: Iterable[dict[str, Any]]) -> list[Detection]:
    """Load ``rule_paths`` (files or directories), run every event, return the detections.
    Rule problems are logged (``socmon rules check`` lists them)."""
    return run_events(build_engine(rule_paths), events)
