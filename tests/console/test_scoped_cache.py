"""ScopedCache: one computation at a time per scope; with serve_stale, requests arriving
during a refresh get the previous value at once (no Elasticsearch needed)."""

from __future__ import annotations

import threading
import time

from socmon.api.console.scoped_cache import ScopedCache


def test_one_computation_per_scope_and_stale_while_refreshing() -> None:
    calls: list[str] = []
    release = threading.Event()

    def slow(value: str):  # type: ignore[no-untyped-def]
        def compute() -> str:
            calls.append(value)
            release.wait(5)
            return value

        return compute

    cache: ScopedCache[str] = ScopedCache(ttl=0.05, serve_stale=True)
    release.set()
    assert cache.get("A", slow("a1")) == "a1"
    assert cache.get("A", slow("never")) == "a1"  # fresh: not computed again
    assert cache.get("B", slow("b1")) == "b1"  # another scope: its own value
    time.sleep(0.06)
    release.clear()
    got: list[str] = []
    refresher = threading.Thread(target=lambda: got.append(cache.get("A", slow("a2"))))
    refresher.start()
    while "a2" not in calls:
        time.sleep(0.001)
    # while a2 is being computed, ten more requests get a1 at once and compute nothing
    t0 = time.monotonic()
    assert [cache.get("A", slow("x")) for _ in range(10)] == ["a1"] * 10
    assert time.monotonic() - t0 < 1.0
    release.set()
    refresher.join(5)
    assert got == ["a2"] and cache.get("A", slow("y")) == "a2"
    assert calls == ["a1", "b1", "a2"]


def test_without_stale_waiters_share_one_computation() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.2)
        return len(calls)

    cache: ScopedCache[int] = ScopedCache(ttl=10)
    out: list[int] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get(None, compute))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert out == [1] * 8 and calls == [1]
