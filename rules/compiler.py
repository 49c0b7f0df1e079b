"""Compile a pySigma condition tree (after the processing pipeline) into a matcher closure,
and derive its prefilter anchors.

A ``Compiled`` node has ``fn(view) -> bool`` and ``anchors``: a set of literal strings of
which at least one occurs in the event's prefilter text whenever ``fn`` can be true (``None``
when no such set is known, e.g. under ``not`` or for a regular expression). The engine
(``rules.engine``) routes each event to the plan of its logsource and indexes that plan's
rules by their root anchors in RE2 literal sets (``rules.prefilter``), so only rules whose
anchor occurs in an event are evaluated.

Semantics (Sigma specification, case-insensitive unless ``cased``):
- plain strings match the whole value; ``*``/``?`` wildcards (``contains``, ``startswith``,
  ``endswith`` are wildcards added by pySigma); escapes are resolved by pySigma;
- keyword (field-less) values match any value of the event: plain strings as substrings,
  wildcard patterns as whole values;
- ``re`` is a search (unanchored), case-sensitive unless ``i``; run by RE2 (linear time);
  patterns RE2 cannot run (look-around, back-references) are refused: ``CompileError``;
- ``null``: the field is absent or null; ``exists``; ``cidr``; ``gt/gte/lt/lte/neq`` on numbers;
  ``fieldref`` (with ``startswith``/``endswith``) compares two fields case-insensitively;
- placeholders left after the pipeline (not defined in settings) never match (a warning).
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import ahocorasick
import re2
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from socmon.rules.eventview import SEP_ANY, SEP_END, SEP_FIELD, SEP_VALUE, EventView, _scalar_str

Fn = Callable[[EventView], bool]

# Fields every rule of a logsource shares (routing conditions): poor prefilter anchors.
ROUTING_FIELDS = frozenset(
    {"event.code", "winlog.channel", "event.dataset", "event.category", "event.module"}
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True  # matchers only ask "is there a match": no groups to extract


def _searcher(rx: Any) -> Callable[[str], bool]:
    """``bool(rx.search(s))`` on the UTF-8 bytes: with a ``str`` the package maps byte offsets
    back to characters for the match object (about twice the cost on short values); a
    boolean needs no offsets."""
    search = rx.search

    def found(s: str) -> bool:
        return search(s.encode()) is not None

    return found


def _any_value(f: str, search: Callable[[str], bool]) -> Callable[[EventView], bool]:
    """Matcher: some string value of field ``f`` satisfies ``search``."""

    def fn(ev: EventView) -> bool:
        vals = ev.str[f]
        if not vals:
            return False
        for v in vals:  # noqa: SIM110
            if search(v):
                return True
        return False

    return fn


class CompileError(Exception):
    """The rule cannot be compiled for streaming; ``kind`` names the reason category."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(slots=True)
class Compiled:
    fn: Fn
    anchors: frozenset[str] | None
    cost: float = 1.0
    # simple string leaves, for grouping values of one field inside an OR
    field: str | None = None
    kind: str = ""  # exact | prefix | suffix | contains
    cased: bool = False
    lit: str = ""
    warnings: list[str] = dc_field(default_factory=list)
    work: float = 1.0  # relative evaluation cost: AND evaluates cheap children first
    # a second anchor set, also required (from another child of an AND), and its cost
    extra: frozenset[str] | None = None
    extra_cost: float = 0.0
    # routing conditions (shared by every rule of a logsource) carry a key: their result is
    # computed once per event and remembered in view.memo
    key: Any = None
    # literals of the event's logsource routing (``winlog.channel``, ``event.code``, ...) one
    # of which must occur in the prefilter text for a match: the engine drops candidates of
    # other logsources before calling them
    route: frozenset[str] | None = None
    # an AND node's children in evaluation order (the engine splits off the routing ones)
    parts: tuple[Compiled, ...] = ()


_LENGTH_ONLY = __import__("re").compile(r"\^?\.\{(\d+),\}\$?")
MIN_ANCHOR = 3  # shorter literals occur in nearly every event: no use as prefilter anchors
FIELD_ONLY = 50.0  # cost of an anchor that only says "the field exists"
_SEPARATORS = (SEP_ANY, SEP_FIELD, SEP_VALUE, SEP_END)


def _field_anchor(fld: str) -> str:
    """The anchor "the field has a value"."""
    return SEP_FIELD + fld + SEP_VALUE


def _in_field(fld: str, lit: str, end: bool = False) -> str:
    """The anchor "a value of ``fld`` contains ``lit``" (``end``: ends with it): scanned as
    the field's head, any characters but SEP_FIELD, the literal (``rules.prefilter``). Any
    literal, however short, is at least as selective as the field's presence. A literal
    holding a separator character cannot be found that way: the field's presence then."""
    if not lit or any(c in lit for c in _SEPARATORS):
        return _field_anchor(fld)
    return SEP_FIELD + fld + SEP_VALUE + SEP_ANY + lit.lower() + (SEP_END if end else "")


def _exact_anchor(fld: str, lit: str, end: bool = True) -> str:
    """The anchor "a value of ``fld`` is ``lit``" (``end`` False: starts with it)."""
    if any(c in lit for c in _SEPARATORS):
        return _field_anchor(fld)
    return SEP_FIELD + fld + SEP_VALUE + lit.lower() + (SEP_END if end else "")


def _regex_literal(pattern: str) -> str:
    """The longest literal run (lower-cased) every match of ``pattern`` must contain, or ""
    (a prefilter anchor for regex leaves, scanned in the leaf's field)."""
    import re._parser as sre_parse  # python >= 3.11

    try:
        parsed = sre_parse.parse(pattern)
    except Exception:
        return ""
    runs: list[str] = []

    def walk(seq: Any) -> None:
        cur = ""
        for op, av in seq:
            name = str(op)
            if name == "LITERAL":
                cur += chr(av)
                continue
            if cur:
                runs.append(cur)
            cur = ""
            if name == "SUBPATTERN":
                walk(av[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT") and av[0] >= 1:
                walk(av[2])
        if cur:
            runs.append(cur)

    walk(parsed)
    return max(runs, key=len, default="").lower()


def _memo(key: Any, inner: Fn) -> Fn:
    def fn(ev: EventView) -> bool:
        m = ev.memo
        r = m.get(key)
        if r is None:
            r = m[key] = inner(ev)
        return r

    return fn


def _never(ev: EventView) -> bool:
    return False


def _weight(lit: str, fld: str | None) -> float:
    if fld in ROUTING_FIELDS:
        return 1000.0  # shared by every rule of a logsource: use only when nothing else
    w = 2.0 / (len(lit) + 1)
    if not lit.isascii():  # non-ASCII literals (homoglyphs, emoji) are rare in logs
        w *= 0.05
    return w * 1.2 if fld is None else w


# ---------------------------------------------------------------- string leaves


def _str_leaf(fld: str | None, kind: str, lit: str, cased: bool) -> Compiled:
    """exact/prefix/suffix/contains/any on one field (or all fields when fld is None)."""
    if fld is None:
        return _keyword_leaf(kind, lit, cased)
    if kind == "any":
        fn: Fn = lambda ev: ev.raw[fld] is not None  # noqa: E731
        return Compiled(fn, frozenset({SEP_FIELD + fld + SEP_VALUE}), FIELD_ONLY)
    low = lit if cased else lit.lower()
    if cased:

        def get(ev: EventView) -> list[str] | None:
            return ev.str[fld]

    else:

        def get(ev: EventView) -> list[str] | None:
            return ev.low[fld]

    if kind == "exact":
        if cased:
            fn = lambda ev: (v := get(ev)) is not None and lit in v  # noqa: E731
        else:
            fn = lambda ev: (v := ev.low[fld]) is not None and low in v  # noqa: E731
        anchors = frozenset({_exact_anchor(fld, lit)})
        cost = _weight(lit, fld) * 0.5
    elif kind == "prefix":
        fn = _loop_fn(fld, cased, kind, low)
        anchors = frozenset({_exact_anchor(fld, lit, end=False)})
        cost = _weight(lit, fld) * 0.7
    elif kind == "suffix":
        fn = _loop_fn(fld, cased, kind, low)
        anchors = frozenset({_in_field(fld, lit, end=True)})
        cost = _weight(lit, fld)
    else:
        fn = _loop_fn(fld, cased, kind, low)
        anchors = frozenset({_in_field(fld, lit)})
        cost = _weight(lit, fld) * 1.1
    if anchors == {_field_anchor(fld)}:
        cost = FIELD_ONLY
    out = Compiled(fn, anchors, cost, fld, kind, cased, low)
    if fld in ROUTING_FIELDS:
        out.route = anchors
        out.key = ("s", fld, kind, cased, low)
        out.fn = _memo(out.key, fn)
    return out


def _loop_fn(fld: str, cased: bool, kind: str, low: str) -> Fn:
    """prefix/suffix/contains on one field: plain loops (no generator per call)."""
    if kind == "prefix":

        def prefix(ev: EventView) -> bool:
            v = ev.str[fld] if cased else ev.low[fld]
            if v is None:
                return False
            for x in v:  # noqa: SIM110
                if x.startswith(low):
                    return True
            return False

        return prefix
    if kind == "suffix":

        def suffix(ev: EventView) -> bool:
            v = ev.str[fld] if cased else ev.low[fld]
            if v is None:
                return False
            for x in v:  # noqa: SIM110
                if x.endswith(low):
                    return True
            return False

        return suffix

    def contains(ev: EventView) -> bool:
        v = ev.str[fld] if cased else ev.low[fld]
        if v is None:
            return False
        for x in v:  # noqa: SIM110
            if low in x:
                return True
        return False

    return contains


def _keyword_anchors(lit: str) -> frozenset[str] | None:
    """The anchor "some value of the event contains ``lit``" (SEP_ANY + literal, no field:
    scanned over every value, case-insensitively, by the engine), or None when ``lit`` is
    empty or holds a separator character."""
    if not lit or any(c in lit for c in _SEPARATORS):
        return None
    return frozenset({SEP_ANY + lit.lower()})


def _keyword_leaf(kind: str, lit: str, cased: bool) -> Compiled:
    low = lit if cased else lit.lower()
    if cased:

        def get(ev: EventView) -> list[str]:
            return ev.all_str()

    else:

        def get(ev: EventView) -> list[str]:
            return ev.all_low()

    if kind == "any":
        return Compiled(lambda ev: bool(ev.flat), None, 1.0, work=3.0)
    anchors = _keyword_anchors(lit)
    cost = _weight(lit, None) if anchors is not None else 1.0
    if kind in ("exact", "contains"):  # a plain keyword is a substring search
        if cased:
            fn: Fn = lambda ev: low in ev.all_text()  # noqa: E731
        else:
            fn = _keywords_fn((low,)).fn
        # grouped with the other keywords of an OR into one pass (``_keywords_fn``)
        return Compiled(fn, anchors, cost, None, "keyword", cased, low, work=3.0)
    elif kind == "prefix":
        fn = lambda ev: any(x.startswith(low) for x in get(ev))  # noqa: E731
    else:
        fn = lambda ev: any(x.endswith(low) for x in get(ev))  # noqa: E731
    return Compiled(fn, anchors, cost, work=6.0)


def _glob_leaf(fld: str | None, parts: list[Any], cased: bool) -> Compiled:
    """A pattern with ``?`` or inner ``*``: RE2 full match, anchored on its longest literal."""
    rx_parts = []
    chunks: list[str] = []
    cur = ""
    for p in parts:
        if isinstance(p, str):
            rx_parts.append(re2.escape(p))
            cur += p
        else:
            rx_parts.append(".*" if p == SpecialChars.WILDCARD_MULTI else ".")
            if cur:
                chunks.append(cur)
            cur = ""
    if cur:
        chunks.append(cur)
    flags = "(?s)" if cased else "(?si)"
    rx = re2.compile(flags + "^" + "".join(rx_parts) + "$", _RE2_OPTIONS)
    keyword = fld is None
    search = _searcher(rx)
    if keyword:
        fn: Fn = (
            (lambda ev: any(search(x) for x in ev.all_str()))
            if cased
            else (lambda ev: any(search(x) for x in ev.all_low()))
        )
    else:
        fn = _any_value(str(fld), search)

    best = max(chunks, key=len) if chunks else ""
    if keyword:
        kw = _keyword_anchors(best)
        return Compiled(fn, kw, _weight(best, None) if kw else 1.0, work=8.0)
    if not best:
        return Compiled(fn, frozenset({_field_anchor(str(fld))}), FIELD_ONLY, work=4.0)
    if isinstance(parts[0], str) and len(parts[0]) >= len(best) * 0.5:
        return Compiled(
            fn,
            frozenset({_exact_anchor(str(fld), parts[0], end=False)}),
            0.7 * _weight(parts[0], fld),
            work=4.0,
        )
    return Compiled(fn, frozenset({_in_field(str(fld), best)}), _weight(best, fld), work=4.0)


def _string(fld: str | None, value: SigmaString, warnings: list[str]) -> Compiled:
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    if any(isinstance(p, Placeholder) for p in parts):
        names = ", ".join(f"%{p.name}%" for p in parts if isinstance(p, Placeholder))
        warnings.append(f"placeholder {names} has no values in settings: that value never matches")
        return Compiled(_never, frozenset(), 0.0, work=0.0)
    # merge adjacent plain parts
    merged: list[Any] = []
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    star = SpecialChars.WILDCARD_MULTI
    if not merged:
        return _str_leaf(fld, "exact", "", cased)
    if all(p == star for p in merged):
        return _str_leaf(fld, "any", "", cased)
    if any(p == SpecialChars.WILDCARD_SINGLE for p in merged):
        return _glob_leaf(fld, merged, cased)
    lead = merged[0] == star
    trail = merged[-1] == star
    core = merged[1 if lead else 0 : len(merged) - 1 if trail else len(merged)]
    if len(core) == 1 and isinstance(core[0], str):
        lit = core[0]
        kind = {(False, False): "exact", (False, True): "prefix", (True, False): "suffix"}.get(
            (lead, trail), "contains"
        )
        return _str_leaf(fld, kind, lit, cased)
    return _glob_leaf(fld, merged, cased)


# ---------------------------------------------------------------- other leaves


def _regex(fld: str | None, value: SigmaRegularExpression) -> Compiled:
    pattern = (
        value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
    )
    flags = ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    if SigmaRegularExpressionFlag.DOTALL in value.flags:
        flags += "s"
    m = _LENGTH_ONLY.fullmatch(pattern)
    if m and fld is not None:  # '.{1000,}': a length test, not a 1000-state automaton
        n, f0 = int(m.group(1)), fld

        def len_fn(ev: EventView) -> bool:
            return any(len(x) >= n for x in ev.str[f0] or ())

        return Compiled(len_fn, frozenset({SEP_FIELD + fld + SEP_VALUE}), FIELD_ONLY, work=1.0)
    try:
        rx = re2.compile((f"(?{flags})" if flags else "") + pattern, _RE2_OPTIONS)
    except Exception as e:  # re2.error: RE2 cannot run it in linear time
        import re

        try:
            re.compile(pattern)
        except re.error as e2:
            raise CompileError("regex", f"invalid regular expression {pattern!r}: {e2}") from e2
        raise CompileError(
            "regex-unsafe",
            f"regular expression {pattern!r} needs backtracking (look-around or "
            f"back-reference: {e!s}); refused: it could stall the pipeline",
        ) from e
    search = _searcher(rx)
    if fld is None:
        lit = _regex_literal(pattern)
        kw = _keyword_anchors(lit)
        return Compiled(
            lambda ev: any(search(x) for x in ev.all_str()),
            kw,
            _weight(lit, None) if kw else 1.0,
            work=20.0,
        )
    f = fld

    def fn(ev: EventView) -> bool:
        vals = ev.str[f]
        if not vals:
            return False
        for v in vals:  # noqa: SIM110 - a loop is faster than any() over a generator
            if search(v):
                return True
        return False

    lit = _regex_literal(pattern)
    anchor = _in_field(f, lit)
    if anchor != _field_anchor(f):
        out = Compiled(fn, frozenset({anchor}), _weight(lit, f), work=8.0)
    else:
        out = Compiled(fn, frozenset({anchor}), FIELD_ONLY, work=8.0)
    # an OR of regular expressions on one field becomes one RE2 (``_group_regex``)
    out.field, out.kind, out.lit = f, "regex", (f"(?{flags})" if flags else "") + pattern
    return out


def _group_regex(children: list[Compiled]) -> list[Compiled]:
    """Regular expressions on the same field inside an OR: one alternation, one RE2 pass
    per value instead of one per expression (the flags stay scoped to their group)."""
    by_field: dict[str, list[Compiled]] = {}
    out: list[Compiled] = []
    for c in children:
        if c.kind == "regex" and c.field is not None:
            by_field.setdefault(c.field, []).append(c)
        else:
            out.append(c)
    for fld, cs in by_field.items():
        if len(cs) == 1:
            out.append(cs[0])
            continue
        try:
            rx = re2.compile("|".join(f"(?:{c.lit})" for c in cs), _RE2_OPTIONS)
        except Exception:  # too large for RE2's budget: keep them apart
            out.extend(cs)
            continue
        fn = _any_value(fld, _searcher(rx))
        out.append(Compiled(fn, _or_anchors(cs), sum(c.cost for c in cs), work=8.0 + len(cs)))
    return out


def _cidr(fld: str, value: SigmaCIDRExpression) -> Compiled:
    net = value.network

    def fn(ev: EventView) -> bool:
        for v in ev.raw[fld] or ():
            try:
                if ipaddress.ip_address(str(v).strip()) in net:
                    return True
            except ValueError:
                continue
        return False

    return Compiled(fn, frozenset({SEP_FIELD + fld + SEP_VALUE}), FIELD_ONLY, work=3.0)


_OPS: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
}


def _compare(fld: str, value: SigmaCompareExpression) -> Compiled:
    n = float(value.number.number)
    op = value.op
    cmp = _OPS.get(op, operator.ne)

    def fn(ev: EventView) -> bool:
        for v in ev.raw[fld] or ():
            if isinstance(v, bool):
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                continue
            if cmp(x, n):
                return True
        return False

    return Compiled(fn, frozenset({SEP_FIELD + fld + SEP_VALUE}), FIELD_ONLY, work=3.0)


def _fieldref(fld: str, value: SigmaFieldReference) -> Compiled:
    ref = value.field
    if value.starts_with:
        test: Callable[[str, str], bool] = str.startswith
    elif value.ends_with:
        test = str.endswith
    else:
        test = operator.eq

    def fn(ev: EventView) -> bool:
        a = ev.low[fld]
        b = ev.low[ref]
        if not a or not b:
            return False
        return any(test(x, y) for x in a for y in b)

    return Compiled(fn, frozenset({SEP_FIELD + fld + SEP_VALUE}), FIELD_ONLY, work=3.0)


def _leaf(fld: str | None, value: Any, warnings: list[str]) -> Compiled:
    if isinstance(value, SigmaExpansion):
        return any_of([_leaf(fld, v, warnings) for v in value.values])
    if isinstance(value, SigmaString):
        return _string(fld, value, warnings)
    if isinstance(value, SigmaRegularExpression):
        return _regex(fld, value)
    if fld is None:
        if isinstance(value, SigmaNumber | SigmaBool):
            return _keyword_leaf(
                "contains",
                _scalar_str(value.number if isinstance(value, SigmaNumber) else value.boolean),
                False,
            )
        raise CompileError("keyword", f"keyword (field-less) value of type {type(value).__name__}")
    if isinstance(value, SigmaNumber):
        return _str_leaf(fld, "exact", _scalar_str(value.number), False)
    if isinstance(value, SigmaBool):
        return _str_leaf(fld, "exact", "true" if value.boolean else "false", False)
    if isinstance(value, SigmaNull):
        f = fld
        return Compiled(lambda ev: ev.raw[f] is None, None, 1.0)
    if isinstance(value, SigmaExists):
        f = fld
        if value.exists:
            return Compiled(
                lambda ev: ev.raw[f] is not None, frozenset({SEP_FIELD + f + SEP_VALUE}), FIELD_ONLY
            )
        return Compiled(lambda ev: ev.raw[f] is None, None, 1.0)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr(fld, value)
    if isinstance(value, SigmaCompareExpression):
        return _compare(fld, value)
    if isinstance(value, SigmaFieldReference):
        return _fieldref(fld, value)
    raise CompileError("unsupported-value", f"value type {type(value).__name__} is not supported")


# ---------------------------------------------------------------- boolean nodes


def _or_anchors(children: list[Compiled]) -> frozenset[str] | None:
    """The anchors of an OR: one of its children's must occur (their union), or None when a
    child has none (it can match without any literal)."""
    if any(c.anchors is None for c in children):
        return None
    return frozenset().union(*(c.anchors for c in children if c.anchors is not None))


def _group_or(children: list[Compiled]) -> list[Compiled]:
    """Fuse simple string leaves on the same field into one test per kind (set lookup,
    str.startswith/endswith with a tuple)."""
    groups: dict[tuple[str, bool], list[Compiled]] = {}
    rest: list[Compiled] = []
    for c in children:
        if c.field is not None and c.kind in ("exact", "prefix", "suffix", "contains"):
            groups.setdefault((c.field, c.cased), []).append(c)
        else:
            rest.append(c)
    if sum(1 for c in rest if c.kind == "regex") > 1:
        rest = _group_regex(rest)
    kw = [c for c in rest if c.kind == "keyword" and not c.cased]
    if len(kw) > 1:
        rest = [c for c in rest if not (c.kind == "keyword" and not c.cased)]
        grouped = _keywords_fn(tuple(c.lit for c in kw))
        grouped.anchors, grouped.cost = _or_anchors(kw), sum(c.cost for c in kw)
        rest.append(grouped)
    out = list(rest)
    for (fld, cased), cs in groups.items():
        if len(cs) == 1:
            out.append(cs[0])
            continue
        exact = frozenset(c.lit for c in cs if c.kind == "exact")
        pre = tuple(c.lit for c in cs if c.kind == "prefix")
        suf = tuple(c.lit for c in cs if c.kind == "suffix")
        con = tuple(c.lit for c in cs if c.kind == "contains")
        anchors = _or_anchors(cs)
        cost = sum(c.cost for c in cs)
        work = 1.0 + (2.0 if len(con) > 3 else 0.5 * len(con)) + 0.2 * (len(pre) + len(suf))
        g = Compiled(_multi_fn(fld, cased, exact, pre, suf, con), anchors, cost, work=work)
        if fld in ROUTING_FIELDS:
            g.route = anchors
            g.key = ("g", fld, cased, tuple(sorted(exact)), pre, suf, con)
            g.fn = _memo(g.key, g.fn)
        out.append(g)
    return out


def _keywords_fn(lits: tuple[str, ...]) -> Compiled:
    """Any of the (lower-cased) keywords in any value. ASCII keywords: RE2 with case folding
    on the text as it is (lower-casing a 2,000-character event costs more than the search);
    others: substring searches (a few) or one RE2 pass (many) on the lower-cased text."""
    if len(lits) <= 4 and not all(x.isascii() for x in lits):

        def fn_few(ev: EventView) -> bool:
            text = ev.all_low_text()
            for x in lits:  # noqa: SIM110
                if x in text:
                    return True
            return False

        return Compiled(fn_few, None, 1.0, work=3.0)
    # many keywords: one RE2 pass (a DFA over a literal alternation, ~7x faster than
    # pyahocorasick and ~4x faster than 20 substring searches on a 1,600-character event)
    alternation = "|".join(re2.escape(x) for x in lits)
    search = _searcher(re2.compile(alternation, _RE2_OPTIONS))
    if not all(x.isascii() for x in lits):

        def low_fn(ev: EventView) -> bool:
            return search(ev.all_low_text())

        return Compiled(low_fn, None, 1.0, work=3.0)
    # ASCII keywords: RE2's case folding on the text as it is, no lower-casing. In an ASCII
    # text it is exactly str.lower(). In any text it finds at least what str.lower() would
    # (it also folds the long s and the Kelvin sign onto s and k), except for U+0130 ("İ"
    # lower-cases to "i" + a combining dot): "no match" is final unless U+0130 occurs,
    # "match" is confirmed on the lower-cased text.
    search_i = _searcher(re2.compile("(?i)" + alternation, _RE2_OPTIONS))

    def fn(ev: EventView) -> bool:
        text = ev.all_text()
        if text.isascii():
            return search_i(text)
        if "\u0130" not in text and not search_i(text):
            return False
        return search(ev.all_low_text())

    return Compiled(fn, None, 1.0, work=3.0)


def _multi_fn(
    fld: str,
    cased: bool,
    exact: frozenset[str],
    pre: tuple[str, ...],
    suf: tuple[str, ...],
    con: tuple[str, ...],
) -> Fn:
    auto: Any = None
    if len(con) > 3:  # many substrings: one Aho-Corasick pass instead of a loop
        auto = ahocorasick.Automaton()
        for c in con:
            auto.add_word(c, c)
        auto.make_automaton()
        con = ()

    def fn(ev: EventView) -> bool:
        vals = ev.str[fld] if cased else ev.low[fld]
        if not vals:
            return False
        for x in vals:
            if x in exact:
                return True
            if pre and x.startswith(pre):
                return True
            if suf and x.endswith(suf):
                return True
            for c in con:
                if c in x:
                    return True
            if auto is not None:
                for _ in auto.iter(x):
                    return True
        return False

    return fn


def any_of(children: list[Compiled]) -> Compiled:
    """The disjunction of compiled conditions (``or``, several conditions of one rule)."""
    warnings = [w for c in children for w in c.warnings]
    children = _group_or(children)
    if len(children) == 1:
        c = children[0]
        c.warnings = warnings
        return c
    anchors = _or_anchors(children)
    cost = sum(c.cost for c in children)
    children.sort(key=lambda c: c.work)
    fns = tuple(c.fn for c in children)

    def fn(ev: EventView) -> bool:
        for f in fns:  # noqa: SIM110
            if f(ev):
                return True
        return False

    out = Compiled(fn, anchors, cost, warnings=warnings, work=sum(c.work for c in children))
    if anchors is not None and any(c.extra is not None for c in children):
        # a second required set: whichever child matches, its second set (or, without one,
        # its first) hits too ("Image contains \\Windows\\ and the command line holds
        # \\..\\, or ...": the command-line literals are required as well)
        extra: frozenset[str] = frozenset()
        extra_cost = 0.0
        for c in children:
            if c.extra is not None:
                extra, extra_cost = extra | c.extra, extra_cost + c.extra_cost
            else:
                extra, extra_cost = extra | (c.anchors or frozenset()), extra_cost + c.cost
        if extra != anchors:
            out.extra, out.extra_cost = extra, extra_cost
    if all(c.route is not None for c in children):
        out.route = frozenset().union(*(c.route for c in children if c.route is not None))
    if all(c.key is not None for c in children):
        out.key = ("or", tuple(c.key for c in children))
        out.fn = _memo(out.key, fn)
    return out


def _route_rank(route: frozenset[str]) -> tuple[int, int]:
    code = SEP_FIELD + "event.code" + SEP_VALUE
    return (0 if all(a.startswith(code) for a in route) else 1, len(route))


def _and(children: list[Compiled]) -> Compiled:
    warnings = [w for c in children for w in c.warnings]
    if len(children) == 1:
        c = children[0]
        c.warnings = warnings
        return c
    # every anchor set a match requires, cheapest first: keep two
    sets: list[tuple[float, frozenset[str]]] = []
    for c in children:
        if c.anchors is not None:
            sets.append((c.cost, c.anchors))
        if c.extra is not None:
            sets.append((c.extra_cost, c.extra))
    sets.sort(key=lambda t: t[0])
    # cheapest-to-reject first: the anchored child most likely false goes first
    ordered = sorted(children, key=lambda c: c.work)
    work = sum(c.work for c in children)
    fns = tuple(c.fn for c in ordered)

    def all_fn(ev: EventView) -> bool:
        for f in fns:  # noqa: SIM110
            if not f(ev):
                return False
        return True

    key = None
    fn: Fn = all_fn
    if all(c.key is not None for c in children):
        key = ("and", tuple(c.key for c in ordered))
        fn = _memo(key, all_fn)
    # every child must match, so any child's routing literals will do: take the most
    # selective (event ids before channels, which most events of a logsource share)
    routes = [c.route for c in children if c.route is not None]
    route = min(routes, key=_route_rank) if routes else None
    parts = tuple(ordered)
    if not sets:
        return Compiled(
            fn, None, 1.0, warnings=warnings, work=work, key=key, route=route, parts=parts
        )
    out = Compiled(
        fn, sets[0][1], sets[0][0], warnings=warnings, work=work, key=key, route=route, parts=parts
    )
    if (
        len(sets) > 1
        and sets[1][0] < FIELD_ONLY
        and sets[1][1] != sets[0][1]
        and min(len(x) for x in sets[1][1]) >= 3  # short literals occur everywhere
    ):
        out.extra, out.extra_cost = sets[1][1], sets[1][0]
    return out


def all_of(fns: list[Fn]) -> Fn:
    """The AND of matchers (no children: always true)."""
    if len(fns) == 1:
        return fns[0]
    t = tuple(fns)

    def fn(ev: EventView) -> bool:
        for f in t:  # noqa: SIM110
            if not f(ev):
                return False
        return True

    return fn


def split_routing(c: Compiled) -> tuple[Fn | None, Fn]:
    """(routing check, rest): the conditions on routing fields only (``key``), whose result
    is the same for every event of a routing tuple, and the AND of the others; the rule
    matches when both do. (None, fn) when there is no routing part to split off."""
    if c.key is not None:
        return c.fn, all_of([])
    routing = [p.fn for p in c.parts if p.key is not None]
    if not routing:
        return None, c.fn
    return all_of(routing), all_of([p.fn for p in c.parts if p.key is None])


def _not(child: Compiled) -> Compiled:
    f = child.fn
    return Compiled(lambda ev: not f(ev), None, 1.0, warnings=child.warnings, work=child.work)


def compile_condition(node: Any) -> Compiled:
    """Compile a parsed pySigma condition tree (``SigmaCondition.parse()``)."""
    if isinstance(node, ConditionAND):
        return _and([compile_condition(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return any_of([compile_condition(a) for a in node.args])
    if isinstance(node, ConditionNOT):
        return _not(compile_condition(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        warnings: list[str] = []
        c = _leaf(node.field, node.value, warnings)
        c.warnings = warnings + c.warnings
        return c
    if isinstance(node, ConditionValueExpression):
        warnings = []
        c = _leaf(None, node.value, warnings)
        c.warnings = warnings + c.warnings
        return c
    raise CompileError("condition", f"unsupported condition element {type(node).__name__}")


def condition_fields(node: Any, out: set[str] | None = None) -> set[str]:
    """The field names a parsed condition tree tests (after the pipeline)."""
    if out is None:
        out = set()
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field:
            out.add(node.field)
    elif isinstance(node, ConditionAND | ConditionOR | ConditionNOT):
        for a in node.args:
            condition_fields(a, out)
    return out
