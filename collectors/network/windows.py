"""Bounded per-key sliding windows for the derived detections (brute force, DNS
tunnelling): Sigma matches single events, so the collector keeps the state and emits one
event when a key crosses its threshold.

A key fires when ``threshold`` hits (``distinct``: distinct items) fall within any
``window`` seconds (packet time), wherever the window boundaries would have been: a scan of
20 ports in the 20 seconds around the end of a fixed window is seen. After firing, the key is
quiet for ``window`` seconds (a scan that goes on gives one event per window, not one per
``threshold`` hits), then counts afresh.

Memory is bounded: at most ``threshold`` timestamps (counting) or item states (distinct) per
key (a key fires when it reaches that many), at most ``SAMPLE`` sampled items, and at most
``max_keys`` keys (idle keys dropped first, then the oldest, counted). Hits may arrive out of
order (flows end when they time out): a hit older than the key's window is counted but cannot
make it fire. Per key the state is plain (small) dicts and lists: a busy network has many
keys with a hit or two.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from typing import Any

SAMPLE = 64  # items kept per key in counting mode (for the event's sample)


class Window:
    """A key's state. What the derived event reports when the key fires: ``start`` (the
    first hit counted), ``count`` (hits of the items counted, or hits in the window) and
    ``items`` (the distinct items, or a sample, each with its last hit)."""

    __slots__ = ("count", "fired_at", "items", "last", "start", "state", "times")

    def __init__(self) -> None:
        self.start = 0.0
        self.count = 0
        # counting: a sample of items -> last hit; distinct: filled when the key fires
        self.items: dict[Any, float] = {}
        # distinct: item -> (last hit, first hit, hits), the least recently hit first
        # (re-inserted on each hit)
        self.state: dict[Any, tuple[float, float, int]] = {}
        self.times: list[float] = []  # counting: the newest ``threshold`` hits, sorted
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
        """Count one hit; what to report when this hit makes the key fire, else None."""
        w = self.keys.get(key)
        if w is None:
            if len(self.keys) >= self.max_keys:
                self._shrink(ts)
            w = self.keys[key] = Window()
        now = w.last = ts if ts > w.last else w.last
        if w.fired_at is not None:
            if now - w.fired_at <= self.window:
                return None  # quiet after firing
            w.fired_at, w.count, w.items, w.state, w.times = None, 0, {}, {}, []
        if now - ts > self.window:
            return None  # arrived too late to be in the key's window
        return self._add_distinct(w, item, ts, now) if self.distinct else self._add(w, item, ts)

    def _add_distinct(self, w: Window, item: Any, ts: float, now: float) -> Window | None:
        state = w.state
        st = state.pop(item, None)
        if st is None:
            state[item] = (ts, ts, 1)
        else:
            last, first, hits = st
            state[item] = (ts if ts > last else last, ts if ts < first else first, hits + 1)
        w.count += 1
        horizon = now - self.window
        for old in state:  # the least recently hit item leaves when out of the window
            ost = state[old]
            if ost[0] < horizon:
                del state[old]
                w.count -= ost[2]
            break  # one per hit (the full pass below catches up when it matters)
        if len(state) < self.threshold:
            return None
        # items whose last hit left the window (an out-of-order hit may hide one behind a
        # newer item): out before deciding
        for it in [it for it, ost in state.items() if ost[0] < horizon]:
            w.count -= state.pop(it)[2]
        if len(state) < self.threshold:
            return None
        w.start = min(ost[1] for ost in state.values())
        return self._fire(w, now, {it: ost[0] for it, ost in state.items()})

    def _add(self, w: Window, item: Any, ts: float) -> Window | None:
        times = w.times
        if not times or ts >= times[-1]:
            times.append(ts)
        else:  # out of order (rare): in place
            bisect.insort(times, ts)
        if len(times) > self.threshold:
            del times[0]  # the window of the newest ``threshold`` hits is enough
        if item is not None:
            sample = w.items
            sample.pop(item, None)
            sample[item] = ts
            if len(sample) > SAMPLE:
                del sample[next(iter(sample))]
        if len(times) < self.threshold or times[-1] - times[0] > self.window:
            return None
        w.start = times[0]
        w.count = len(times)
        return self._fire(w, times[-1], {k: t for k, t in w.items.items() if t >= w.start})

    @staticmethod
    def _fire(w: Window, now: float, items: dict[Any, float]) -> Window:
        """The key goes quiet; what the caller reports (the key's state is reset after)."""
        w.fired_at = now
        out = Window()
        out.start, out.count, out.items, out.fired_at = w.start, w.count, items, now
        return out

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
