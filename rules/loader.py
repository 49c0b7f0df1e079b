"""Load Sigma rules (files, directories, YAML text, the rule store) with pySigma.

Every rule that cannot be used is reported as a ``Problem`` (source, rule id, reason);
nothing is skipped silently. Loading does not apply the field-mapping pipeline and does not
compile: the streaming engine (``rules.engine``) and scheduled mode do that and report their
own problems in the same form.

YAML is read with libyaml (``CSafeLoader``), required: pySigma's own ``from_yaml`` uses the
pure-Python loader, which is most of the time spent loading the SigmaHQ corpus.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import Counter
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from socmon.rules.metrics import SERVICE

log = logging.getLogger(__name__)

YAML_LOADER: Any = yaml.CSafeLoader  # required: see socmon/rules/__init__.py

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True, slots=True)
class Problem:
    """A rule (or file) that cannot be used, or a warning about one that can."""

    source: str  # file path, "store:<rule id>" or "<text>"
    rule_id: str | None
    reason: str
    kind: str = "invalid"  # short category for summaries, e.g. "yaml", "sigma", "regex"
    fatal: bool = True  # False: a warning, the rule is still used

    def __str__(self) -> str:
        rid = self.rule_id or "-"
        sev = "error" if self.fatal else "warning"
        return f"{self.source}: {rid}: {sev} [{self.kind}] {self.reason}"


@dataclass
class LoadedRules:
    rules: list[SigmaRule] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    filters: list[SigmaFilter] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    # (source, sha256 of its text) of every text read, in order: the rule cache's key
    sources: list[tuple[str, str]] = field(default_factory=list)

    def extend(self, other: LoadedRules) -> None:
        self.rules += other.rules
        self.correlations += other.correlations
        self.filters += other.filters
        self.problems += other.problems
        self.files += other.files
        self.sources += other.sources


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a rule set is built: the objects made are kept,
    and each full collection walks everything made so far (measured: about half of the
    compile time of the SigmaHQ corpus). Collection resumes, and runs, at the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def rule_id(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> str:
    """The id socmon uses for a rule: its Sigma ``id``, else its ``name``, else its title."""
    if rule.id is not None:
        return str(rule.id)
    if getattr(rule, "name", None):
        return str(rule.name)
    return str(rule.title or "untitled")


def rule_source(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> str:
    src = rule.source
    if src is None:
        return "<text>"
    return str(src.path)


def report_problem(
    problem: Problem, stage: str = "load", counter: Counter = SERVICE.problems
) -> Problem:
    """Count a fatal problem in ``counter`` (by stage and kind) and log every problem."""
    if problem.fatal:
        counter.labels(stage=stage, kind=problem.kind).inc()
    log.warning(
        "sigma rule problem",
        extra={
            "source": problem.source,
            "rule_id": problem.rule_id,
            "reason": problem.reason,
            "kind": problem.kind,
            "fatal": problem.fatal,
        },
    )
    return problem


def _error_kind(err: BaseException) -> str:
    name = type(err).__name__
    return name.removeprefix("Sigma").removesuffix("Error").lower() or "sigma"


def _raw_id(doc: Any) -> str | None:
    if isinstance(doc, dict):
        v = doc.get("id") or doc.get("name") or doc.get("title")
        return str(v) if v is not None else None
    return None


def load_text(
    text: str, source: str = "<text>", problems: Counter = SERVICE.problems
) -> LoadedRules:
    """Parse one YAML text (one or more documents) into rules; never raises. Fatal problems
    are counted in ``problems`` (``rules.metrics.UNEXPOSED.problems``: not the service's)."""
    out = LoadedRules(files=1, sources=[(source, text_digest(text))])

    def report(problem: Problem) -> Problem:
        return report_problem(problem, counter=problems)

    try:
        docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError as e:
        out.problems.append(report(Problem(source, None, f"invalid YAML: {e}", "yaml")))
        return out
    if not docs:
        out.problems.append(report(Problem(source, None, "no YAML document", "yaml")))
        return out
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            reason = f"document {i + 1} is a {type(d).__name__}, not a mapping"
            out.problems.append(report(Problem(source, None, reason, "yaml")))
    docs = [d for d in docs if isinstance(d, dict)]
    location = SigmaRuleLocation(Path(source)) if not source.startswith("<") else None
    try:
        coll = SigmaCollection.from_dicts(
            docs,
            collect_errors=True,
            source=location,
            collect_filters=True,
            resolve_references=False,
        )
    except Exception as e:  # pySigma raises a few non-Sigma errors on odd input
        rid = _raw_id(docs[0]) if docs else None
        reason = f"{type(e).__name__}: {e}"
        out.problems.append(report(Problem(source, rid, reason, _error_kind(e))))
        return out
    bad_ids: set[int] = set()
    for r in [*coll.rules, *coll.filters]:
        if r.errors:
            bad_ids.add(id(r))
            for err in r.errors:
                out.problems.append(report(Problem(source, rule_id(r), str(err), _error_kind(err))))
    # Collection-level errors not attached to a rule (e.g. unknown action)
    attached = {id(err) for r in [*coll.rules, *coll.filters] for err in r.errors}
    for err in coll.errors:
        if id(err) not in attached:
            out.problems.append(report(Problem(source, None, str(err), _error_kind(err))))
    for r in coll.rules:
        if id(r) in bad_ids:
            continue
        if isinstance(r, SigmaCorrelationRule):
            out.correlations.append(r)
        else:
            out.rules.append(r)
    out.filters += [f for f in coll.filters if id(f) not in bad_ids]
    return out


def iter_rule_files(paths: Iterable[Path | str]) -> Iterable[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(
                q for q in path.rglob("*") if q.suffix in RULE_SUFFIXES and q.is_file()
            )
        else:
            yield path


def read_rule_files(
    paths: Iterable[Path | str],
) -> Iterable[tuple[Path, str | OSError | ValueError]]:
    """Every rule file under ``paths`` with its text (or why it cannot be read)."""
    for path in iter_rule_files(paths):
        try:
            yield path, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            yield path, e


def path_sources(paths: Iterable[Path | str]) -> list[tuple[str, str]]:
    """``LoadedRules.sources`` of ``load_paths(paths)``, without parsing anything."""
    return [
        (str(p), text_digest(t) if isinstance(t, str) else f"unreadable: {t}")
        for p, t in read_rule_files(paths)
    ]


def load_paths(paths: Iterable[Path | str]) -> LoadedRules:
    """Load every ``*.yml``/``*.yaml`` under the given files and directories."""
    out = LoadedRules()
    for path, text in read_rule_files(paths):
        if not isinstance(text, str):
            out.files += 1
            out.sources.append((str(path), f"unreadable: {text}"))
            reason = f"cannot read: {text}"
            out.problems.append(report_problem(Problem(str(path), None, reason, "io")))
            continue
        out.extend(load_text(text, str(path)))
    return out


def load_store(client: Any, names: Any) -> LoadedRules:
    """Load the enabled rules of the rule store in Elasticsearch (``rules.store``)."""
    from socmon.rules.store import enabled_rules

    out = LoadedRules()
    for stored in enabled_rules(client, names):
        out.extend(load_text(stored.yaml, f"store:{stored.rule_id}"))
    return out


def finish(loaded: LoadedRules) -> LoadedRules:
    """Cross-rule steps once everything is loaded: drop duplicate ids, apply Sigma v2 filter
    rules, resolve correlation references. Problems are added to ``loaded.problems``."""
    seen: dict[str, str] = {}
    unique: list[SigmaRule] = []
    for r in loaded.rules:
        rid = rule_id(r)
        if rid in seen:
            reason = f"duplicate rule id (first loaded from {seen[rid]}); this copy is ignored"
            loaded.problems.append(
                report_problem(Problem(rule_source(r), rid, reason, "duplicate"))
            )
            continue
        seen[rid] = rule_source(r)
        unique.append(r)
    loaded.rules = unique
    if loaded.filters:
        filtered: list[SigmaRule] = []
        for r in loaded.rules:
            cur: SigmaRule = r
            for f in loaded.filters:
                try:
                    applied = f.apply_on_rule(cur)
                    if isinstance(applied, SigmaRule):
                        cur = applied
                except (SigmaError, ValueError, KeyError, TypeError) as e:
                    reason = f"filter {rule_id(f)} cannot be applied: {e}"
                    loaded.problems.append(
                        report_problem(Problem(rule_source(f), rule_id(cur), reason, "filter"))
                    )
            filtered.append(cur)
        loaded.rules = filtered
    if loaded.correlations:
        coll = SigmaCollection([*loaded.rules, *loaded.correlations], resolve_references=False)
        good: list[SigmaCorrelationRule] = []
        for c in loaded.correlations:
            try:
                c.resolve_rule_references(coll)
                good.append(c)
            except (SigmaError, ValueError, KeyError) as e:
                reason = f"cannot resolve referenced rules: {e}"
                loaded.problems.append(
                    report_problem(Problem(rule_source(c), rule_id(c), reason, "correlation"))
                )
        loaded.correlations = good
    return loaded


def load_rules(
    paths: Iterable[Path | str] = (),
    texts: Iterable[tuple[str, str]] = (),
    client: Any = None,
    names: Any = None,
) -> LoadedRules:
    """Load rules from paths, ``(source, yaml text)`` pairs and (when ``client`` and ``names``
    are given) the rule store; then apply filters and resolve correlations."""
    with gc_paused():
        out = load_paths(paths)
        for source, text in texts:
            out.extend(load_text(text, source))
        if client is not None and names is not None:
            out.extend(load_store(client, names))
        return finish(out)


def load_for_run(ctx: Any, strict: bool = False) -> LoadedRules:
    """Rules from the configured paths and (when enabled and reachable) the rule store.

    ``strict``: an unreadable store raises (a reload keeps the rules in use) instead of
    falling back to the file rules (the start)."""
    s = ctx.settings.detection
    paths = [p for p in [*s.rule_paths, *s.extra_rule_paths] if Path(p).exists()]
    missing = [str(p) for p in [*s.rule_paths, *s.extra_rule_paths] if not Path(p).exists()]
    if missing:
        log.warning("rule paths not found", extra={"paths": missing})
    loaded = load_paths(paths)
    if s.store_rules:
        try:
            loaded.extend(load_store(ctx.client, ctx.names))
        except Exception as e:  # ES down at start: file rules now, the store at the next poll
            if strict:
                raise
            log.warning("rule store not readable; using file rules", extra={"error": str(e)})
    return finish(loaded)
