"""The streaming engine: every compiled rule against each event, cost independent of the
number of rules.

Rules go through ``socmon_pipeline()`` (field mapping + logsource routing, the same as scheduled
mode) and are compiled to closures (``rules.compiler``). Per event: flatten once
(``EventView``); the values of the routing fields (channel, event code, ...) select a plan
(``_Plan``, built once per distinct routing tuple and cached) holding only the rules that
logsource can match; the plan scans its field groups' prefilter texts with RE2 literal sets
(``rules.prefilter.LiteralScanner``) and evaluates only the rules whose anchors occurred
(plus the few rules with no anchor).

Correlation rules (Sigma v2) are evaluated by a ``Correlator`` plugged in with
``set_correlator``: it receives every match of every rule, including base rules that do not
generate detections of their own (``generate: false``, the default for correlation bases).
"""

from __future__ import annotations

import copy
import logging
import pickle
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ahocorasick
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from socmon.ids import doc_id
from socmon.rules.compiler import (
    ROUTING_FIELDS,
    CompileError,
    Fn,
    any_of,
    compile_condition,
    condition_fields,
    split_routing,
)
from socmon.rules.detection import Detection, MatchedEvent
from socmon.rules.eventview import (
    SEP_ANY,
    SEP_END,
    SEP_FIELD,
    SEP_VALUE,
    EventView,
    build_text,
    build_text_fields,
)
from socmon.rules.loader import (
    LoadedRules,
    Problem,
    gc_paused,
    report_problem,
    rule_id,
    rule_source,
)
from socmon.rules.metrics import SERVICE, EngineMetrics
from socmon.rules.pipelines import socmon_pipeline
from socmon.rules.prefilter import LiteralScanner

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class CompiledRule:
    """A rule ready for streaming; ``generate`` False for correlation-only base rules."""

    index: int
    rule_id: str
    rule: SigmaRule | None
    fn: Fn
    anchors: frozenset[str] | None
    source: str
    extra: frozenset[str] | None = None  # a second anchor set, also required
    fields: frozenset[str] = frozenset()  # the event fields the rule tests
    route: frozenset[str] | None = None  # logsource literals, one must occur (compiler)
    generate: bool = True
    title: str = ""
    level: str = "medium"
    status: str = ""
    tags: list[str] = field(default_factory=list)
    name: str | None = None
    # the rule split for the engine (``split_routing``): ``route_check`` (conditions on the
    # routing fields only) is decided once per routing tuple when the plan is built, the
    # engine then calls ``body`` (the other conditions) on the events of that tuple
    route_check: Fn | None = None
    body: Fn | None = None
    sigma_id: str | None = None  # the rule's Sigma ``id``
    # (the rule pickled, its parsed conditions pickled): kept for the rule cache
    blobs: tuple[bytes, bytes] | None = None
    lazy: Any = None  # a rule from the cache whose matcher is not compiled yet

    def sigma(self) -> SigmaRule:
        """The Sigma rule (a rule from the cache: unpickled on first use)."""
        if self.rule is None:
            assert self.blobs is not None
            self.rule = pickle.loads(self.blobs[0])
        return self.rule

    def __getstate__(self) -> dict[str, Any]:
        """What the rule cache stores: no closures, no Sigma objects (``blobs`` has them)."""
        skip = {"rule", "fn", "route_check", "body", "lazy"}
        return {k: getattr(self, k) for k in self.__slots__ if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k in ("rule", "fn", "route_check", "body", "lazy"):
            setattr(self, k, None)
        for k, v in state.items():
            setattr(self, k, v)


ROUTING_ORDER = tuple(sorted(ROUTING_FIELDS))
MAX_PLANS = 4096  # distinct routing tuples remembered (a bound, not a limit on matching)
MAX_MEMO = 4096  # distinct anchor-hit sets remembered per plan (bounded memory)


def _freeze(v: Any) -> Any:
    """A routing value as a key part; non-strings tagged with their type (1 == True)."""
    t = type(v)
    if t is str or v is None:
        return v
    if t is list:
        return tuple([(type(x), x) for x in v])
    return (t, v)


GROUP_MIN = 50  # "contains"/"ends with" anchors that make a field scanned on its own
MAX_GROUPS = 3  # texts scanned per event at most (one RE2 call each)


def _head(word: str) -> str:
    """The field prefix of a field-qualified anchor (``SEP_FIELD path SEP_VALUE``)."""
    return word[: word.index(SEP_VALUE) + 1]


@dataclass(slots=True, eq=False)
class _Group:
    """Fields whose values are scanned together, and the anchors found in them."""

    # (path, its prefix in the text): ``build_text_fields``; None: keywords (every value)
    heads: tuple[tuple[str, str], ...] | None
    scanner: LiteralScanner
    anchor_rules: list[tuple[int, ...]]  # word id -> rules needing it
    # rules with two anchor sets become candidates only when both sets hit:
    first: list[tuple[int, ...]]  # word id -> rules whose first set it belongs to
    second: list[tuple[int, ...]]  # word id -> rules whose second set it belongs to

    def hits(self, view: EventView) -> frozenset[int]:
        if self.heads is None:  # keywords: every value of the event, in any case
            text = view.all_text()
            if not text:
                return frozenset()
            return frozenset(self.scanner.hits(text + SEP_END))  # U+0130: the scanner
        text = build_text_fields(view.flat, self.heads, lower=False)  # the scanner folds case
        return frozenset(self.scanner.hits(text)) if text else frozenset()


@dataclass(slots=True, eq=False)
class _Plan:
    """The rules one logsource (routing tuple) can match, indexed by prefilter anchors.

    Anchors name their field (``rules.compiler``). The fields with many "contains"/"ends
    with" anchors (command lines, paths: ``GROUP_MIN``) are scanned each on its own, the
    others together; in a group's text such an anchor is its bare literal. So a literal of a
    command-line rule is found in command lines only, not in every other field of the event
    (a "-window" in the Sysmon channel name, a "®" in Microsoft's product names), for a few
    more (short) RE2 calls per event."""

    fields: frozenset[str]  # the fields whose values are scanned
    groups: tuple[_Group, ...]
    unanchored: list[CompiledRule]
    # anchor hits (per group) -> candidates: events of one kind share their anchor hits
    memo: dict[Any, list[CompiledRule]] = field(default_factory=dict)

    @classmethod
    def build(cls, rules: list[CompiledRule]) -> _Plan:
        anchor_rules: dict[str, list[int]] = {}
        first: dict[str, list[int]] = {}
        second: dict[str, list[int]] = {}
        for r in rules:
            if r.anchors is None:
                continue
            if r.extra is None:
                for a in r.anchors:  # lower-cased: the scanners fold case
                    anchor_rules.setdefault(a.lower(), []).append(r.index)
            else:
                for a in r.anchors:
                    first.setdefault(a.lower(), []).append(r.index)
                for a in r.extra:
                    second.setdefault(a.lower(), []).append(r.index)
        every = sorted(set(anchor_rules) | set(first) | set(second))
        words = [w for w in every if not w.startswith(SEP_ANY)]
        keywords = [w for w in every if w.startswith(SEP_ANY)]  # in any value
        fields = frozenset().union(*(r.fields for r in rules))
        alone: list[str] = []
        field_heads = {(SEP_FIELD + f + SEP_VALUE).lower() for f in fields}
        if all(w.startswith(SEP_FIELD) and _head(w) in field_heads for w in words):
            # every anchor names its field: the text needs only those fields (otherwise, e.g.
            # a field name holding a separator: every field in one text, bare literals)
            named = {_head(w) for w in words}
            fields = frozenset(f for f in fields if (SEP_FIELD + f + SEP_VALUE).lower() in named)
            n_any = Counter(_head(w) for w in words if SEP_ANY in w)
            alone = [h for h, n in n_any.most_common(MAX_GROUPS - 1) if n >= GROUP_MIN]
        group_of = {h: i + 1 for i, h in enumerate(alone)}  # head -> group; 0: the others
        heads: list[list[tuple[str, str]]] = [[] for _ in range(len(alone) + 1)]
        for f in sorted(fields):
            h = SEP_FIELD + f + SEP_VALUE
            heads[group_of.get(h.lower(), 0)].append((f, h))
        local: list[dict[str, list[str]]] = [{} for _ in heads]  # group word -> anchors
        for w in words:
            g = group_of.get(_head(w), 0) if w.startswith(SEP_FIELD) else 0
            local[g].setdefault(w.rpartition(SEP_ANY)[2], []).append(w)
        no: tuple[int, ...] = ()
        heads_of: list[tuple[tuple[str, str], ...] | None] = [tuple(hs) for hs in heads]
        if keywords:
            heads_of.append(None)
            local.append({w[1:]: [w] for w in keywords})

        def rules_of(
            table: dict[str, list[int]], lw: list[str], gw: dict[str, list[str]]
        ) -> list[tuple[int, ...]]:
            ids = [tuple(sorted({i for a in gw[x] for i in table.get(a, no)})) for x in lw]
            return [*ids, no, no]  # the scanner's sentinel and U+0130: no rules

        groups = []
        for hs, gw in zip(heads_of, local, strict=True):
            if not gw or hs == ():  # no anchor, or no field to find it in (cannot happen)
                continue
            lw = sorted(gw)
            groups.append(
                _Group(
                    heads=hs,
                    scanner=LiteralScanner(lw, fold_case=True),
                    anchor_rules=rules_of(anchor_rules, lw, gw),
                    first=rules_of(first, lw, gw),
                    second=rules_of(second, lw, gw),
                )
            )
        return cls(
            fields=fields,
            groups=tuple(groups),
            unanchored=[r for r in rules if r.anchors is None],
        )

    def candidates(self, view: EventView, by: dict[int, CompiledRule]) -> list[CompiledRule]:
        groups = self.groups
        one = len(groups) == 1
        key: Any = groups[0].hits(view) if one else tuple([g.hits(view) for g in groups])
        out = self.memo.get(key)
        if out is None:
            if len(self.memo) >= MAX_MEMO:
                self.memo.clear()
            out = self.memo[key] = self._candidates((key,) if one else key, by)
        return out

    def _candidates(
        self, hits: tuple[frozenset[int], ...], by: dict[int, CompiledRule]
    ) -> list[CompiledRule]:
        idx: set[int] = set()
        f: set[int] = set()
        s: set[int] = set()
        for g, h in zip(self.groups, hits, strict=True):
            if h:
                idx.update(*map(g.anchor_rules.__getitem__, h))  # one call, in C
                f.update(*map(g.first.__getitem__, h))
                s.update(*map(g.second.__getitem__, h))
        idx |= f & s
        if self.unanchored:
            idx.update(r.index for r in self.unanchored)
        return [by[i] for i in sorted(idx)]


def _route_word(anchor: str) -> str:
    return anchor.rpartition(SEP_ANY)[2].lower()


def _routes_to(r: CompiledRule, view: EventView) -> bool:
    """Whether the rule's routing conditions hold for the routing fields in ``view``. A
    condition that raises cannot let the rule match (an AND): the rule is left out."""
    if r.route_check is None:
        return True
    try:
        return bool(r.route_check(view))
    except Exception:
        return False


class Correlator(Protocol):
    """What the correlation engine offers the streaming engine (``rules.correlation``)."""

    def observe(
        self, rule: CompiledRule, event: dict[str, Any], event_id: str
    ) -> list[Detection]: ...

    def flush(self, now: float | None = None) -> list[Detection]:
        """Detections of windows that closed by ``now`` (None: all of them, end of input)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The open windows, to be saved and restored after a restart."""
        ...

    def referenced_base_rules(self) -> set[str]:
        """The rule keys whose matches the correlator needs (``observe``)."""
        ...


def event_timestamp(event: dict[str, Any]) -> str:
    ts = event.get("@timestamp")
    if isinstance(ts, str) and ts:
        return ts
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def event_doc_id(event: dict[str, Any]) -> str:
    """An event's id when the caller has none: a hash of its content (deterministic)."""
    import orjson

    return doc_id("event", orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str))


def detection_for(
    cr: CompiledRule, event: dict[str, Any], event_id: str, index: str | None = None
) -> Detection:
    r = cr.sigma()
    ts = event_timestamp(event)
    return Detection(
        rule_id=cr.rule_id,
        rule_title=cr.title,
        level=cr.level,
        status=cr.status,
        tags=list(cr.tags),
        events=[MatchedEvent(id=event_id, index=index, event=event)],
        timestamp=ts,
        first_timestamp=ts,
        mode="streaming",
        id=doc_id("detection", cr.rule_id, event_id),
        rule_description=r.description or "",
        references=list(r.references or []),
        falsepositives=list(r.falsepositives or []),
        fields=list(r.fields or []),
        custom=dict(r.custom_attributes or {}),
    )


def _enum_name(v: Any, default: str) -> str:
    if v is None:
        return default
    name = getattr(v, "name", None)
    return str(name).lower() if name else str(v).lower()


def _strip(node: Any) -> Any:
    """Detach a post-pipeline condition tree from its rule (parents, locations): the
    compiler needs neither, and pickled alone the tree is a fraction of the rule."""
    if hasattr(node, "parent"):
        node.parent = None
    if getattr(node, "source", None) is not None:
        node.source = None
    for a in getattr(node, "args", None) or ():
        if not isinstance(a, str):
            _strip(a)
    return node


@dataclass(slots=True)
class _Matcher:
    """What compiling one rule's (post-pipeline) conditions gives."""

    fn: Fn
    anchors: frozenset[str] | None
    extra: frozenset[str] | None
    route: frozenset[str] | None
    route_check: Fn | None
    body: Fn
    fields: frozenset[str]
    warnings: list[str]


def _matcher(conds: list[Any]) -> _Matcher:
    """Compile parsed conditions (several: any of them). Raises ``CompileError``."""
    compiled = [compile_condition(c) for c in conds]
    fields: set[str] = set()
    for c0 in conds:
        condition_fields(c0, fields)
    c = compiled[0] if len(compiled) == 1 else any_of(compiled)
    route_check, body = split_routing(c)
    return _Matcher(
        fn=c.fn,
        anchors=c.anchors,
        extra=c.extra if c.anchors is not None else None,
        route=c.route,
        route_check=route_check,
        body=body,
        fields=frozenset(fields),
        warnings=list(dict.fromkeys(c.warnings)),
    )


def _work_copy(rule: SigmaRule, in_place: bool = False) -> tuple[SigmaRule, bytes | None]:
    """A copy of the rule for the pipeline to change, and the rule pickled (the cache keeps
    it). A pickle round trip is faster than ``copy.deepcopy`` (~1.5x on the SigmaHQ rules,
    measured once). ``in_place``: the rule itself (nobody else uses it), pickled first."""
    try:
        raw = pickle.dumps(rule, protocol=pickle.HIGHEST_PROTOCOL)
        return (rule if in_place else pickle.loads(raw)), raw
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        log.info("rule not picklable; copied, not cacheable", extra={"error": str(e)})
        return copy.deepcopy(rule), None


def compile_rule(
    rule: SigmaRule,
    pipeline: ProcessingPipeline,
    index: int,
    keep: bool = False,
    in_place: bool = False,
) -> tuple[CompiledRule | None, list[Problem]]:
    """Apply the pipeline to (a copy of) the rule and compile it. Never raises. ``keep``:
    also keep the rule and its parsed conditions pickled (``CompiledRule.blobs``, what the
    rule cache (``rules.cache``) stores to rebuild the matcher without the pipeline).
    ``in_place`` (with ``keep``): the pipeline changes ``rule`` itself, the caller's rules are
    not used again; ``CompiledRule.rule`` is then unpickled from the blob when needed."""
    in_place = in_place and keep
    rid = rule_id(rule)
    src = rule_source(rule)
    problems: list[Problem] = []
    try:
        work, raw = _work_copy(rule, in_place)
        pipeline.apply(work)
        conds = [c.parse() for c in work.detection.parsed_condition]
        m = _matcher(conds)
    except CompileError as e:
        return None, [Problem(src, rid, e.reason, e.kind)]
    except (SigmaError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        kind = type(e).__name__.removeprefix("Sigma").removesuffix("Error").lower() or "sigma"
        return None, [Problem(src, rid, f"{type(e).__name__}: {e}", kind)]
    for w in m.warnings:
        problems.append(Problem(src, rid, w, "placeholder", fatal=False))
    cr = CompiledRule(
        index=index,
        rule_id=rid,
        rule=rule,
        fn=m.fn,
        anchors=m.anchors,
        extra=m.extra,
        fields=m.fields,
        route=m.route,
        source=src,
        title=rule.title or "",
        level=_enum_name(rule.level, "medium"),
        status=_enum_name(rule.status, ""),
        tags=[str(t) for t in rule.tags or []],
        name=rule.name,
        sigma_id=str(rule.id) if rule.id is not None else None,
        route_check=m.route_check,
        body=m.body,
    )
    if in_place and raw is not None:  # (not picklable: ``_work_copy`` copied it)
        cr.rule = None  # changed by the pipeline: ``sigma()`` unpickles the original
    if keep and raw is not None:
        try:
            conds_raw = pickle.dumps([_strip(c) for c in conds], protocol=pickle.HIGHEST_PROTOCOL)
            cr.blobs = (raw, conds_raw)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as e:
            log.info("rule conditions not picklable", extra={"rule_id": rid, "error": str(e)})
    return cr, problems


class _Lazy:
    """The matcher of a rule read from the rule cache, compiled from its pickled conditions
    on first use (a start loads only what routing and the prefilter need: ``rules.cache``)."""

    __slots__ = ("cr",)

    def __init__(self, cr: CompiledRule) -> None:
        self.cr = cr

    def load(self) -> None:
        cr = self.cr
        if cr.lazy is not self:
            return
        assert cr.blobs is not None
        m = _matcher(pickle.loads(cr.blobs[1]))
        cr.fn, cr.route_check, cr.body = m.fn, m.route_check, m.body
        cr.lazy = None

    def fn(self, view: EventView) -> bool:
        self.load()
        return self.cr.fn(view)

    def route_check(self, view: EventView) -> bool:
        self.load()
        rc = self.cr.route_check
        return True if rc is None else rc(view)

    def body(self, view: EventView) -> bool:
        self.load()
        assert self.cr.body is not None
        return self.cr.body(view)


def lazy_rule(cr: CompiledRule) -> CompiledRule:
    """Make ``cr`` (from the cache: ``blobs`` set, no matcher) compile on first use."""
    lazy = _Lazy(cr)
    cr.lazy = lazy
    cr.fn, cr.route_check, cr.body = lazy.fn, lazy.route_check, lazy.body
    return cr


class StreamingEngine:
    """Compiled rules + prefilter. Not thread-safe: one engine per consumer thread."""

    def __init__(
        self,
        rules: list[CompiledRule],
        problems: list[Problem],
        metrics: EngineMetrics = SERVICE,
    ) -> None:
        self.rules = rules
        self.metrics = metrics
        self.problems = problems
        self.correlations: list[SigmaCorrelationRule] = []
        self.files = 0  # rule files the rules came from (when known)
        self._correlator: Correlator | None = None
        self._unanchored: list[CompiledRule] = [r for r in rules if r.anchors is None]
        # Routing: the values of the routing fields (channel, event code, ...) decide which
        # rules can match at all (``CompiledRule.route``); per distinct routing tuple, a plan
        # (the eligible rules' fields, anchors and automaton) is built once and cached.
        # routing literals as plain strings ("field contains" anchors: their literal alone,
        # a superset; the routing conditions then decide exactly, ``_routes_to``)
        route_words = sorted({_route_word(a) for r in rules for a in r.route or ()})
        self._route_auto: Any = None
        if route_words:
            auto = ahocorasick.Automaton()
            for w in route_words:
                auto.add_word(w, w)
            auto.make_automaton()
            self._route_auto = auto
        self._route_words = [
            (r, frozenset(_route_word(a) for a in r.route)) for r in rules if r.route is not None
        ]
        self._always = [r for r in rules if r.route is None]
        self._plans: dict[Any, tuple[_Plan, dict[Any, bool]]] = {}
        self._plans_by_rules: dict[frozenset[int], _Plan] = {}
        self._by_index = {r.index: r for r in rules}
        metrics.rules.set(len(rules))

    # ------------------------------------------------------------------ building

    @classmethod
    def from_rules(
        cls,
        loaded: LoadedRules | Iterable[SigmaRule],
        placeholders: dict[str, list[str]] | None = None,
        pipeline: ProcessingPipeline | None = None,
        metrics: EngineMetrics = SERVICE,
        keep: bool = False,
        in_place: bool = False,
    ) -> StreamingEngine:
        """Compile loaded rules (``keep``: with ``CompiledRule.blobs``, for the cache;
        ``in_place``: see ``compile_rule``, not with correlations, which reference the rules).
        Problems (from loading and compiling) are in ``.problems``.
        ``metrics``: where the engine counts (``rules.metrics.UNEXPOSED`` for an engine that
        is not the service's)."""
        if isinstance(loaded, LoadedRules):
            sigma_rules = loaded.rules
            problems = list(loaded.problems)
            correlations = loaded.correlations
        else:
            sigma_rules = list(loaded)
            problems = []
            correlations = []
        pipe = pipeline or socmon_pipeline(placeholders)
        in_place = in_place and not correlations
        # Base rules of correlations: generate a detection only when the correlation says so.
        silent: set[int] = set()
        for corr in correlations:
            if not getattr(corr, "generate", False):
                for ref in corr.rules or []:
                    target = getattr(ref, "rule", None)
                    if isinstance(target, SigmaRule):
                        silent.add(id(target))
        compiled: list[CompiledRule] = []
        with gc_paused():
            for rule in sigma_rules:
                cr, probs = compile_rule(rule, pipe, len(compiled), keep, in_place)
                for p in probs:
                    report_problem(p, stage="compile", counter=metrics.problems)
                problems += probs
                if cr is not None:
                    cr.generate = id(rule) not in silent
                    compiled.append(cr)
        engine = cls(compiled, problems, metrics)
        engine.correlations = list(correlations)
        return engine

    @property
    def correlator(self) -> Correlator | None:
        """The plugged-in correlation engine (``set_correlator``), if any."""
        return self._correlator

    def set_correlator(self, correlator: Correlator | None) -> None:
        """Plug the correlation engine in: it sees every rule match (``observe``)."""
        self._correlator = correlator

    def rule(self, rule_id_or_name: str) -> CompiledRule | None:
        for r in self.rules:
            if r.rule_id == rule_id_or_name or r.name == rule_id_or_name:
                return r
        return None

    @property
    def unanchored(self) -> list[CompiledRule]:
        """Rules evaluated on every event (no prefilter literal could be derived)."""
        return list(self._unanchored)

    # ------------------------------------------------------------------ matching

    def plan(self, flat: dict[str, Any]) -> _Plan:
        """The plan for an event's routing values (cached)."""
        return self.route(flat)[0]

    def route(self, flat: dict[str, Any]) -> tuple[_Plan, dict[Any, bool]]:
        """The plan for an event's routing values, and the results of the routing
        conditions (``Compiled.key``: conditions on the routing fields only, so the same for
        every event with these values), both cached per routing tuple."""
        memo: dict[Any, bool] = {}
        try:
            key = tuple([_freeze(flat.get(f)) for f in ROUTING_ORDER])
            hit = self._plans.get(key)
        except TypeError:  # an unhashable routing value: no caching
            return self._build_plan(flat, memo), memo
        if hit is None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            hit = self._plans[key] = (self._build_plan(flat, memo), memo)
        return hit

    def _build_plan(self, flat: dict[str, Any], memo: dict[Any, bool]) -> _Plan:
        present: set[str] = set()
        if self._route_auto is not None:
            text = build_text(flat, ROUTING_FIELDS)
            present = {w for _, w in self._route_auto.iter(text)}
        eligible = list(self._always)
        eligible += [r for r, words in self._route_words if not words.isdisjoint(present)]
        # the routing conditions, decided on the routing fields alone
        view = EventView({f: flat[f] for f in ROUTING_FIELDS if f in flat})
        view.memo = memo
        eligible = [r for r in eligible if _routes_to(r, view)]
        ids = frozenset(r.index for r in eligible)
        plan = self._plans_by_rules.get(ids)
        if plan is None:
            if len(self._plans_by_rules) >= MAX_PLANS:
                self._plans_by_rules.clear()
            eligible.sort(key=lambda r: r.index)
            plan = self._plans_by_rules[ids] = _Plan.build(eligible)
        return plan

    def candidates(self, view: EventView) -> list[CompiledRule]:
        """Rules whose logsource routing literals and prefilter anchors occur in the event
        (sorted by rule index)."""
        plan = self.plan(view.flat)
        return list(plan.candidates(view, self._by_index))

    def match_rules(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Every rule (including correlation-only base rules) that matches the event."""
        try:
            view = EventView(event)
            plan, view.memo = self.route(view.flat)
            cands = plan.candidates(view, self._by_index)
        except (RecursionError, TypeError, AttributeError) as e:
            self.metrics.event_errors.labels(reason=type(e).__name__).inc()
            log.warning("event cannot be matched", extra={"reason": str(e)})
            return []
        out = []
        for r in cands:
            try:
                if (r.body or r.fn)(view):  # the plan checked its routing conditions
                    out.append(r)
            except Exception as e:  # a matcher bug must not stop the pipeline
                self.metrics.event_errors.labels(reason="matcher").inc()
                log.warning(
                    "rule failed on an event",
                    extra={"rule_id": r.rule_id, "reason": f"{type(e).__name__}: {e}"},
                )
        return out

    def match(
        self, event: dict[str, Any], event_id: str | None = None, index: str | None = None
    ) -> list[Detection]:
        """Detections for one event: single-event rules that generate, plus whatever the
        correlator produces from these matches."""
        self.metrics.events.inc()
        matched = self.match_rules(event)
        if not matched:
            return []
        eid = event_id or event_doc_id(event)
        out: list[Detection] = []
        for r in matched:
            if r.generate:
                d = detection_for(r, event, eid, index)
                self.metrics.detections.labels(level=d.level).inc()
                out.append(d)
            if self._correlator is not None:
                for d in self._correlator.observe(r, event, eid):
                    self.metrics.detections.labels(level=d.level).inc()
                    out.append(d)
        return out
