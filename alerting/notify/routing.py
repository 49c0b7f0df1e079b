"""Which routes a notification takes, quiet hours and per-route rate limits."""

from __future__ import annotations

import datetime as dt
from collections import deque

from socmon.alerting import model
from socmon.alerting.notify.message import Notification
from socmon.settings.alerting import Route


def route_matches(route: Route, n: Notification) -> bool:
    if n.kind not in route.kinds:
        return False
    if not model.severity_at_least(n.severity, route.min_severity):
        return False
    if route.units and n.unit not in route.units:
        return False
    return not (route.rules and n.rule_id not in route.rules)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def quiet_until(route: Route, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
    """End of the quiet period ``now`` falls in (UTC), or None when not quiet."""
    if not route.quiet_hours:
        return None
    start_s, end_s = route.quiet_hours.split("-")
    start, end = _minutes(start_s), _minutes(end_s)
    local = now.astimezone(tz)
    cur = local.hour * 60 + local.minute
    if start == end:
        return None
    quiet = start <= cur < end if start < end else (cur >= start or cur < end)
    if not quiet:
        return None
    end_local = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_local <= local:
        end_local += dt.timedelta(days=1)
    return end_local.astimezone(dt.UTC)


def bypasses_quiet(route: Route, n: Notification) -> bool:
    b = route.quiet_bypass_severity
    return b is not None and model.severity_at_least(n.severity, b)


class RateLimiter:
    """At most ``limit`` messages per ``period`` seconds (sliding window); 0 = unlimited."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._sent: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.period:
            self._sent.popleft()

    def allow(self, now: float) -> bool:
        if self.limit <= 0:
            return True
        self._trim(now)
        if len(self._sent) >= self.limit:
            return False
        self._sent.append(now)
        return True

    def free_at(self, now: float) -> float:
        """When the next message will be allowed."""
        self._trim(now)
        if self.limit <= 0 or len(self._sent) < self.limit:
            return now
        return self._sent[0] + self.period
