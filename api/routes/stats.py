"""Figures for dashboards: counts over time by severity, unit, rule, status; top entities;
mean time to acknowledge and to resolve."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from socmon.api.auth import Principal, require
from socmon.api.context import get_ctx
from socmon.api.figures import alert_figures
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import time_range

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


class Stats(BaseModel):
    range: dict[str, str] = Field(
        ..., examples=[{"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-24T00:00:00.000Z"}]
    )
    interval: str = Field(..., examples=["1h"])
    total: int = Field(..., examples=[42])
    by_severity: dict[str, int] = Field(..., examples=[{"high": 12, "medium": 30}])
    by_status: dict[str, int] = Field(..., examples=[{"open": 40, "resolved": 2}])
    over_time: list[dict[str, Any]] = Field(
        ..., examples=[[{"t": "2026-11-23T00:00:00.000Z", "total": 3, "by_severity": {"high": 3}}]]
    )
    by_unit: list[dict[str, Any]] = Field(
        ..., examples=[[{"id": "so-tttt", "name": "", "count": 42}]]
    )
    by_rule: list[dict[str, Any]] = Field(
        ..., examples=[[{"id": "r1", "name": "SSH brute force", "count": 9}]]
    )
    top_techniques: list[dict[str, Any]] = Field(..., examples=[[{"id": "T1110", "count": 9}]])
    top_entities: dict[str, list[dict[str, Any]]] = Field(
        ..., examples=[{"source.ip": [{"value": "203.0.113.7", "count": 9}]}]
    )
    mtta_seconds: float | None = Field(
        None, description="Mean time to acknowledge.", examples=[310.5]
    )
    mttr_seconds: float | None = Field(None, description="Mean time to resolve.", examples=[5400.0])
    mtt_sample: int = Field(..., description="Alerts MTTA/MTTR were computed over.", examples=[17])
    sla_breaches: dict[str, int] = Field(..., examples=[{"open_overdue": 1, "closed_late": 0}])
    silent_sources: dict[str, Any] = Field(..., examples=[{"alerts": 0, "units": {}, "hosts": {}}])


@router.get(
    "",
    response_model=Stats,
    summary="Alert figures over a time range, scoped to your units",
    responses=problem_responses(401, 403, 422, 429, 504),
)
def stats(
    request: Request,
    start: str | None = Query(None, description="ISO 8601 or now-7d (default now-7d)"),
    end: str | None = Query(None, description="ISO 8601 or now (default)"),
    unit: list[str] | None = Query(None, description="organization.id; within your scope"),
    interval: Literal["15m", "1h", "1d", "1w"] | None = Query(
        None, description="default: by range"
    ),
    p: Principal = Depends(require("viewer")),
) -> Stats:
    ctx = get_ctx(request)
    t0, t1 = time_range(ctx, start, end, default="now-7d")
    if unit:
        outside = [u for u in unit if not p.sees_unit(u)]
        if outside:
            raise ProblemError(403, f"unit(s) outside your scope: {', '.join(outside)}")
    return Stats(**alert_figures(ctx, p, t0, t1, unit, interval))
