"""Alert exceptions: CRUD and preview (how many past alerts one would have suppressed).

The model, validation and preview are alerting's (``alerting.exceptions``). Unit scoping: a
principal bound to units sees and changes only exceptions of those units; global exceptions
(and rule exceptions without a unit) need a province-wide principal to change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from socmon.alerting import exceptions as exc
from socmon.alerting.errors import ConcurrentUpdate, ExceptionNotFound, InvalidException
from socmon.api import audit
from socmon.api.auth import Principal, require, unit_filter
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import paged_search, parse_time

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])

ExcId = Path(..., max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$", examples=["9d1c0f..."])


class ConditionIn(BaseModel):
    field: str = Field(..., min_length=1, max_length=256, examples=["source.ip"])
    op: Literal["equals", "not_equals", "contains", "startswith", "endswith", "cidr", "exists"] = (
        Field("equals", examples=["cidr"])
    )
    value: Any = Field(None, examples=["10.0.0.0/8"])


class ExceptionIn(BaseModel):
    scope: Literal["global", "unit", "rule"] = Field(..., examples=["rule"])
    organization_id: str | None = Field(None, max_length=256, examples=["so-tttt"])
    rule_id: str | None = Field(
        None, max_length=256, examples=["0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77"]
    )
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=50)
    reason: str = Field(..., min_length=1, max_length=2000, examples=["vulnerability scanner"])
    expires: dt.datetime | None = Field(None, examples=["2026-12-31T00:00:00Z"])
    enabled: bool = True


class ExceptionPatch(BaseModel):
    conditions: list[ConditionIn] | None = Field(None, max_length=50)
    reason: str | None = Field(None, min_length=1, max_length=2000)
    expires: dt.datetime | None = None
    enabled: bool | None = None


class ExceptionPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        ..., examples=[[{"id": "9d1c0f", "scope": "rule", "rule_id": "r1", "reason": "scanner"}]]
    )
    total: int = Field(..., examples=[1])
    page: int = Field(..., examples=[1])


class ExceptionPreviewIn(ExceptionIn):
    since: str | None = Field(None, examples=["now-30d"], description="Alerts since (default: all)")


class ExceptionPreviewOut(BaseModel):
    alerts: int = Field(..., description="Past alerts it would have suppressed", examples=[4])
    events: int = Field(..., examples=[37])
    examined: int = Field(..., examples=[120])
    sample_ids: list[str] = Field(default_factory=list)


def _check_scope(p: Principal, org: str | None) -> None:
    if p.units is None:
        return
    if org is None:
        raise ProblemError(403, "an exception without a unit needs a province-wide key")
    if org not in p.units:
        raise ProblemError(403, f"unit '{org}' is outside your scope")


def _spec(p: Principal, body: ExceptionIn) -> dict[str, Any]:
    _check_scope(p, body.organization_id)
    data = (
        body.model_dump(exclude={"since"})
        if isinstance(body, ExceptionPreviewIn)
        else body.model_dump()
    )
    data["owner"] = p.actor
    data["conditions"] = [c.model_dump() for c in body.conditions]
    return data


def _scoped(ctx: ApiContext, p: Principal, eid: str) -> dict[str, Any]:
    try:
        doc = exc.get(ctx.client, ctx.names, eid)
    except ExceptionNotFound:
        raise ProblemError(404, f"exception '{eid}' not found") from None
    org = (doc.get("organization") or {}).get("id")
    if org is not None and not p.sees_unit(org):  # as if it did not exist (docs/security.md)
        raise ProblemError(404, f"exception '{eid}' not found")
    _check_scope(p, org)
    return doc


@router.get(
    "",
    response_model=ExceptionPage,
    summary="List exceptions (your units)",
    responses=problem_responses(401, 403, 422, 429),
)
def list_exceptions(
    request: Request,
    rule_id: str | None = Query(None, max_length=256),
    enabled: bool | None = Query(None),
    size: int | None = Query(None, ge=1),
    page: int = Query(1, ge=1, le=1000),
    p: Principal = Depends(require("analyst")),
) -> ExceptionPage:
    ctx = get_ctx(request)
    filters: list[dict[str, Any]] = [*unit_filter(p)]
    if rule_id:
        filters.append({"term": {"rule_id": rule_id}})
    if enabled is not None:
        filters.append({"term": {"enabled": enabled}})
    resp = paged_search(
        ctx,
        size,
        page,
        index=ctx.names.exceptions,
        query={"bool": {"filter": filters}},
        sort=[{"@timestamp": "desc"}],
    )
    items = [{**h["_source"], "id": h["_id"]} for h in resp["hits"]["hits"]]
    return ExceptionPage(items=items, total=int(resp["hits"]["total"]["value"]), page=page)


@router.post(
    "",
    response_model=dict[str, Any],
    status_code=201,
    summary="Create an exception",
    responses=problem_responses(401, 403, 422, 429),
)
def create_exception(
    request: Request, body: ExceptionIn, p: Principal = Depends(require("analyst"))
) -> dict[str, Any]:
    ctx = get_ctx(request)
    try:
        doc = exc.create(ctx.client, ctx.names, _spec(p, body), p.actor)
    except InvalidException as e:
        raise ProblemError(422, str(e)) from None
    audit.record(ctx, p, "exception.create", "exception", doc["id"], None, doc, audit.units_of(doc))
    return doc


@router.post(
    "/preview",
    response_model=ExceptionPreviewOut,
    summary="How many past alerts an exception would have suppressed",
    responses=problem_responses(401, 403, 422, 429),
)
def preview_exception(
    request: Request, body: ExceptionPreviewIn, p: Principal = Depends(require("analyst"))
) -> ExceptionPreviewOut:
    ctx = get_ctx(request)
    try:
        out = exc.preview_details(
            ctx.client, ctx.names, _spec(p, body), since=parse_time(body.since, "since")
        )
    except InvalidException as e:
        raise ProblemError(422, str(e)) from None
    return ExceptionPreviewOut(**out)


@router.get(
    "/{exception_id}",
    response_model=dict[str, Any],
    summary="One exception",
    responses=problem_responses(401, 403, 404, 429),
)
def get_exception(
    request: Request, exception_id: str = ExcId, p: Principal = Depends(require("analyst"))
) -> dict[str, Any]:
    return _scoped(get_ctx(request), p, exception_id)


@router.patch(
    "/{exception_id}",
    response_model=dict[str, Any],
    summary="Change an exception",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def update_exception(
    request: Request,
    body: ExceptionPatch,
    exception_id: str = ExcId,
    p: Principal = Depends(require("analyst")),
) -> dict[str, Any]:
    ctx = get_ctx(request)
    _scoped(ctx, p, exception_id)
    changes = body.model_dump(exclude_unset=True)
    if "conditions" in changes and changes["conditions"] is not None:
        changes["conditions"] = [c.model_dump() for c in body.conditions or []]
    try:
        before, after = exc.update(ctx.client, ctx.names, exception_id, changes, p.actor)
    except ExceptionNotFound:
        raise ProblemError(404, f"exception '{exception_id}' not found") from None
    except InvalidException as e:
        raise ProblemError(422, str(e)) from None
    except ConcurrentUpdate:
        raise ProblemError(409, "the exception kept changing; try again") from None
    audit.record(
        ctx, p, "exception.update", "exception", exception_id, before, after, audit.units_of(after)
    )
    return after


@router.delete(
    "/{exception_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an exception",
    responses=problem_responses(401, 403, 404, 429),
)
def delete_exception(
    request: Request, exception_id: str = ExcId, p: Principal = Depends(require("analyst"))
) -> Response:
    ctx = get_ctx(request)
    _scoped(ctx, p, exception_id)
    try:
        before = exc.delete(ctx.client, ctx.names, exception_id)
    except ExceptionNotFound:
        raise ProblemError(404, f"exception '{exception_id}' not found") from None
    audit.record(
        ctx, p, "exception.delete", "exception", exception_id, before, None, audit.units_of(before)
    )
    return Response(status_code=204)
