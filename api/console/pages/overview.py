"""``/``: the province overview. One tile per organisation unit in the user's scope (open
alerts by severity, SLA breaches, silent sources, last event), alerts per day over 30 days,
top rules, attacking addresses and ATT&CK techniques. The body refreshes itself: htmx polls
``/overview/body`` every ``api.console_poll_seconds`` and swaps it in place.

Figures come from the API's own unit-scoped aggregations (``api.figures.alert_figures``,
the query of ``GET /api/v1/stats``, and ``api.unit_figures.unit_tiles``). They are kept
``CACHE_SECONDS`` per scope (the set of units): the leaders who watch the overview share one
computation instead of each running the aggregations at every poll (``console/scoped_cache.py``).
The page shows when they were computed.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.pages import console_router
from socmon.api.console.pages.alerts import LABELS, SEVERITIES
from socmon.api.console.render import render
from socmon.api.console.scoped_cache import ScopedCache
from socmon.api.context import get_ctx
from socmon.api.figures import alert_figures
from socmon.api.unit_figures import unit_tiles

router = console_router()

DAYS = 30
CACHE_SECONDS = 5.0

_CREATE = threading.Lock()


def _cache(request: Request) -> ScopedCache[dict[str, Any]]:
    extras = get_ctx(request).extras
    with _CREATE:
        cache: ScopedCache[dict[str, Any]] = extras.setdefault(
            "overview_figures", ScopedCache(CACHE_SECONDS)
        )
    cache.ttl = CACHE_SECONDS  # the module's value at the time (tests change it)
    return cache


def overview_context(request: Request, cu: ConsoleUser) -> dict[str, Any]:
    units = cu.principal.units
    scope = tuple(sorted(units)) if units is not None else None
    return {
        **_cache(request).get(scope, lambda: _figures(request, cu)),
        "labels": LABELS,
        "severities": SEVERITIES,
        "days": DAYS,
    }


def _figures(request: Request, cu: ConsoleUser) -> dict[str, Any]:
    ctx = get_ctx(request)
    now = dt.datetime.now(dt.UTC)
    day0 = (now - dt.timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    fig = alert_figures(ctx, cu.principal, day0, now, interval="1d", with_mtt=False)
    per_day = [(b["t"][:10], b["total"]) for b in fig["over_time"]]
    chart = {
        "t": [
            int(dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC).timestamp()) for d, _ in per_day
        ],
        "n": [n for _, n in per_day],
    }
    return {
        "tiles": unit_tiles(ctx, cu.principal),
        "fig": fig,
        "per_day": per_day,
        "chart": orjson.dumps(chart).decode(),
        "updated": now,
    }


@router.get("/")
def overview(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    return render(request, "pages/overview.html", overview_context(request, cu), cu)


@router.get("/overview/body")
def overview_body(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    """The overview without its frame, for the page's polling."""
    return render(request, "partials/overview_body.html", overview_context(request, cu), cu)
