"""Bounded per-key sliding windows for the derived detections (scan, SYN flood, brute force, DNS
tunnelling): Sigma matches single events, so the collector keeps the state and emits one
event when a key crosses its threshold.

A key fires when ``threshold`` hits (``distinct``: distinct items) fall within any
``window`` seconds (packet time), wherever the window boundaries would have been: a scan of
20 ports in the 20 seconds around the end of a fixed window is seen. After firing, the key is
quiet for ``window`` seconds (a scan that goes on gives one event per window, not one per
``threshold`` hits), then counts afresh.

Memory is bounded: at most ``threshold`` timestamps (counting) or distinct items per key (a
key fires when it reaches that many), at most ``SAMPLE`` sampled items, and at most
``max_keys`` keys (idle keys dropped first, then the oldest, counted). Hits may arrive out of
order (flows end when they time out): a hit older than the key's window is counted but cannot
make it fire.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from typing import Any

SAMPLE = 64  # items kept per key in counting mode (for the event's sample)


class Window:
    """A key's state; the fired window's ``start`` (its first hit counted), ``count`` (hits)
    and ``items`` (distinct items, or a sample) go into the derived event."""

    __slots__ = ("count", "fired_at", "first", "items", "last", "start", "times")

    def __init__(self) -> None:
        self.start = 0.0  # set when it fires
        self.count = 0  # hits within the window (counting) or hits of the items counted
        self.items: dict[Any, float] = {}  # item -> its last hit (oldest first)
        self.first: dict[Any, tuple[float, int]] = {}  # item -> (first hit, hits), distinct
        self.times: list[float] = []  # the last ``threshold`` hits, sorted (counting)
        self.last = float("-inf")  # latest hit seen
        self.fired_at: float | None = None


class WindowCounter:
    def __init__(self, window: float, threshold: int, distinct: bool, max_keys: int = 200_000):
        self.window = window
        self.threshold = threshold
        self.distinct = distinct
        self.max_keys = max_keys
        self.keys: dict[Hashable, Window] = {}
        self.dropped_keys = 0

    def add(self, key: Hashable, item: Any, ts: float) -> Window | None:
        """Count one hit; the window when this hit makes the key fire, else None."""
        w = self.keys.get(key)
        if w is None:
            if len(self.keys) >= self.max_keys:
                self._shrink(ts)
            w = self.keys[key] = Window()
        now = w.last = max(w.last, ts)
        if w.fired_at is not None:
            if now - w.fired_at <= self.window:
                return None  # quiet after firing
            self._reset(w)
        if now - ts > self.window:
            return None  # arrived too late to be in the key's window
        return self._add_distinct(w, item, ts, now) if self.distinct else self._add(w, item, ts)

    def _add_distinct(self, w: Window, item: Any, ts: float, now: float) -> Window | None:
        items, first = w.items, w.first
        horizon = now - self.window
        seen = items.pop(item, None)
        items[item] = ts if seen is None or ts > seen else seen  # to the end: most recent last
        t0, hits = first.get(item, (ts, 0))
        first[item] = (min(t0, ts), hits + 1)
        w.count += 1
        while items:  # items not hit within the window leave it, oldest first
            old = next(iter(items))
            if items[old] >= horizon:
                break
            del items[old]
            w.count -= first.pop(old)[1]
        if len(items) < self.threshold:
            return None
        # a hit that came late (out of order) may have left an old item behind a newer one
        stale = [it for it, t in items.items() if t < horizon]
        for it in stale:
            del items[it]
            w.count -= first.pop(it)[1]
        if len(items) < self.threshold:
            return None
        w.start = min(first[it][0] for it in items)
        return self._fire(w, now)

    def _add(self, w: Window, item: Any, ts: float) -> Window | None:
        times = w.times
        bisect.insort(times, ts)
        if len(times) > self.threshold:
            del times[0]  # the oldest: the window of the newest ``threshold`` hits is enough
        if item is not None:
            w.items.pop(item, None)
            w.items[item] = ts
            if len(w.items) > SAMPLE:
                del w.items[next(iter(w.items))]
        if len(times) < self.threshold or times[-1] - times[0] > self.window:
            return None
        w.start = times[0]
        w.count = len(times)
        w.items = {k: t for k, t in w.items.items() if t >= w.start}  # the window's sample
        return self._fire(w, times[-1])

    def _fire(self, w: Window, now: float) -> Window:
        w.fired_at = now
        out = Window()  # what the caller reports: a copy, the key's state is reset later
        out.start, out.count, out.items = w.start, w.count, dict(w.items)
        out.fired_at = now
        return out

    @staticmethod
    def _reset(w: Window) -> None:
        w.fired_at = None
        w.count = 0
        w.items = {}
        w.first = {}
        w.times = []

    def _shrink(self, ts: float) -> None:
        idle = [
            k
            for k, w in self.keys.items()
            if ts - w.last > self.window and (w.fired_at is None or ts - w.fired_at > self.window)
        ]
        for k in idle:
            del self.keys[k]
        if len(self.keys) >= self.max_keys:
            drop = max(1, self.max_keys // 10)
            for k in list(self.keys)[:drop]:
                del self.keys[k]
            self.dropped_keys += drop
