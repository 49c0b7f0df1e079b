"""``socmon hunt``: run the streaming engine (and correlations) over files, no Elasticsearch.

Inputs are read through the collectors' parsers (``collectors.reader.read_file``: log files,
``.gz``/``.zip``, EVTX, JSON lines / JSON documents, pcaps) so hunting sees exactly the events
``socmon run`` would store; directories are walked recursively (``collectors.inputs``).
An input that cannot be read is listed in
``HuntResult.unreadable`` (``socmon hunt`` then exits non-zero).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.inputs import InputProblem, expand_inputs
from socmon.collectors.lines import LineHandler
from socmon.collectors.reader import read_files
from socmon.rules.detection import Detection
from socmon.rules.engine import StreamingEngine
from socmon.rules.evaluate import attach_correlator
from socmon.rules.loader import load_rules
from socmon.rules.metrics import HUNT_INPUT_ERRORS
from socmon.settings import load_settings

log = logging.getLogger(__name__)


@dataclass
class HuntResult:
    detections: list[Detection] = field(default_factory=list)
    events: int = 0
    input_errors: int = 0
    files: int = 0
    skipped: list[InputProblem] = field(default_factory=list)
    unreadable: list[InputProblem] = field(default_factory=list)


class _MatchSink:
    """An EventSink: every event the parsers emit goes through the engine."""

    def __init__(
        self, engine: StreamingEngine, result: HuntResult, on: Callable[[Detection], None]
    ):
        self.engine = engine
        self.result = result
        self.on = on

    def emit(self, doc_id: str, event: dict[str, Any], ack: Any = None) -> None:
        self.result.events += 1
        for d in self.engine.match(event, doc_id):
            self.result.detections.append(d)
            self.on(d)
        if ack is not None:
            ack()


def _bad(path: str, where: Any, reason: str, result: HuntResult) -> None:
    result.input_errors += 1
    HUNT_INPUT_ERRORS.labels(reason=reason.split(":")[0][:40]).inc()
    log.warning("hunt input record skipped", extra={"path": path, "at": where, "reason": reason})


def hunt(
    rule_paths: Iterable[Path | str],
    inputs: Iterable[Path | str],
    fmt: str = "auto",
    on_detection: Callable[[Detection], None] | None = None,
    engine: StreamingEngine | None = None,
    placeholders: dict[str, list[str]] | None = None,
    include: Sequence[str] = (),
) -> HuntResult:
    """Run the rules over the inputs (files or directories, ``include``: globs that narrow
    what is read in directories); returns every detection (also passed to ``on_detection``
    as they happen). ``engine``: a ready engine (rules already compiled)."""
    if engine is None:
        engine = StreamingEngine.from_rules(load_rules(rule_paths), placeholders=placeholders)
        attach_correlator(engine)
    result = HuntResult()
    sink = _MatchSink(engine, result, on_detection or (lambda d: None))
    handler_for = _handler_factory(sink)
    chosen = expand_inputs(inputs, include)
    result.skipped = chosen.skipped
    result.unreadable = list(chosen.unreadable)
    result.files = len(chosen.files)
    result.unreadable += read_files(chosen.files, fmt, handler_for)
    if engine.correlator is not None:
        for d in engine.correlator.flush():
            result.detections.append(d)
            sink.on(d)
    return result


def _handler_factory(sink: _MatchSink) -> Callable[[str, str], Any]:
    settings = load_settings().collectors
    enricher = Enricher(settings)

    def handler_for(f: str, label: str) -> Any:
        return LineHandler(
            f,
            settings,
            enricher,
            sink,
            source_kind="hunt",
            source=label,
            zeek_path=Path(label).name.split(".")[0] if f == "zeek" else None,
        )

    return handler_for


def detection_json(d: Detection, with_events: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "rule_id": d.rule_id,
        "title": d.rule_title,
        "level": d.level,
        "status": d.status,
        "mode": d.mode,
        "timestamp": d.timestamp,
        "first_timestamp": d.first_timestamp,
        "tags": d.tags,
        "attack_techniques": d.attack_techniques,
    }
    if d.group_by:
        out["group_by"] = d.group_by
    if with_events:
        out["events"] = [{"id": m.id, "event": m.event} for m in d.events]
    else:
        out["event_ids"] = [m.id for m in d.events]
    return out
