"""Bounded per-key windows for the derived detections (scan, SYN flood, brute force, DNS
tunnelling): Sigma matches single events, so the collector keeps the state and emits one
event when a key crosses its threshold within a window.

A key's window starts at its first hit and lasts ``window`` seconds (packet time); crossing
the threshold fires once per window. Memory is bounded: at most ``max_keys`` keys (oldest
dropped, counted) and at most ``threshold`` distinct items per key.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class Window:
    __slots__ = ("count", "fired", "items", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0
        self.items: set[Any] = set()
        self.fired = False


class WindowCounter:
    def __init__(self, window: float, threshold: int, distinct: bool, max_keys: int = 200_000):
        self.window = window
        self.threshold = threshold
        self.distinct = distinct
        self.max_keys = max_keys
        self.keys: dict[Hashable, Window] = {}
        self.dropped_keys = 0

    def add(self, key: Hashable, item: Any, ts: float) -> Window | None:
        """Count one hit; the window when this hit makes it cross the threshold, else None."""
        w = self.keys.get(key)
        if w is None or ts - w.start > self.window:
            if w is None and len(self.keys) >= self.max_keys:
                self._shrink(ts)
            w = Window(ts)
            self.keys[key] = w
        w.count += 1
        if self.distinct:
            if len(w.items) < self.threshold:
                w.items.add(item)
            n = len(w.items)
        else:
            if item is not None and len(w.items) < 64:
                w.items.add(item)
            n = w.count
        if n >= self.threshold and not w.fired:
            w.fired = True
            return w
        return None

    def _shrink(self, ts: float) -> None:
        expired = [k for k, w in self.keys.items() if ts - w.start > self.window]
        for k in expired:
            del self.keys[k]
        if len(self.keys) >= self.max_keys:
            drop = max(1, self.max_keys // 10)
            for k in list(self.keys)[:drop]:
                del self.keys[k]
            self.dropped_keys += drop
