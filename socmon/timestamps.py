"""Timestamps as socmon writes them into documents: ISO 8601 in UTC, milliseconds, ``Z``
(``2026-12-05T09:30:00.123Z``), what Elasticsearch's ``strict_date_optional_time`` reads and
what ECS ``@timestamp`` values look like. One writer for every layer, so that the stored
values sort and compare as text too. (The collectors' hot path keeps its own cached clock:
``collectors.timeparse.now_iso``.)"""

from __future__ import annotations

import datetime as dt


def _utc_text(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(t: dt.datetime) -> str:
    """An aware datetime (a naive one is taken as local time, as ``astimezone`` does)."""
    return _utc_text(t.astimezone(dt.UTC))


def iso_epoch(t: float) -> str:
    """Seconds since the epoch (per event when stored: no time-zone conversion needed)."""
    return _utc_text(dt.datetime.fromtimestamp(t, dt.UTC))


def now_iso() -> str:
    return _utc_text(dt.datetime.now(dt.UTC))
