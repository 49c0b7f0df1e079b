"""One event, flattened once for matching: field path -> values (raw and lower-cased), and the
text the literal prefilter scans.

Nested ECS (``{"process": {"executable": ...}}``) and dotted keys (``{"process.executable":
...}``) give the same path. A list yields one value per element (Sigma's multi-value semantics:
a field matches when any of its values matches); lists of objects are flattened under the same
path. ``None`` values are kept as "present but null" for the ``null`` check.
"""

from __future__ import annotations

from typing import Any

# Separators in the prefilter text: SEP_FIELD + path + SEP_VALUE + lower(value) + SEP_END.
SEP_FIELD = "\x1d"
SEP_VALUE = "\x1f"
SEP_END = "\x1e"

# Fields never scanned by the prefilter or keyword searches: the raw record duplicates
# every parsed field and would only slow matching down.
SKIP_FIELDS = frozenset({"event.original"})


def _scalar_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class EventView:
    """Flattened view of one event. ``raw[path]`` and ``low[path]`` are parallel lists."""

    __slots__ = ("_text", "event", "low", "nulls", "raw")

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.raw: dict[str, list[Any]] = {}
        self.low: dict[str, list[str]] = {}
        self.nulls: set[str] = set()
        self._text: str | None = None
        self._walk(event, "")

    def _add(self, path: str, v: Any) -> None:
        if v is None:
            self.nulls.add(path)
            return
        s = v if isinstance(v, str) else _scalar_str(v)
        r = self.raw.get(path)
        if r is None:
            self.raw[path] = [v]
            self.low[path] = [s.lower()]
        else:
            r.append(v)
            self.low[path].append(s.lower())

    def _walk(self, obj: dict[str, Any], prefix: str) -> None:
        for k, v in obj.items():
            path = prefix + k if prefix else str(k)
            if isinstance(v, dict):
                self._walk(v, path + ".")
            elif isinstance(v, list):
                if not v:
                    self.nulls.add(path)
                for item in v:
                    if isinstance(item, dict):
                        self._walk(item, path + ".")
                    elif isinstance(item, list):
                        for x in item:
                            self._add(path, x)
                    else:
                        self._add(path, item)
            else:
                self._add(path, v)

    @property
    def text(self) -> str:
        """The prefilter text: every (path, lower-cased value) pair, with separators."""
        t = self._text
        if t is None:
            parts = []
            for path, vals in self.low.items():
                if path in SKIP_FIELDS:
                    continue
                head = SEP_FIELD + path + SEP_VALUE
                for lv in vals:
                    parts.append(head + lv + SEP_END)
            t = self._text = "".join(parts)
        return t

    def all_low(self) -> list[str]:
        """Every lower-cased value (keyword searches), except SKIP_FIELDS."""
        out: list[str] = []
        for path, vals in self.low.items():
            if path not in SKIP_FIELDS:
                out.extend(vals)
        return out

    def all_raw_str(self) -> list[str]:
        out: list[str] = []
        for path, vals in self.raw.items():
            if path not in SKIP_FIELDS:
                out.extend(v if isinstance(v, str) else _scalar_str(v) for v in vals)
        return out
