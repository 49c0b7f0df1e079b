"""Deterministic document ids: the same input always yields the same id, so replays overwrite
nothing and duplicate nothing (a ``create`` of an existing id is answered 409 and counted as a
duplicate)."""

from __future__ import annotations

import base64
import hashlib


def doc_id(*parts: str | int | bytes) -> str:
    """A 22-character URL-safe id from the parts (e.g. source identity and position)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(4, "little"))
        h.update(b)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")
