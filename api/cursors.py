"""Pagination cursors signed by the server: a client cannot change what a cursor says.

A cursor is ``<base64 JSON state>.<base64 HMAC-SHA256>`` over the state and its kind
(``alerts``, ``events``, ``audit``): a cursor of one list is refused by another, a changed
page size or point-in-time id is refused, and the page size is checked again on use (the
limit may have changed since). The key is ``api.cursor_secret``; ``api.cursor_secret_previous``
is still accepted, so a secret can be rotated without breaking the cursors in flight (they
live ``api.cursor_keep_alive``). Without a configured secret each process draws a random one:
cursors then work only on the process that made them (set the same secret on every instance
behind a load balancer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from typing import Any

import orjson

from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError

log = logging.getLogger(__name__)

KINDS = ("alerts", "events", "audit")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _keys(ctx: ApiContext) -> list[bytes]:
    """[current, previous] signing keys (previous only when configured)."""
    cached: list[bytes] | None = ctx.extras.get("cursor_keys")
    if cached is not None:
        return cached
    s = ctx.settings.api
    if s.cursor_secret is not None:
        keys = [s.cursor_secret.get_secret_value().encode()]
    else:
        log.info("api.cursor_secret not set: cursors are signed with a per-process random key")
        keys = [secrets.token_bytes(32)]
    if s.cursor_secret_previous is not None:
        keys.append(s.cursor_secret_previous.get_secret_value().encode())
    ctx.extras["cursor_keys"] = keys
    return keys


def _mac(key: bytes, kind: str, payload: bytes) -> bytes:
    return hmac.new(key, kind.encode() + b"\0" + payload, hashlib.sha256).digest()


def encode_cursor(ctx: ApiContext, kind: str, state: dict[str, Any]) -> str:
    payload = orjson.dumps(state)
    return f"{_b64(payload)}.{_b64(_mac(_keys(ctx)[0], kind, payload))}"


def _invalid() -> ProblemError:
    return ProblemError(400, "the cursor is not valid")


def decode_cursor(ctx: ApiContext, kind: str, cursor: str) -> dict[str, Any]:
    """The state a cursor of ``kind`` carries; 400 when it was not made by this server for
    this list, or its page size is out of bounds."""
    if kind not in KINDS:
        raise ValueError(f"unknown cursor kind {kind}")
    try:
        body, sig = cursor.split(".", 1)
        payload, mac = _unb64(body), _unb64(sig)
    except ValueError:
        raise _invalid() from None
    if not any(hmac.compare_digest(mac, _mac(k, kind, payload)) for k in _keys(ctx)):
        raise _invalid()
    try:
        state = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _invalid() from None
    if not isinstance(state, dict):
        raise _invalid()
    z = state.get("z")
    if type(z) is not int or not 1 <= z <= ctx.settings.api.max_page_size:
        raise _invalid()
    return state
