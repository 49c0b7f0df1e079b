"""``socmon hunt``: run the streaming engine (and correlations) over files, no Elasticsearch.

Inputs are read through the collectors' parsers (``collectors.reader.read_file``: log files,
``.gz``/``.zip``, EVTX, JSON lines / JSON documents, pcaps) so hunting sees exactly the events
``socmon run`` would store; directories are walked recursively (``collectors.inputs``).
An input that cannot be read is listed in
``HuntResult.unreadable`` (``socmon hunt`` then exits non-zero).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.inputs import InputProblem, expand_inputs
from socmon.collectors.lines import LineHandler
from socmon.collectors.reader import read_files
from socmon.rules.detection import Detection
from socmon.rules.engine import StreamingEngine, detection_for
from socmon.rules.evaluate import attach_correlator
from socmon.rules.loader import gc_paused, load_rules
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
    workers: int = 1


@dataclass
class _FileResult:
    """One file's share, as a worker returns it (the parent merges them)."""

    detections: list[Detection] = field(default_factory=list)
    # matches of correlation base rules: (rule index, event, event id); the parent feeds
    # them, all files merged in time order, to the one correlator
    observed: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    events: int = 0
    unreadable: list[InputProblem] = field(default_factory=list)


class _FileSink:
    """A worker's EventSink: detections of single-event rules, and the matches the
    correlator needs (correlations span files: the parent evaluates them)."""

    def __init__(
        self,
        engine: StreamingEngine,
        bases: frozenset[str],
        out: _FileResult,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ):
        self.engine = engine
        self.bases = bases
        self.out = out
        self.keep = keep

    def emit(self, doc_id: str, event: dict[str, Any], ack: Any = None) -> None:
        self.out.events += 1
        shown: dict[str, Any] | None = None
        for r in self.engine.match_rules(event):
            if r.generate:
                if shown is None:
                    shown = event if self.keep is None else self.keep(event)
                self.out.detections.append(detection_for(r, shown, doc_id))
            if r.rule_id in self.bases:
                self.out.observed.append((r.index, event, doc_id))
        if ack is not None:
            ack()


def _bad(path: str, where: Any, reason: str, result: HuntResult) -> None:
    result.input_errors += 1
    HUNT_INPUT_ERRORS.labels(reason=reason.split(":")[0][:40]).inc()
    log.warning("hunt input record skipped", extra={"path": path, "at": where, "reason": reason})


def default_workers() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def time_order(detections: list[Detection]) -> list[Detection]:
    """Detections by time (``timestamp``; stable: input order among equal times)."""
    return sorted(detections, key=lambda d: d.timestamp or "")


def hunt(
    rule_paths: Iterable[Path | str],
    inputs: Iterable[Path | str],
    fmt: str = "auto",
    on_detection: Callable[[Detection], None] | None = None,
    engine: StreamingEngine | None = None,
    placeholders: dict[str, list[str]] | None = None,
    include: Sequence[str] = (),
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> HuntResult:
    """Run the rules over the inputs (files or directories, ``include``: globs that narrow
    what is read in directories); returns every detection (also passed to ``on_detection``).
    ``engine``: a ready engine (rules already compiled).

    ``workers`` > 1: a process pool, one task per file (forked after the engine is built, so
    the rule set is compiled once); 1: in this process. Either way the detections are merged
    in time order, then passed to ``on_detection``; correlations are evaluated over every
    file's matches in time order (a window may span files).
    ``progress(done, total)``: in bytes of the input files, after each file. ``keep``: what
    of a matched event a detection keeps (default: all of it; ``rules.hunt_output.slim``
    keeps what CSV and timeline rows show: the memory of a hunt with many detections)."""
    if engine is None:
        engine = StreamingEngine.from_rules(load_rules(rule_paths), placeholders=placeholders)
        attach_correlator(engine)
    result = HuntResult()
    chosen = expand_inputs(inputs, include)
    result.skipped = chosen.skipped
    result.unreadable = list(chosen.unreadable)
    result.files = len(chosen.files)
    on = on_detection or (lambda d: None)
    workers = max(1, min(workers, len(chosen.files)))
    result.workers = workers
    if workers == 1:
        merged = [_serial(engine, chosen.files, fmt, progress, keep)]
    else:
        merged = _pooled(engine, chosen.files, fmt, workers, progress, keep)
    result.events = sum(r.events for r in merged)
    for r in merged:
        result.unreadable += r.unreadable
    found = time_order([d for r in merged for d in r.detections])
    if engine.correlator is not None:
        found = time_order(found + _correlate(engine, merged))
    for d in found:
        result.detections.append(d)
        on(d)
    return result


def _serial(
    engine: StreamingEngine,
    files: Sequence[Path],
    fmt: str,
    progress: Callable[[int, int], None] | None,
    keep: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> _FileResult:
    """Every file read and matched in this process, one after the other."""
    bases = (
        frozenset(engine.correlator.referenced_base_rules()) if engine.correlator else frozenset()
    )
    res = _FileResult()
    handler_for = _handler_factory(_FileSink(engine, bases, res, keep))
    sizes = _sizes(files)
    done = 0
    for f in files:
        with gc_paused():  # see _hunt_file
            res.unreadable += read_files([f], fmt, handler_for)
        done += sizes[f]
        if progress is not None:
            progress(done, sum(sizes.values()))
    return res


def _sizes(files: Sequence[Path]) -> dict[Path, int]:
    out = {}
    for f in files:
        try:
            out[f] = f.stat().st_size
        except OSError:
            out[f] = 0
    return out


# the engine of the pool's workers: set before the fork, inherited (never pickled)
_POOL: dict[str, Any] = {}


def _pooled(
    engine: StreamingEngine,
    files: Sequence[Path],
    fmt: str,
    workers: int,
    progress: Callable[[int, int], None] | None,
    keep: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> list[_FileResult]:
    """Each file read and matched by a worker of a forked pool; results in file order."""
    bases = (
        frozenset(engine.correlator.referenced_base_rules()) if engine.correlator else frozenset()
    )
    sizes = _sizes(files)
    total = sum(sizes.values())
    # biggest first: the last tasks are short, so the cores finish together
    order = sorted(range(len(files)), key=lambda i: -sizes[files[i]])
    _POOL.update(engine=engine, bases=bases, fmt=fmt, keep=keep)
    out: list[_FileResult | None] = [None] * len(files)
    done = 0
    try:  # (no cyclic GC while the results arrive: see _hunt_file)
        with gc_paused(), multiprocessing.get_context("fork").Pool(workers) as pool:
            tasks = [(i, str(files[i])) for i in order]
            for i, res in pool.imap_unordered(_hunt_file, tasks):
                out[i] = res
                done += sizes[files[i]]
                if progress is not None:
                    progress(done, total)
    finally:
        _POOL.clear()
    return [r for r in out if r is not None]


def _hunt_file(task: tuple[int, str]) -> tuple[int, _FileResult]:
    i, path = task
    engine: StreamingEngine = _POOL["engine"]
    res = _FileResult()
    sink = _FileSink(engine, _POOL["bases"], res, _POOL["keep"])
    # no cyclic GC while a file is read: events make little cyclic garbage (812 objects
    # after 11,543 events) and each full collection walks the detections kept so far
    # (measured: ~35% of the CPU time of a hunt); collection resumes after the file
    with gc_paused():
        res.unreadable = read_files([Path(path)], _POOL["fmt"], _handler_factory(sink))
    return i, res


def _correlate(engine: StreamingEngine, merged: list[_FileResult]) -> list[Detection]:
    """The correlator fed every base-rule match of every file, in time order."""
    assert engine.correlator is not None
    obs = [o for r in merged for o in r.observed]
    obs.sort(key=lambda o: str(o[1].get("@timestamp") or ""))
    by_index = {r.index: r for r in engine.rules}
    out: list[Detection] = []
    for idx, event, eid in obs:
        out += engine.correlator.observe(by_index[idx], event, eid)
    out += engine.correlator.flush()
    return out


def _handler_factory(sink: _FileSink) -> Callable[[str, str], Any]:
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
