"""Figures kept for a few seconds per scope (the user's set of units), computed once at a
time per scope: many users of one scope share one Elasticsearch aggregation instead of each
running it (at 1M alerts and 50 clients, each running them made Elasticsearch time out).

With ``serve_stale``, a request arriving while another refreshes an expired value gets the
previous value at once instead of waiting (for lists where a minute-old value is fine: the
queue's filter choices)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_SCOPES = 1000


class ScopedCache(Generic[T]):
    def __init__(self, ttl: float, serve_stale: bool = False) -> None:
        self.ttl, self.serve_stale = ttl, serve_stale
        self._values: dict[Hashable, tuple[float, T]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def _fresh(self, scope: Hashable) -> tuple[bool, tuple[float, T] | None]:
        hit = self._values.get(scope)
        return hit is not None and time.monotonic() - hit[0] < self.ttl, hit

    def get(self, scope: Hashable, compute: Callable[[], T]) -> T:
        fresh, hit = self._fresh(scope)
        if fresh and hit is not None:
            return hit[1]
        with self._guard:
            if len(self._locks) > MAX_SCOPES:
                self._locks.clear()
                self._values.clear()
            lock = self._locks.setdefault(scope, threading.Lock())
        if hit is not None and self.serve_stale:
            if not lock.acquire(blocking=False):
                return hit[1]  # another request is refreshing it
        else:
            lock.acquire()
        try:
            fresh, hit = self._fresh(scope)  # computed while this request waited
            if fresh and hit is not None:
                return hit[1]
            value = compute()
            self._values[scope] = (time.monotonic(), value)
            return value
        finally:
            lock.release()
