"""Request dependencies of console routes: who is signed in, with which role; CSRF.

``require_user(role)`` is the console's ``socmon.api.auth.require``: it carries the same role
marker, so ``create_app`` refuses a console route that declares no role, and it yields the
same ``Principal`` (units included) the API routes scope their queries with.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from socmon.api.auth import ROLE_ATTR, Principal, RateLimiter
from socmon.api.console import csrf, sessions
from socmon.api.console.users import User, get_user, principal
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError


class LoginRequired(Exception):
    """No live session: the page answers with a way to the sign-in form."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    user: User
    principal: Principal
    session: sessions.Session


def mark_console(request: Request) -> None:
    """Router dependency: errors of this request are rendered as console pages."""
    request.state.console = True


class SessionCache:
    """Signed-in users by session, reused for ``api.key_cache_seconds`` like API keys: two
    Elasticsearch reads saved per page. Changes made in this process (sign-out, password,
    language) drop the entries at once; a user disabled from the CLI (another process) is
    refused within that delay, as a revoked key is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, ConsoleUser]] = {}

    def get(self, token: str, ttl: float) -> ConsoleUser | None:
        if ttl <= 0:
            return None
        with self._lock:
            hit = self._items.get(token)
        if hit is None or time.monotonic() - hit[0] > ttl:
            return None
        return hit[1]

    def put(self, token: str, cu: ConsoleUser) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[token] = (time.monotonic(), cu)

    def drop_user(self, name: str) -> None:
        with self._lock:
            for token in [t for t, (_, cu) in self._items.items() if cu.user.name == name]:
                del self._items[token]


def session_cache(request: Request) -> SessionCache:
    cache: SessionCache = get_ctx(request).extras.setdefault("console_sessions", SessionCache())
    return cache


def forget_user(request: Request, name: str) -> None:
    """Drop the cached sessions of a user whose record or sessions just changed."""
    session_cache(request).drop_user(name)


def _load(request: Request, token: str, hit: ConsoleUser | None) -> ConsoleUser | None:
    """The signed-in user when the session cache has no live entry for ``token`` (I/O, run
    in a thread): ``hit``, the cache's expired entry, ends its session; otherwise the session
    and its user are read from Elasticsearch and cached."""
    ctx = get_ctx(request)
    cache = session_cache(request)
    if hit is not None:
        sessions.delete(ctx.client, ctx.names, hit.session.sid)
        cache.drop_user(hit.user.name)
        return None
    sess = sessions.lookup(ctx.client, ctx.names, ctx.settings.api, token)
    if sess is None:
        return None
    user = get_user(ctx.client, ctx.names, sess.user)
    if user is None or user.disabled:
        sessions.delete(ctx.client, ctx.names, sess.sid)
        return None
    cu = ConsoleUser(user, principal(user), sess)
    cache.put(token, cu)
    return cu


async def current_user(request: Request) -> ConsoleUser | None:
    """The signed-in user, or None (for pages that also serve anonymous visitors). A live
    entry of the session cache is used on the event loop (no I/O: no thread hand-off per
    page); the rest goes to ``_load``."""
    cached: ConsoleUser | None = getattr(request.state, "console_user", None)
    if cached is None:
        s = get_ctx(request).settings.api
        token = request.cookies.get(sessions.COOKIE, "")
        hit = session_cache(request).get(token, s.key_cache_seconds) if token else None
        if hit is not None and not sessions.expired(hit.session, s, dt.datetime.now(dt.UTC)):
            cached = hit
        elif token:
            cached = await run_in_threadpool(_load, request, token, hit)
        request.state.console_user = cached
    return cached


def require_user(role: str, province: bool = False) -> Callable[[Request], Awaitable[ConsoleUser]]:
    """Like ``auth.require``: at least ``role``; with ``province``, only users bound to the
    whole province (for global or province-wide objects: users, API keys, rules)."""

    async def dependency(request: Request) -> ConsoleUser:
        cu = await current_user(request)
        if cu is None:
            raise LoginRequired()
        await csrf.check(request, cu.session.csrf)
        limiter: RateLimiter | None = get_ctx(request).extras.get("limiter")
        if limiter is not None:
            wait = limiter.take(cu.principal.key_id)
            if wait > 0:
                raise ProblemError(429, "too many requests", headers={"Retry-After": "1"})
        if not cu.principal.may(role):
            raise ProblemError(403, f"this needs the '{role}' role (you have '{cu.user.role}')")
        if province and not cu.principal.province:
            raise ProblemError(403, "this needs a user bound to the whole province")
        request.state.principal = cu.principal
        return cu

    setattr(dependency, ROLE_ATTR, (role, province))
    dependency.__name__ = f"console_{role}{'_province' if province else ''}"
    return dependency
