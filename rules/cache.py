"""The compiled rule set on disk, so a start with unchanged rules skips parsing, the pySigma
pipeline and compiling.

Key: SHA-256 of socmon's version, pySigma's version, the bytes of the modules that decide
what compiling gives (``CODE``), the pipeline as a pySigma YAML file (placeholders included)
and every rule text loaded (source and SHA-256 of its text, in load order:
``LoadedRules.sources``). A changed rule, setting or socmon is another key, so a stale entry
is never read; entries are files ``<key>.rules`` in ``detection.rule_cache_dir``, the
``KEEP`` most recently used kept.

An entry holds each ``CompiledRule``'s routing and prefilter data (anchors, fields, routes:
what an engine needs before any event) and two pickles per rule: the Sigma rule, and its
conditions after the pipeline (parsed, detached from the rule). Reading an entry unpickles
the first part only; a rule's matcher is compiled from its conditions when an event first
needs it (``rules.engine.lazy_rule``), the Sigma rule is unpickled for its first detection.

A file that is not an entry of this key (truncated, altered, another format, a pickle that
does not load) is logged, removed and rebuilt: never a crash, never other rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from socmon.rules.engine import CompiledRule, StreamingEngine, lazy_rule
from socmon.rules.loader import (
    LoadedRules,
    Problem,
    gc_paused,
    load_rules,
    path_sources,
    report_problem,
)
from socmon.rules.metrics import SERVICE, EngineMetrics

log = logging.getLogger(__name__)

MAGIC = b"socmon-rule-cache 1\n"
KEEP = 8  # entries kept in the directory (several rule sets: hunt, run, tests)
_HERE = Path(__file__).resolve().parent
CODE = ("cache.py", "compiler.py", "engine.py", "eventview.py", "loader.py", "pipelines.py")


@cache
def _code_digest() -> str:
    h = hashlib.sha256()
    for name in CODE:
        h.update(name.encode() + b"\0" + (_HERE / name).read_bytes() + b"\0")
    for dist in ("socmon", "pySigma"):
        try:
            h.update(f"{dist}={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=?\0".encode())
    return h.hexdigest()


def cache_key(sources: Iterable[tuple[str, str]], placeholders: dict[str, list[str]] | None) -> str:
    """The key of a rule set: its texts, the pipeline (with ``placeholders``), the code."""
    from socmon.rules.pipeline_export import pipeline_yaml

    h = hashlib.sha256(_code_digest().encode())
    h.update(pipeline_yaml(placeholders or None).encode())
    for source, digest in sources:
        h.update(f"\0{source}\0{digest}".encode())
    return h.hexdigest()


@dataclass
class CacheStats:
    """What the last lookup did: ``hit``, ``miss`` or ``rebuilt`` (an unusable entry)."""

    outcome: str = ""
    key: str = ""
    seconds: float = 0.0


@dataclass
class RuleCache:
    directory: Path
    keep: int = KEEP

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.rules"

    def read(self, key: str, stats: CacheStats | None = None) -> dict[str, Any] | None:
        """The entry of ``key``, or None (missing; unusable: logged and removed)."""
        stats = stats or CacheStats()
        stats.key = key
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            stats.outcome = "miss"
            return None
        except OSError as e:
            return self._unusable(path, f"cannot read: {e}", stats)
        head = len(MAGIC) + 65
        if not data.startswith(MAGIC) or data[head - 1 : head] != b"\n":
            return self._unusable(path, "not a socmon rule cache file", stats)
        payload = memoryview(data)[head:]
        if hashlib.sha256(payload).hexdigest().encode() != data[len(MAGIC) : head - 1]:
            return self._unusable(path, "checksum mismatch (truncated or altered)", stats)
        try:
            with gc_paused():
                entry = pickle.loads(payload)
        except Exception as e:  # an unpicklable entry: whatever pickle raises
            return self._unusable(path, f"cannot unpickle: {type(e).__name__}: {e}", stats)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return self._unusable(path, "entry of another rule set", stats)
        stats.outcome = "hit"
        with contextlib.suppress(OSError):  # in use: the newest for pruning
            os.utime(path)
        return entry

    def _unusable(self, path: Path, reason: str, stats: CacheStats) -> dict[str, Any] | None:
        log.warning(
            "rule cache entry unusable; rebuilding", extra={"path": str(path), "reason": reason}
        )
        stats.outcome = "rebuilt"
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def write(self, key: str, entry: dict[str, Any]) -> None:
        """Store an entry atomically (a reader sees the old file or the whole new one); a
        failure is logged: the rules are in use already, the next start compiles again."""
        entry = {**entry, "key": key}
        try:
            payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
            self.directory.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(payload).hexdigest().encode()
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + digest + b"\n")
                f.write(payload)
            os.replace(tmp, self.path(key))
            self._prune()
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
            log.warning(
                "rule cache not written", extra={"dir": str(self.directory), "error": str(e)}
            )

    def _prune(self) -> None:
        entries = sorted(self.directory.glob("*.rules"), key=lambda p: p.stat().st_mtime)
        for old in entries[: max(0, len(entries) - self.keep)]:
            old.unlink(missing_ok=True)


def cache_for(settings: Any) -> RuleCache | None:
    """The cache of ``detection`` settings (None when ``rule_cache`` is off)."""
    if not settings.rule_cache or settings.rule_cache_dir is None:
        return None
    return RuleCache(Path(settings.rule_cache_dir))


def _entry(
    engine: StreamingEngine, load_problems: list[Problem], files: int
) -> dict[str, Any] | None:
    """The cache entry of a freshly compiled engine (None: a rule has no pickles)."""
    if any(r.blobs is None for r in engine.rules):
        log.info("rule set not cached: a rule could not be pickled")
        return None
    n = len(load_problems)
    return {
        "rules": engine.rules,
        "load_problems": engine.problems[:n],
        "compile_problems": engine.problems[n:],
        "correlations": engine.correlations,
        "files": files,
    }


def _from_entry(
    entry: dict[str, Any], metrics: EngineMetrics, report_load: bool
) -> StreamingEngine:
    rules: list[CompiledRule] = [lazy_rule(r) for r in entry["rules"]]
    for p in entry["load_problems"] if report_load else ():
        report_problem(p)
    for p in entry["compile_problems"]:
        report_problem(p, stage="compile", counter=metrics.problems)
    engine = StreamingEngine(rules, [*entry["load_problems"], *entry["compile_problems"]], metrics)
    engine.correlations = list(entry["correlations"])
    engine.files = entry["files"]
    return engine


def compiled(
    loaded: LoadedRules,
    cache: RuleCache | None,
    placeholders: dict[str, list[str]] | None = None,
    metrics: EngineMetrics = SERVICE,
    stats: CacheStats | None = None,
    _read_already: str = "",
    _private: bool = False,
) -> StreamingEngine:
    """``StreamingEngine.from_rules(loaded)`` through the cache (the service and its reloads:
    the rules are loaded anyway, for scheduled mode; compiling is what is saved)."""
    t0 = time.perf_counter()
    stats = stats or CacheStats()
    if cache is None:
        return StreamingEngine.from_rules(loaded, placeholders=placeholders, metrics=metrics)
    key = cache_key(loaded.sources, placeholders)
    entry = None if key == _read_already else cache.read(key, stats)
    if entry is not None:
        engine = _from_entry(entry, metrics, report_load=False)
    else:
        engine = StreamingEngine.from_rules(
            loaded, placeholders, metrics=metrics, keep=True, in_place=_private
        )
        new = _entry(engine, loaded.problems, loaded.files)
        if new is not None:
            cache.write(key, new)
    engine.files = loaded.files
    stats.seconds = time.perf_counter() - t0
    return engine


def engine_for_paths(
    paths: Iterable[Path | str],
    cache: RuleCache | None,
    placeholders: dict[str, list[str]] | None = None,
    metrics: EngineMetrics = SERVICE,
    stats: CacheStats | None = None,
) -> StreamingEngine:
    """The engine of the rule files under ``paths`` (``socmon hunt``): on a hit nothing is
    parsed (the files are read and hashed only)."""
    paths = list(paths)
    stats = stats or CacheStats()
    t0 = time.perf_counter()
    key = ""
    if cache is not None:
        key = cache_key(path_sources(paths), placeholders)
        entry = cache.read(key, stats)
        if entry is not None:
            engine = _from_entry(entry, metrics, report_load=True)
            stats.seconds = time.perf_counter() - t0
            return engine
    # stored under the key of what was loaded (a file may change between the two reads)
    # the rules loaded here are nobody else's: the pipeline may change them (no copy)
    private = cache is not None
    engine = compiled(load_rules(paths), cache, placeholders, metrics, stats, key, private)
    stats.seconds = time.perf_counter() - t0
    return engine
