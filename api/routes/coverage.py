"""ATT&CK coverage of the enabled rules (``rules.coverage``): per tactic and technique the
rules and their alerts in the caller's units; the same as an ATT&CK Navigator layer.

Included before ``routes.rules`` so ``/rules/coverage`` is not read as a rule id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from socmon.api.auth import Principal, require, unit_filter
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import problem_responses
from socmon.api.routes.common import range_clause, search, time_range
from socmon.rules import coverage as cov

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


class CoveredRule(BaseModel):
    rule_id: str = Field(..., examples=["0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77"])
    title: str = Field("", examples=["SSH brute force from one address"])
    level: str = Field("", examples=["high"])
    source: str = Field(..., description='"store" or the rule file', examples=["store"])
    detections: int = Field(..., description="Alerts of this rule in your units.", examples=[4])


class CoveredTechnique(BaseModel):
    id: str = Field(..., examples=["T1110"])
    name: str = Field(..., examples=["Brute Force"])
    rules: list[CoveredRule]
    detections: int = Field(..., examples=[4])


class TacticCoverage(BaseModel):
    id: str = Field(..., examples=["TA0006"])
    shortname: str = Field(..., examples=["credential-access"])
    name: str = Field(..., examples=["Credential Access"])
    rules: int = Field(..., description="Enabled rules under this tactic.", examples=[12])
    detections: int = Field(..., examples=[40])
    techniques: list[CoveredTechnique]
    rules_without_technique: list[CoveredRule] = Field(
        default_factory=list, description="Rules tagged with the tactic but no technique."
    )


class CoverageOut(BaseModel):
    attack_version: str = Field(..., examples=["18.1"])
    rules: int = Field(..., description="Enabled rules (rule store and rule files).")
    rules_with_attack: int = Field(..., description="Of which with an ATT&CK tag.")
    techniques_covered: int
    tactics: list[TacticCoverage]
    unknown_techniques: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Technique tags ATT&CK does not know (or has revoked) -> rule ids.",
    )


def _coverage(ctx: ApiContext, p: Principal, start: str | None, end: str | None) -> cov.Coverage:
    def run(**kw: Any) -> dict[str, Any]:
        return search(ctx, **kw)

    filters = [*unit_filter(p)]
    if start or end:
        t0, t1 = time_range(ctx, start, end, default="now-30d")
        filters.append(range_clause("@timestamp", t0, t1))
    det = ctx.settings.detection
    refs = cov.enabled_rules(run, ctx.names, [*det.rule_paths, *det.extra_rule_paths])
    counts = cov.alert_counts(run, ctx.names, [r.rule_id for r in refs], filters)
    return cov.coverage(refs, counts)


_START = Query(None, examples=["now-30d"], description="Count alerts from (default: all).")
_END = Query(None, examples=["now"], description="Count alerts until (default: now).")


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="ATT&CK coverage: per tactic and technique, the enabled rules and their alerts",
    responses=problem_responses(401, 403, 422, 429, 504),
)
def rule_coverage(
    request: Request,
    start: str | None = _START,
    end: str | None = _END,
    p: Principal = Depends(require("analyst")),
) -> CoverageOut:
    return CoverageOut(**_coverage(get_ctx(request), p, start, end).as_json())


@router.get(
    "/coverage/navigator",
    summary="The coverage as an ATT&CK Navigator layer (format 4.5)",
    response_class=JSONResponse,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "ATT&CK Navigator layer: score = enabled rules of the technique, "
            "comment = its alerts in your units and rule titles.",
        },
        **problem_responses(401, 403, 422, 429, 504),
    },
)
def rule_coverage_layer(
    request: Request,
    start: str | None = _START,
    end: str | None = _END,
    p: Principal = Depends(require("analyst")),
) -> JSONResponse:
    layer = cov.navigator_layer(_coverage(get_ctx(request), p, start, end))
    return JSONResponse(
        layer, headers={"Content-Disposition": 'attachment; filename="socmon-coverage.json"'}
    )
