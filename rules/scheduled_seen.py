"""Detections a scheduled runner delivered recently, so the passes that re-read the lookback
(``detection.scheduled_lookback``) do not hand them to alerting again.

Detection ids are deterministic (rule + event ids: the same id means the same events), so a
re-found id carries nothing new. The memory is per process and bounded in time and size;
forgetting early only costs a re-delivery, which alerting absorbs (its markers), as after a
restart.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RecentIds:
    def __init__(
        self, keep: float, max_ids: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep = keep  # seconds an id is remembered after its last sighting
        self.max_ids = max_ids
        self.clock = clock
        self._ids: OrderedDict[str, float] = OrderedDict()

    def seen(self, det_id: str) -> bool:
        """True when ``det_id`` was delivered recently (and remember it as seen again now)."""
        self._prune()
        if det_id in self._ids:
            self._ids[det_id] = self.clock()
            self._ids.move_to_end(det_id)
            return True
        return False

    def add(self, det_id: str) -> None:
        self._ids[det_id] = self.clock()
        self._ids.move_to_end(det_id)
        self._prune()

    def __len__(self) -> int:
        return len(self._ids)

    def _prune(self) -> None:
        oldest = self.clock() - self.keep
        while self._ids:
            first, t = next(iter(self._ids.items()))
            if t >= oldest and len(self._ids) <= self.max_ids:
                return
            del self._ids[first]
