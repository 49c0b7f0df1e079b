"""Helpers shared by routes: time ranges, bounded searches (cursors: ``api.cursors``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from elasticsearch import NotFoundError

from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError
from socmon.timestamps import iso

FROM_SIZE_WINDOW = 10_000  # index.max_result_window: from + size may not pass it


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """ISO 8601 or relative ``now-24h`` / ``now-7d`` / ``now``; always UTC."""
    if value is None or value == "":
        return None
    v = value.strip()
    now = dt.datetime.now(dt.UTC)
    if v == "now":
        return now
    if v.startswith("now-") and len(v) > 5 and v[4:-1].isdigit():
        n, unit = int(v[4:-1]), v[-1]
        delta = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}.get(unit)
        if delta is None:
            raise ProblemError(422, f"{name}: unknown unit '{unit}' (use s, m, h or d)")
        try:
            return now - dt.timedelta(**{delta: n})
        except OverflowError:
            raise ProblemError(422, f"{name}: out of range") from None
    try:
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError(
            422, f"{name}: '{value}' is not an ISO 8601 time or now-<n><s|m|h|d>"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    try:
        return t.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ProblemError(422, f"{name}: '{value}' is out of range") from None


def time_range(
    ctx: ApiContext, start: str | None, end: str | None, default: str = "now-24h"
) -> tuple[dt.datetime, dt.datetime]:
    """A bounded [start, end] range: end defaults to now, start to ``default``."""
    t1 = parse_time(end, "end") or dt.datetime.now(dt.UTC)
    t0 = parse_time(start, "start") or parse_time(default, "start")
    assert t0 is not None
    if t0 > t1:
        raise ProblemError(422, "start is after end")
    if t1 - t0 > dt.timedelta(days=ctx.settings.api.max_time_range_days):
        raise ProblemError(
            422, f"the time range may span at most {ctx.settings.api.max_time_range_days} days"
        )
    return t0, t1


def range_clause(field: str, t0: dt.datetime, t1: dt.datetime) -> dict[str, Any]:
    return {
        "range": {field: {"gte": iso(t0), "lte": iso(t1), "format": "strict_date_optional_time"}}
    }


def page_size(ctx: ApiContext, size: int | None) -> int:
    s = ctx.settings.api
    if size is None:
        return s.default_page_size
    if size > s.max_page_size:
        raise ProblemError(422, f"size may be at most {s.max_page_size}")
    return size


def search(ctx: ApiContext, **kwargs: Any) -> dict[str, Any]:
    """A search bounded by the API's query time; 504 when Elasticsearch gave up early."""
    kwargs.setdefault("timeout", ctx.search_timeout())
    try:
        resp = ctx.es().search(**kwargs)
    except NotFoundError as e:
        if "index_not_found" in str(e):
            return {"hits": {"total": {"value": 0}, "hits": []}, "aggregations": {}}
        raise
    body: dict[str, Any] = resp.body
    if body.get("timed_out"):
        raise ProblemError(504, "the query took longer than the allowed time (api.query_timeout)")
    return body


def paged_search(ctx: ApiContext, size: int | None, page: int, **kwargs: Any) -> dict[str, Any]:
    """Page ``page`` (from 1) of ``size`` hits (``api.default_page_size`` if None) by from/size,
    with the exact total; 422 past Elasticsearch's 10,000-hit window."""
    n = page_size(ctx, size)
    if page * n > FROM_SIZE_WINDOW:
        raise ProblemError(422, f"page * size may be at most {FROM_SIZE_WINDOW}")
    return search(ctx, size=n, from_=(page - 1) * n, track_total_hits=True, **kwargs)
