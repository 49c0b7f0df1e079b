"""Sign-in throttling: failed attempts counted per user name and per client address.

In memory (the console runs in one process); a window of ``api.console_login_window_seconds``
holds at most ``console_login_user_failures`` failures per name and
``console_login_address_failures`` per address; past that, sign-in is refused before the
password is even checked, with the time to wait. A successful sign-in clears the name's count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    by: str  # "user" or "address"
    retry_after: int  # seconds


class LoginThrottle:
    def __init__(self, user_limit: int, address_limit: int, window: float) -> None:
        self.user_limit = user_limit
        self.address_limit = address_limit
        self.window = window
        self._lock = threading.Lock()
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and now - q[0] >= self.window:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def check(self, user: str, address: str) -> Refusal | None:
        """None when an attempt may go ahead; else who is throttled and for how long."""
        now = time.monotonic()
        with self._lock:
            for by, key, limit in (
                ("user", f"u:{user.lower()}", self.user_limit),
                ("address", f"a:{address}", self.address_limit),
            ):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = self.window - (now - q[0])
                    return Refusal(by, max(1, int(wait + 0.999)))
        return None

    def failed(self, user: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._fails) > 100_000:  # bound memory under a spray of names
                self._fails.clear()
            for key in (f"u:{user.lower()}", f"a:{address}"):
                self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{user.lower()}", None)
