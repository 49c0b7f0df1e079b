"""Timestamps of log formats to ECS ``@timestamp`` strings (ISO 8601, UTC, milliseconds).

Log lines repeat the same second many times, so conversions are cached per input string.
Timestamps without a zone are read in the configured zone; those without a year (BSD syslog)
get the year that puts them closest before "now" (a reference year can be forced, e.g. for
replaying old files).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
UTC = dt.UTC
# What the ``evtx`` package writes for SystemTime: UTC, microseconds, ``Z``.
_SYSTEM_TIME = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z", re.ASCII)


# Two ASCII digits that make a valid hour, minute, second (60: a leap second, as _bsd allows).
_HOURS = frozenset(f"{i:02d}" for i in range(24))
_MINUTES = frozenset(f"{i:02d}" for i in range(60))
_SECONDS = frozenset(f"{i:02d}" for i in range(61))
# ISO 8601 in UTC with ``Z`` as RFC 5424 senders write it: ``@timestamp`` is a slice of it.
_ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.(\d+))?Z", re.ASCII)


_now_ms: tuple[int, str] = (-1, "")  # (epoch milliseconds, its @timestamp), swapped whole
_now_sec: tuple[int, str] = (-1, "")  # (epoch second, "YYYY-MM-DDTHH:MM:SS")


def now_iso() -> str:
    """The current time as ``@timestamp``: one string per millisecond (a busy collector stamps
    many events within one), the second's prefix cached."""
    global _now_ms, _now_sec
    ms = int(time.time() * 1000)
    cur = _now_ms
    if cur[0] == ms:
        return cur[1]
    sec, frac = divmod(ms, 1000)
    prefix = _now_sec
    if prefix[0] != sec:
        prefix = _now_sec = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    text = f"{prefix[1]}.{frac:03d}Z"
    _now_ms = (ms, text)
    return text


def iso(d: dt.datetime) -> str:
    """Aware datetime -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    d = d.astimezone(UTC)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d:%H:%M:%S}.{d.microsecond // 1000:03d}Z"


class TimeParser:
    """Parses the timestamp shapes our formats use; one instance per source (caches)."""

    def __init__(
        self,
        timezone: str = "UTC",
        year: int | None = None,
        reference: dt.datetime | None = None,
    ) -> None:
        """``year`` forces the year of year-less timestamps; ``reference`` is the "now" a
        year-less timestamp is placed before (default: the real now)."""
        self.tz: dt.tzinfo = UTC if timezone in ("UTC", "Z", "") else ZoneInfo(timezone)
        self.year = year
        self.reference = reference
        self._cache: dict[str, str | None] = {}
        self._days: dict[str, str] = {}
        self._minutes: dict[str, str] = {}
        self._valid_days: dict[str, bool] = {}
        self._clf_base: dict[str, int] = {}

    def _local(self, y: int, mo: int, d: int, h: int, mi: int, s: int, us: int = 0) -> str:
        return iso(dt.datetime(y, mo, d, h, mi, s, us, tzinfo=self.tz))

    def _guess_year(self, mo: int, d: int) -> int:
        if self.year is not None:
            return self.year
        now = self.reference or dt.datetime.now(self.tz)
        # A date more than a day ahead of now is from last year (a December line in January).
        try:
            candidate = dt.datetime(now.year, mo, d, tzinfo=now.tzinfo)
        except ValueError:  # 29 February
            return now.year
        if candidate - now > dt.timedelta(days=1):
            return now.year - 1
        return now.year

    def _remember(self, key: str, value: str | None) -> str | None:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = value
        return value

    def _day(self, key: str) -> str:
        """``YYYY-MM-DDT`` of ``Mmm dd`` (the year guessed), or "" when it is no date; cached."""
        day = self._days.get(key)
        if day is None:
            try:
                mo = MONTHS[key[:3].title()]
                d = int(key[4:6])
                y = self._guess_year(mo, d)
                dt.date(y, mo, d)
                day = f"{y:04d}-{mo:02d}-{d:02d}T"
            except (KeyError, ValueError):
                day = ""
            if len(self._days) > 1000:
                self._days.clear()
            self._days[key] = day
        return day

    def _minute(self, key: str) -> str:
        """``YYYY-MM-DDTHH:MM:`` of ``Mmm dd HH:MM`` (ASCII digits, a valid hour and minute),
        else ""; cached: a BSD timestamp then costs a dict lookup and a concatenation."""
        p = ""
        if key[9] == ":" and key[7:9] in _HOURS and key[10:12] in _MINUTES:
            day = self._day(key[:6])
            if day:
                p = f"{day}{key[7:12]}:"
        if len(self._minutes) > 20_000:
            self._minutes.clear()
        self._minutes[key] = p
        return p

    def bsd(self, s: str) -> str | None:
        """``Mmm dd HH:MM:SS`` (day may be space padded or one digit), optional ``.ffffff``."""
        if self.tz is UTC and len(s) == 15:
            # fast path: the minute's prefix cached, the seconds appended (the same result as
            # _bsd, which handles everything else)
            p = self._minutes.get(s[:12])
            if p is None:
                p = self._minute(s[:12])
            if p and s[12] == ":" and s[13:15] in _SECONDS:
                return p + s[13:15] + ".000Z"
        return self._bsd(s)

    def _bsd(self, s: str) -> str | None:
        """:meth:`bsd` for every shape (the reference its fast path agrees with)."""
        r = self._cache.get(s)
        if r is not None or s in self._cache:
            return r
        if self.tz is UTC and len(s) == 15 and s[9] == ":" and s[12] == ":":
            # the date part is cached per (month, day); no datetime per line
            day = self._day(s[:6])
            hms = s[7:15]
            if (
                day
                and hms[:2].isdigit()
                and hms[3:5].isdigit()
                and hms[6:8].isdigit()
                and int(hms[:2]) < 24
                and int(hms[3:5]) < 60
                and int(hms[6:8]) < 61
            ):
                return self._remember(s, f"{day}{hms}.000Z")
        try:
            mon, day, hms = s.split()
            mo = MONTHS[mon[:3].title()]
            frac = 0
            if "." in hms:
                hms, f = hms.split(".", 1)
                frac = int((f + "000000")[:6])
            h, mi, sec = (int(x) for x in hms.split(":"))
            v = self._local(self._guess_year(mo, int(day)), mo, int(day), h, mi, sec, frac)
        except (ValueError, KeyError):
            v = None
        return self._remember(s, v)

    def ctime(self, s: str) -> str | None:
        """``Www Mmm dd HH:MM:SS[.ffffff] YYYY`` (Apache error log, vsftpd)."""
        r = self._cache.get(s)
        if r is not None or s in self._cache:
            return r
        try:
            parts = s.split()
            _, mon, day, hms, year = parts[-5:] if len(parts) >= 5 else parts
            frac = 0
            if "." in hms:
                hms, f = hms.split(".", 1)
                frac = int((f + "000000")[:6])
            h, mi, sec = (int(x) for x in hms.split(":"))
            v = self._local(int(year), MONTHS[mon[:3].title()], int(day), h, mi, sec, frac)
        except (ValueError, KeyError):
            v = None
        return self._remember(s, v)

    def clf(self, s: str) -> str | None:
        """Common log format ``dd/Mon/yyyy:HH:MM:SS +zzzz`` (zone optional)."""
        if len(s) == 26 and s[2] == "/" and s[6] == "/" and s[11] == ":" and s[20] == " ":
            # fast path: midnight (UTC epoch) cached per date + zone; the time added
            key = s[:11] + s[21:]
            base = self._clf_base.get(key)
            if base is None:
                try:
                    z = s[21:]
                    off = int(z[1:3]) * 3600 + int(z[3:5]) * 60
                    if z[0] == "-":
                        off = -off
                    elif z[0] != "+":
                        raise ValueError(z)
                    mo = MONTHS[s[3:6].title()]
                    base = calendar.timegm((int(s[7:11]), mo, int(s[:2]), 0, 0, 0)) - off
                except (ValueError, KeyError):
                    base = -1
                if len(self._clf_base) > 1000:
                    self._clf_base.clear()
                self._clf_base[key] = base
            t = s[12:20]
            if base >= 0 and t[:2].isdigit() and t[3:5].isdigit() and t[6:8].isdigit():
                ep = base + int(t[:2]) * 3600 + int(t[3:5]) * 60 + int(t[6:8])
                return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ep))
        r = self._cache.get(s)
        if r is not None or s in self._cache:
            return r
        try:
            s2 = s.strip()
            zone: str | None = None
            if " " in s2:
                s2, zone = s2.split(None, 1)
            day, mon, rest = s2.split("/", 2)
            year, h, mi, sec = rest.split(":")
            d = dt.datetime(
                int(year), MONTHS[mon.title()], int(day), int(h), int(mi), int(float(sec))
            )
            if zone and zone[0] in "+-" and len(zone) >= 5:
                off = int(zone[1:3]) * 60 + int(zone[3:5])
                tz = dt.timezone(dt.timedelta(minutes=off if zone[0] == "+" else -off))
                v: str | None = iso(d.replace(tzinfo=tz))
            else:
                v = iso(d.replace(tzinfo=self.tz))
        except (ValueError, KeyError):
            v = None
        return self._remember(s, v)

    def _valid_day(self, day: str) -> bool:
        """``YYYY-MM-DD`` (ASCII digits) is a date; cached per day."""
        ok = self._valid_days.get(day)
        if ok is None:
            try:
                ok = dt.date.fromisoformat(day).year > 0
            except ValueError:
                ok = False
            if len(self._valid_days) > 10_000:
                self._valid_days.clear()
            self._valid_days[day] = ok
        return ok

    def system_time(self, s: str) -> str | None:
        """Windows ``SystemTime`` (``2019-08-14T13:54:09.612954Z``) -> ``@timestamp``: the
        same result as :meth:`isoish` without a datetime per record (each record has its own
        time, so the cache rarely helps); the date part is checked once per day."""
        if len(s) == 27 and _SYSTEM_TIME.fullmatch(s) and self._valid_day(s[:10]):
            return s[:23] + "Z"
        return self.isoish(s)

    def isoish(self, s: str) -> str | None:
        """ISO 8601 and near relatives: ``2005-01-02T03:04:05[.f][Z|+hh:mm|+hhmm]``,
        ``2005-01-02 03:04:05,123``, ``2012/04/09 11:53:29``, ``20220407-12:11:06``."""
        if s[-1:] == "Z" and (m := _ISO_Z.fullmatch(s)) is not None and self._valid_day(s[:10]):
            # fast path (RFC 5424 senders, each line its own millisecond): no datetime
            frac = m.group(1)
            return f"{s[:19]}.{(frac + '000')[:3]}Z" if frac else f"{s[:19]}.000Z"
        return self._isoish(s)

    def _isoish(self, s: str) -> str | None:
        """:meth:`isoish` for every shape (the reference its fast path agrees with)."""
        r = self._cache.get(s)
        if r is not None or s in self._cache:
            return r
        v = None
        try:
            t = s.strip().replace("/", "-").replace(",", ".")
            if len(t) >= 15 and t[8] == "-" and t[:8].isdigit():  # 20220407-12:11:06
                t = f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[9:]}"
            if t.endswith(("Z", "z")):
                t = t[:-1] + "+00:00"
            # Python < 3.11 quirks aside, fromisoformat wants +hh:mm and at most 6 digits.
            if len(t) > 5 and t[-5] in "+-" and t[-4:].isdigit() and t[-3] != ":":
                t = t[:-2] + ":" + t[-2:]
            if "." in t:
                head, _, frac = t.partition(".")
                digits = ""
                i = 0
                while i < len(frac) and frac[i].isdigit():
                    i += 1
                digits, zone = frac[:i], frac[i:]
                t = head + "." + (digits + "000000")[:6] + zone if digits else head + zone
            d = dt.datetime.fromisoformat(t)
            if d.tzinfo is None:
                d = d.replace(tzinfo=self.tz)
            v = iso(d)
        except (ValueError, IndexError):
            v = None
        return self._remember(s, v)

    def epoch(self, value: float | int | str) -> str | None:
        try:
            f = float(value)
            if f > 1e12:  # milliseconds
                f /= 1000.0
            return iso(dt.datetime.fromtimestamp(f, UTC))
        except (ValueError, OverflowError, OSError):
            return None
