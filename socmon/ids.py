"""Deterministic document ids: the same input always yields the same id, so replays overwrite
nothing and duplicate nothing (a ``create`` of an existing id is answered 409 and counted as a
duplicate)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

# base64.urlsafe_b64encode without its Python wrapper (the same bytes)
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b2a = binascii.b2a_base64


def _update(h: Any, parts: tuple[str | int | bytes, ...]) -> None:
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(4, "little"))
        h.update(b)


def doc_id(*parts: str | int | bytes) -> str:
    """A 22-character URL-safe id from the parts (e.g. source identity and position)."""
    h = hashlib.blake2b(digest_size=16)
    _update(h, parts)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")


class IdPrefix:
    """``doc_id(*prefix, *rest)`` for many ``rest`` with the same prefix (e.g. one source's
    identity): the prefix is hashed once, each id costs a copy of the hash state."""

    __slots__ = ("_h",)

    def __init__(self, *prefix: str | int | bytes) -> None:
        self._h = hashlib.blake2b(digest_size=16)
        _update(self._h, prefix)

    def id(self, *rest: str | int | bytes) -> str:
        h = self._h.copy()
        if len(rest) == 1:  # the usual case (a position) without the loop
            p = rest[0]
            b = p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(4, "little") + b)
        else:
            _update(h, rest)
        return _b2a(h.digest(), newline=False)[:22].translate(_URLSAFE).decode("ascii")
