"""Unit scorecards (accountability): ``/units`` ranks every unit the user may see over a
selectable period; ``/units/{id}`` is one unit's card. Per unit: mean time to acknowledge and
to resolve, SLA compliance %, open backlog by age, silent sources, sources reporting
(``api.unit_figures.unit_scorecards``, unit-scoped)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Depends, Path, Query, Request
from starlette.responses import Response

from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.render import render
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError
from socmon.api.unit_figures import unit_scorecards

router = console_router()

PERIODS = {
    "7": N_("Last 7 days"),
    "30": N_("Last 30 days"),
    "90": N_("Last 90 days"),
}
AGE_LABELS = {
    "lt1d": N_("Under 1 day"),
    "d1_7": N_("1 to 7 days"),
    "d7_30": N_("7 to 30 days"),
    "gt30d": N_("Over 30 days"),
}
# Ranking: best first. SLA compliance (higher better; none last), then MTTA (lower better).
_FAR = float("inf")


def rank(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(u: dict[str, Any]) -> tuple[float, float, float, str]:
        sla = u["sla_compliance"]
        mtta = u["mtta_seconds"]
        return (
            -sla if sla is not None else _FAR,
            mtta if mtta is not None else _FAR,
            -u["alerts"],
            u["id"],
        )

    return sorted(units, key=key)


def duration(seconds: float | None) -> str:
    """``1 h 05 min`` style, language-neutral units (h, min, s)."""
    if seconds is None:
        return "—"
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


def _period(request: Request, cu: ConsoleUser, period: str) -> dict[str, Any]:
    if period not in PERIODS:
        raise ProblemError(422, f"period must be one of {', '.join(PERIODS)} (days)")
    now = dt.datetime.now(dt.UTC)
    t0 = now - dt.timedelta(days=int(period))
    cards = unit_scorecards(get_ctx(request), cu.principal, t0, now, now)
    return {
        "cards": cards,
        "period": period,
        "periods": PERIODS,
        "ages": AGE_LABELS,
        "duration": duration,
    }


@router.get("/units")
def ranking(
    request: Request,
    period: str = Query("30", max_length=4),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    context = _period(request, cu, period)
    context["ranked"] = rank(context["cards"]["units"])
    return render(request, "pages/units.html", context, cu)


@router.get("/units/{unit_id}")
def scorecard(
    request: Request,
    unit_id: str = Path(..., max_length=256),
    period: str = Query("30", max_length=4),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    if not cu.principal.sees_unit(unit_id):
        raise ProblemError(403, "this unit is outside your scope")
    context = _period(request, cu, period)
    card = next((u for u in context["cards"]["units"] if u["id"] == unit_id), None)
    if card is None:
        raise ProblemError(404, f"unit '{unit_id}' not found")
    context["u"] = card
    return render(request, "pages/unit.html", context, cu)
