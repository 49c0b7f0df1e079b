"""YAML from untrusted callers: no anchors or aliases, bounded size and nesting depth.

``yaml.safe_load`` is safe from code execution but not from cost: aliases let a few hundred
bytes stand for gigabytes once something expands them ("billion laughs": pySigma turns an
aliased value into text in its error messages), and the composer recurses once per nesting
level (a few thousand ``[`` end in RecursionError). ``load`` refuses anchors and aliases as
the composer meets them, before any value is built, and stops at ``max_depth`` levels.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import Node
from yaml.resolver import Resolver


def require_libyaml() -> None:
    """PyYAML built without libyaml is an install error (``socmon`` exits 3 with one line):
    its pure-Python scanner is quadratic on nested flow collections, and pySigma subclasses
    ``yaml.CSafeLoader`` when it is imported."""
    if not getattr(yaml, "__with_libyaml__", False):
        raise ModuleNotFoundError(
            "PyYAML without libyaml (yaml.CSafeLoader): reinstall PyYAML from its wheel",
            name="yaml._yaml",
        )


require_libyaml()

from yaml._yaml import CParser  # noqa: E402  (after the check: its error names the fix)

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64


class UnsafeYamlError(yaml.MarkedYAMLError):
    """YAML refused before it was built: an anchor or alias, too deep, or too large."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class BoundedLoader(Composer, CParser, SafeConstructor, Resolver):
    """A safe loader that refuses anchors/aliases and nesting deeper than ``max_depth``.

    libyaml parses (``CParser``: PyYAML's own scanner takes ~1 s per kilobyte of ``[[[``,
    since it keeps every unclosed bracket as a possible key); PyYAML's Python composer comes
    first in the MRO so that ``compose_node`` below sees every node before it is built."""

    max_depth = MAX_DEPTH

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise UnsafeYamlError(
                f"YAML aliases (*{event.anchor}) are not accepted", event.start_mark
            )
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise UnsafeYamlError(
                f"YAML anchors (&{event.anchor}) are not accepted", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = getattr(event, "start_mark", None)
                raise UnsafeYamlError(f"YAML nested deeper than {self.max_depth} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_all(text: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> list[Any]:
    """Every document of ``text``; raises ``yaml.YAMLError`` (``UnsafeYamlError`` for what is
    refused here) with the line in its mark."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise UnsafeYamlError(f"YAML text larger than {max_bytes} bytes")
    loader = BoundedLoader(text)
    loader.max_depth = max_depth
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


def load(text: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The single document of ``text`` (None when empty); more than one is an error."""
    docs = load_all(text, max_bytes, max_depth)
    if len(docs) > 1:
        raise UnsafeYamlError("expected a single YAML document")
    return docs[0] if docs else None


def clip(text: str, limit: int = 500) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out: for anything
    echoed back to a caller that may be built from their input."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
