"""Reports (``/reports``): a unit's or the province's report for any period, as the printable
page (``/reports/print``) and as a PDF (``/reports/pdf``, printed by Chromium).

The figures and the page are the API's own (``routes.reports.build_report``, ``report_html``):
the same unit scope and the same numbers as ``/api/v1/reports``. Dates are whole days in
``alerting.timezone``, the end day included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from socmon.api.auth import Principal
from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.pages import console_router
from socmon.api.console.queue import choices
from socmon.api.console.render import get_console, language, render
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError
from socmon.api.report_html import render as report_page
from socmon.api.report_pdf import PdfUnavailable, html_to_pdf
from socmon.api.routes.common import iso
from socmon.api.routes.reports import build_report
from socmon.api.unit_figures import scope_units

router = console_router()


def _day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ProblemError(422, f"{name}: '{value}' is not a date (YYYY-MM-DD)") from None


def period(request: Request, p: Principal) -> dict[str, Any]:
    """The form's values: start and end days (default: the last 30 days) and the unit (one
    of the user's, checked first)."""
    qp = request.query_params
    unit = qp.get("unit", "").strip()
    if unit and not p.sees_unit(unit):
        raise ProblemError(403, f"unit outside your scope: {unit}")
    tz = ZoneInfo(get_console(request).timezone)
    today = dt.datetime.now(tz).date()
    start = _day(qp["start"], "start") if qp.get("start") else today - dt.timedelta(days=29)
    end = _day(qp["end"], "end") if qp.get("end") else today
    if start > end:
        raise ProblemError(422, "start is after end")
    t0 = dt.datetime.combine(start, dt.time(), tz)
    t1 = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz) - dt.timedelta(
        milliseconds=1
    )
    return {"start": start, "end": end, "t0": iso(t0), "t1": iso(t1), "unit": unit}


def _report(request: Request, cu: ConsoleUser) -> tuple[dict[str, Any], str]:
    f = period(request, cu.principal)
    lang = language(request, cu)
    units = [f["unit"]] if f["unit"] else None
    return build_report(get_ctx(request), cu.principal, f["t0"], f["t1"], units, lang), lang


def unit_choices(ctx: ApiContext, p: Principal) -> list[dict[str, str]]:
    """The units the picker offers: those the user may see, with their names from the unit
    table (``collectors.organization_units``), then those found in the alerts."""
    seen = {u["id"]: u["name"] for u in choices(ctx, p).units}
    return scope_units(ctx, p, seen)


@router.get("/reports")
def reports(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    f = period(request, cu.principal)
    qs = urlencode(
        {"start": f["start"].isoformat(), "end": f["end"].isoformat(), "unit": f["unit"]}
    )
    picks = unit_choices(get_ctx(request), cu.principal)
    context = {
        "form": f,
        "qs": qs,
        "my_units": list(cu.principal.units or ()),
        "unit_choices": picks,
        "unit_names": {u["id"]: u["name"] for u in picks},
        "schedules": get_ctx(request).settings.reports.schedules,
    }
    return render(request, "pages/reports.html", context, cu)


@router.get("/reports/print")
def printable(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    report, lang = _report(request, cu)
    return HTMLResponse(report_page(report, lang))


@router.get("/reports/pdf")
async def pdf(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    report, lang = await run_in_threadpool(_report, request, cu)
    s = get_ctx(request).settings.reports
    try:
        body = await run_in_threadpool(
            html_to_pdf, report_page(report, lang), s.chromium, s.pdf_timeout
        )
    except PdfUnavailable as e:
        raise ProblemError(503, str(e)) from None
    name = f"socmon-report-{'-'.join(report['units']) or 'province'}-{report['start'][:10]}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
