"""One event, flattened once for matching, and the text the literal prefilter scans.

Nested ECS (``{"process": {"executable": ...}}``) and dotted keys (``{"process.executable":
...}``) give the same path. A list yields one value per element (Sigma's multi-value semantics:
a field matches when any of its values matches); lists of objects are flattened under the same
path. ``None`` and empty lists count as absent (as in Elasticsearch).

Per-field views are computed lazily, only for the fields the candidate rules look at:
``view.raw[path]`` (values), ``view.str[path]`` (values as strings), ``view.low[path]``
(lower-cased strings); each is a list, or ``None`` when the field is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

# Separators in the prefilter text: SEP_FIELD + path + SEP_VALUE + value + SEP_END, all
# lower-cased (field names too: anchors are built the same way).
SEP_FIELD = "\x1d"
SEP_VALUE = "\x1f"
SEP_END = "\x1e"
# In a prefilter anchor (never in a text): "then, anywhere in the same value" (the anchor
# "a value of the field contains the literal" is SEP_FIELD + path + SEP_VALUE + SEP_ANY +
# literal; the engine scans it as the literal alone in a text of that field's group).
SEP_ANY = "\x1c"

# Fields never scanned by the prefilter or keyword searches: the raw record duplicates
# every parsed field and would only slow matching down.
SKIP_FIELDS = frozenset({"event.original"})

_MISSING = object()


def _scalar_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Raw(dict[str, list[Any] | None]):
    __slots__ = ("flat",)

    def __init__(self, flat: dict[str, Any]) -> None:
        super().__init__()
        self.flat = flat

    def __missing__(self, key: str) -> list[Any] | None:
        v = self.flat.get(key)
        if v is None:
            out = None
        elif type(v) is list:
            out = [x for x in v if x is not None] or None
        else:
            out = [v]
        self[key] = out
        return out


class _Str(dict[str, list[str] | None]):
    __slots__ = ("raw",)

    def __init__(self, raw: _Raw) -> None:
        super().__init__()
        self.raw = raw

    def __missing__(self, key: str) -> list[str] | None:
        v = self.raw.flat.get(key)
        if type(v) is str:  # the common case: one string value
            out: list[str] | None = [v]
        else:
            r = self.raw[key]
            out = None if r is None else [_scalar_str(x) for x in r]
        self[key] = out
        return out


class _Low(dict[str, list[str] | None]):
    __slots__ = ("strs",)

    def __init__(self, strs: _Str) -> None:
        super().__init__()
        self.strs = strs

    def __missing__(self, key: str) -> list[str] | None:
        v = self.strs.raw.flat.get(key)
        if type(v) is str:  # the common case: one string value
            out: list[str] | None = [v.lower()]
        else:
            s = self.strs[key]
            out = None if s is None else [x.lower() for x in s]
        self[key] = out
        return out


class EventView:
    """Flattened view of one event."""

    __slots__ = (
        "_all_low",
        "_all_low_text",
        "_all_str",
        "_all_text",
        "event",
        "flat",
        "low",
        "memo",
        "raw",
        "str",
    )

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        flat = flatten(event)
        self.flat = flat
        self.raw = _Raw(flat)
        self.str = _Str(self.raw)
        self.low = _Low(self.str)
        self._all_low: list[str] | None = None
        self._all_str: list[str] | None = None
        self._all_text: str | None = None
        self.memo: dict[Any, bool] = {}
        self._all_low_text: str | None = None

    def all_str(self) -> list[str]:
        """Every value as a string (keyword searches), except SKIP_FIELDS: the values of
        ``all_text``, one string each."""
        out = self._all_str
        if out is None:
            out = []
            for path, v in self.flat.items():
                if v is None or path in SKIP_FIELDS:
                    continue
                t = type(v)
                if t is str:
                    out.append(v)
                elif t is list:
                    out += [x if type(x) is str else _scalar_str(x) for x in v if x is not None]
                else:
                    out.append(_scalar_str(v))
            self._all_str = out
        return out

    def all_text(self) -> str:
        """Every value (SKIP_FIELDS excepted) joined with SEP_END: one substring search
        covers them all (a keyword cannot span two values unless it holds SEP_END)."""
        t = self._all_text
        if t is None:
            t = self._all_text = values_text(self.flat, SKIP_FIELDS)
        return t

    def all_low_text(self) -> str:
        t = self._all_low_text
        if t is None:
            t = self._all_low_text = self.all_text().lower()
        return t

    def all_low(self) -> list[str]:
        out = self._all_low
        if out is None:
            out = self._all_low = [s.lower() for s in self.all_str()]
        return out


def _values_text_py(flat: dict[str, Any], skip: frozenset[str]) -> str:
    """SEP_END.join of every value of ``flat`` but those of the paths in ``skip`` (None: no
    value; a list: its values joined)."""
    return SEP_END.join(
        [
            v if type(v) is str else _value_text(v)
            for path, v in flat.items()
            if v is not None and path not in skip
        ]
    )


def _value_text(v: Any) -> str:
    """A flattened value that is not a string, as text (a list: its values joined)."""
    if type(v) is list:
        return SEP_END.join([x if type(x) is str else _scalar_str(x) for x in v if x is not None])
    return _scalar_str(v)


def _put(flat: dict[str, Any], path: str, v: Any) -> None:
    cur = flat.get(path, _MISSING)
    if cur is _MISSING:
        flat[path] = v
    elif type(cur) is list:
        cur.append(v)
    else:
        flat[path] = [cur, v]


def build_text(flat: dict[str, Any], scan: Any) -> str:
    """The prefilter text of the fields in ``scan``: SEP_FIELD + path + SEP_VALUE + value +
    SEP_END per value, lower-cased."""
    parts: list[str] = []
    for path, v in flat.items():
        if path not in scan or v is None:
            continue
        if type(v) is str:
            parts.append(SEP_FIELD + path + SEP_VALUE + v + SEP_END)
        elif type(v) is list:
            head = SEP_FIELD + path + SEP_VALUE
            for x in v:
                if x is not None:
                    parts.append(head + _scalar_str(x) + SEP_END)
        else:
            parts.append(SEP_FIELD + path + SEP_VALUE + _scalar_str(v) + SEP_END)
    return "".join(parts).lower()


def build_text_fields(
    flat: dict[str, Any], heads: tuple[tuple[str, str], ...], lower: bool = True
) -> str:
    """``build_text`` of the fields in ``heads`` ((path, prefix) pairs): a lookup per field
    instead of a test per value of the event (a group of the plan's fields is small).
    ``lower`` False: as it is (for a case-folding scanner)."""
    parts: list[str] = []
    get = flat.get
    for path, h in heads:
        v = get(path)
        if v is None:
            continue
        if type(v) is str:
            parts.append(h + v)
        elif type(v) is list:
            parts.extend([h + _scalar_str(x) for x in v if x is not None])
        else:
            parts.append(h + _scalar_str(v))
    if not parts:
        return ""
    parts.append("")
    return SEP_END.join(parts).lower() if lower else SEP_END.join(parts)


# Dotted paths per (prefix, key), cached (keyed on field names only, bounded): no string
# concatenation and no hashing of a new path string per value of every event.
_PATHS: dict[str, dict[str, str]] = {}
MAX_PATHS = 65536  # cached paths in all
_n_paths = [0]


def _path(paths: dict[str, str], prefix: str, k: Any) -> str:
    if type(k) is not str:  # not cached
        return prefix + str(k)
    path = prefix + k
    if _n_paths[0] >= MAX_PATHS:
        for p in _PATHS.values():
            p.clear()
        _n_paths[0] = 0
    paths[k] = path
    _n_paths[0] += 1
    return path


def _paths_of(prefix: str) -> dict[str, str]:
    paths = _PATHS.get(prefix)
    if paths is None:
        if len(_PATHS) >= MAX_PATHS:
            _PATHS.clear()
            _SUBS.clear()
        paths = _PATHS[prefix] = {}
    return paths


def _sub(path: str) -> tuple[str, dict[str, str]]:
    """The prefix of an object's keys and its paths cache, for the object at ``path``."""
    prefix = path + "."
    paths = _paths_of(prefix)
    if len(_SUBS) >= MAX_PATHS:
        _SUBS.clear()
    out = _SUBS[path] = (prefix, paths)
    return out


# per path of an object (a cached path string: its hash is cached too), its keys' prefix and
# paths cache: no prefix concatenation and lookup per nested object of every event
_SUBS: dict[str, tuple[str, dict[str, str]]] = {}


def _flatten_py(event: dict[str, Any]) -> dict[str, Any]:
    """Every value of the event under its dotted path (see the module's docstring)."""
    if not isinstance(event, dict):
        raise TypeError(f"an event is a dict, not {type(event).__name__}")
    flat: dict[str, Any] = {}
    _flatten(event, "", flat, _paths_of(""))
    return flat


def _flatten(obj: dict[str, Any], prefix: str, flat: dict[str, Any], paths: dict[str, str]) -> None:
    setdefault = flat.setdefault
    for k, v in obj.items():
        path = paths.get(k)
        if path is None:
            path = _path(paths, prefix, k)
        t = type(v)
        if t is str:
            # one dict operation for a new path; an existing one (dotted and nested keys, a
            # list of objects) gets a list. When the existing value is this very object the
            # path keeps one copy: a repeated value changes no match (any-value semantics).
            if setdefault(path, v) is not v:
                _put(flat, path, v)
        elif t is dict:
            sub = _SUBS.get(path)
            if sub is None:
                sub = _sub(path)
            _flatten(v, sub[0], flat, sub[1])
        elif t is list:
            if path not in flat:
                flat[path] = []
            elif type(flat[path]) is not list:
                flat[path] = [flat[path]]
            lst = flat[path]
            for item in v:
                if isinstance(item, dict):
                    sub = _sub(path)
                    _flatten(item, sub[0], flat, sub[1])
                elif isinstance(item, list):
                    lst.extend(x for x in item if x is not None)
                elif item is not None:
                    lst.append(item)
            if not lst:
                del flat[path]
        elif v is None:
            setdefault(path, None)
        elif setdefault(path, v) is not v:
            _put(flat, path, v)


# The native implementation (rules/_eventview.c, built at install) when it was built: the
# same results, ~4x faster. SOCMON_NATIVE=0 forces the Python one.
flatten: Callable[[dict[str, Any]], dict[str, Any]] = _flatten_py
values_text: Callable[[dict[str, Any], frozenset[str]], str] = _values_text_py
NATIVE = False
if os.environ.get("SOCMON_NATIVE", "1") != "0":
    try:
        from socmon.rules import _eventview as _native
    except ImportError:
        pass
    else:
        flatten = _native.flatten
        values_text = _native.values_text
        NATIVE = True
