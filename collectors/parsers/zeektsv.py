"""Zeek's default log format (the ASCII writer's tab-separated logs) into the record Zeek's
JSON writer would have written, so that ``jsonfmt.ZeekParser`` maps both forms alike.

A log is one or more blocks, each a header (``#separator \\x09``, ``#set_separator``,
``#empty_field``, ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types``) followed
by records and usually ``#close``. Values, by their ``#types`` entry: ``time``, ``interval``
and ``double`` become floats, ``count``, ``int`` and ``port`` integers, ``bool`` (``T``/``F``)
booleans, ``set[...]``/``vector[...]`` lists of their element type, everything else (addr,
subnet, enum, string, pattern) strings with the writer's ``\\xHH`` escapes undone. The unset
field (``-``) is left out (as the JSON writer leaves unset fields out) and the empty field
(``(empty)``) is an empty string or list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ESC = re.compile(r"\\x([0-9a-fA-F]{2})|\\\\")
_FLOAT = frozenset({"time", "interval", "double"})
_INT = frozenset({"count", "int", "port"})
HEADER_KEYS = frozenset(
    {
        "separator",
        "set_separator",
        "empty_field",
        "unset_field",
        "path",
        "open",
        "close",
        "fields",
        "types",
    }
)


class TsvError(ValueError):
    """A record that does not fit its header (the message says which field and why)."""


def unescape(s: str) -> str:
    """Undo the ASCII writer's escapes: ``\\xHH`` bytes (UTF-8 sequences become their
    character, other bytes U+FFFD) and ``\\\\``."""
    if "\\" not in s:
        return s
    out = bytearray()
    pos = 0
    for m in _ESC.finditer(s):
        out += s[pos : m.start()].encode()
        out.append(int(m.group(1), 16) if m.group(1) else 0x5C)
        pos = m.end()
    out += s[pos:].encode()
    return out.decode("utf-8", "replace")


_BOOL = {"T": True, "F": False}


def _bool(v: str) -> bool:
    b = _BOOL.get(v)
    if b is None:
        raise ValueError(f"bool {v!r} is neither T nor F")
    return b


def _scalar(typ: str) -> Callable[[str], Any]:
    """The converter of one value of Zeek type ``typ``."""
    if typ in _FLOAT:
        return float
    if typ in _INT:
        return int
    if typ == "bool":
        return _bool
    return unescape


@dataclass
class TsvHeader:
    """The current block's header; ``fields``/``types`` empty until ``#fields`` is read."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    _columns: list[tuple[str, str, Callable[[str], Any]]] | None = None

    def line(self, text: str) -> bool:
        """Take one ``#`` line; False when it is not a header line of the format."""
        if text.startswith("#separator "):
            # a new block starts; its separator is written escaped, after a space
            self.__dict__.update(TsvHeader().__dict__)
            self.separator = unescape(text[len("#separator ") :].strip(" "))
            return True
        key, sep, rest = text[1:].partition(self.separator)
        if not sep or key not in HEADER_KEYS:
            return False
        self._columns = None  # the converters follow the header
        if key == "fields":
            self.fields = rest.split(self.separator)
        elif key == "types":
            self.types = rest.split(self.separator)
        elif key in ("set_separator", "empty_field", "unset_field"):
            setattr(self, key, unescape(rest))
        elif key == "path":
            self.path = rest
        return True  # open/close: nothing to keep

    def record(self, text: str) -> dict[str, Any]:
        """One data line as the JSON writer's record (flat, dotted keys)."""
        if not self.fields:
            raise TsvError("Zeek TSV record before its #fields header")
        values = text.split(self.separator)
        if len(values) != len(self.fields):
            raise TsvError(f"{len(values)} values for {len(self.fields)} #fields")
        if self._columns is None:
            self._columns = self._converters()
        unset = self.unset_field
        out: dict[str, Any] = {}
        for (name, typ, conv), v in zip(self._columns, values, strict=True):
            if v == unset:
                continue
            try:
                out[name] = conv(v)
            except ValueError as e:
                raise TsvError(f"field {name} ({typ}): {e}") from None
        return out

    def _converters(self) -> list[tuple[str, str, Callable[[str], Any]]]:
        """Per column: name, type and converter (``#types`` missing or short: strings)."""
        types = self.types if len(self.types) == len(self.fields) else ["string"] * len(self.fields)
        return [(n, t, self._converter(t)) for n, t in zip(self.fields, types, strict=True)]

    def _converter(self, typ: str) -> Callable[[str], Any]:
        empty, unset, sep = self.empty_field, self.unset_field, self.set_separator
        inner = _container(typ)
        if inner is None:
            one = _scalar(typ)
            if one is unescape:
                return lambda v: "" if v == empty else unescape(v)
            return one
        elem = _scalar(inner)

        def many(v: str) -> list[Any]:
            if v == empty:
                return []
            return [None if x == unset else elem(x) for x in v.split(sep)]

        return many


def _container(typ: str) -> str | None:
    """The element type of ``set[T]``/``vector[T]``/``table[T]``, None for a scalar."""
    for prefix in ("set[", "vector[", "table["):
        if typ.startswith(prefix) and typ.endswith("]"):
            return typ[len(prefix) : -1]
    return None
