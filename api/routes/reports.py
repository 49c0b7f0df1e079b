"""Period reports per unit and for the province: JSON, or a printable HTML page with charts
(Vietnamese or English)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from socmon.api.auth import Principal, require
from socmon.api.context import ApiContext, get_ctx
from socmon.api.figures import alert_figures
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.report_html import render
from socmon.api.routes.common import iso, time_range

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class Report(BaseModel):
    start: str = Field(..., examples=["2026-11-01T00:00:00.000Z"])
    end: str = Field(..., examples=["2026-11-30T23:59:59.999Z"])
    generated: str = Field(..., examples=["2026-12-01T08:00:00.000Z"])
    language: Literal["vi", "en"] = Field(..., examples=["vi"])
    units: list[str] = Field(
        ..., description="The units reported on (empty: the province).", examples=[["so-tttt"]]
    )
    figures: dict[str, Any] = Field(
        ...,
        description="Totals by severity and status, over time, top rules and ATT&CK "
        "techniques, SLA breaches, MTTA/MTTR, silent sources, and a breakdown per unit "
        "(`units`).",
    )


def build_report(
    ctx: ApiContext,
    p: Principal,
    start: str | None,
    end: str | None,
    unit: list[str] | None,
    lang: str,
) -> dict[str, Any]:
    """The report of the principal's units (or of ``unit``, which must be in scope)."""
    from socmon.alerting.model import utcnow

    t0, t1 = time_range(ctx, start, end, default="now-30d")
    if unit:
        outside = [u for u in unit if not p.sees_unit(u)]
        if outside:
            raise ProblemError(403, f"unit(s) outside your scope: {', '.join(outside)}")
    units = list(unit or (p.units or []))
    fig = alert_figures(ctx, p, t0, t1, unit, by_unit=True)
    return {
        "start": iso(t0),
        "end": iso(t1),
        "generated": iso(utcnow()),
        "language": lang,
        "units": units,
        "figures": fig,
    }


@router.get(
    "",
    response_model=Report,
    summary="Period report (JSON)",
    responses=problem_responses(401, 403, 422, 429, 504),
)
def report_json(
    request: Request,
    start: str | None = Query(None, description="ISO 8601 or now-30d (default)"),
    end: str | None = Query(None, description="ISO 8601 or now (default)"),
    unit: list[str] | None = Query(None, description="Units to report on (default: your scope)"),
    lang: Literal["vi", "en"] | None = Query(None, description="default: api.report_language"),
    p: Principal = Depends(require("viewer")),
) -> Report:
    language = lang or get_ctx(request).settings.api.report_language
    return Report(**build_report(get_ctx(request), p, start, end, unit, language))


@router.get(
    "/html",
    response_class=HTMLResponse,
    summary="Period report as a printable HTML page with inline SVG charts",
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "A self-contained HTML page",
        },
        **problem_responses(401, 403, 422, 429, 504),
    },
)
def report_html(
    request: Request,
    start: str | None = Query(None, description="ISO 8601 or now-30d (default)"),
    end: str | None = Query(None, description="ISO 8601 or now (default)"),
    unit: list[str] | None = Query(None),
    lang: Literal["vi", "en"] | None = Query(None),
    p: Principal = Depends(require("viewer")),
) -> HTMLResponse:
    language = lang or get_ctx(request).settings.api.report_language
    return HTMLResponse(
        render(build_report(get_ctx(request), p, start, end, unit, language), language)
    )
