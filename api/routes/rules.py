"""Sigma rules: list/search, get (YAML, versions, detection counts), create/update from YAML
(validated: 422 with line and field), enable/disable, delete, versions + diff + rollback,
test against posted events, preview against stored events, the converted query.

Rules are province-wide objects: reading them needs an analyst, changing them an admin bound
to the whole province. Previews and detection counts are scoped to the caller's units.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from socmon.api import audit
from socmon.api.auth import Principal, require, unit_filter
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import paged_search, range_clause, search, time_range
from socmon.api.sigma_tools import Checked, check, ensure_id, es_query, yaml_id
from socmon.rules import store

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])

RULE_YAML = """title: SSH brute force from one address
id: 0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77
status: experimental
description: Many failed SSH logins
logsource:
  product: linux
  service: sshd
detection:
  selection:
    event.outcome: failure
    message|contains: Failed password
  condition: selection
level: high
tags:
  - attack.credential_access
  - attack.t1110
"""

RuleId = Path(
    ...,
    max_length=256,
    pattern=r"^[A-Za-z0-9_.:\-]+$",
    examples=["0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77"],
)


class RuleIn(BaseModel):
    yaml: str = Field(
        ...,
        min_length=1,
        max_length=200_000,
        examples=[RULE_YAML],
        description="One Sigma rule as YAML.",
    )
    enabled: bool | None = Field(
        None, description="Default: disabled for a new rule, unchanged on update.", examples=[False]
    )


class RuleSummary(BaseModel):
    rule_id: str = Field(..., examples=["0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77"])
    title: str = Field("", examples=["SSH brute force from one address"])
    status: str = Field("", examples=["experimental"])
    level: str = Field("", examples=["high"])
    tags: list[str] = Field(default_factory=list, examples=[["attack.t1110"]])
    logsource: dict[str, str] = Field(default_factory=dict, examples=[{"product": "linux"}])
    enabled: bool = Field(False, examples=[True])
    version: int = Field(1, examples=[3])
    updated: str = Field("", examples=["2026-11-24T10:00:00.000Z"])
    updated_by: str = Field("", examples=["key:admin"])
    author: str = ""
    description: str = ""
    detections: int | None = Field(None, description="Alerts of this rule in your units.")


class RulePage(BaseModel):
    items: list[RuleSummary]
    total: int = Field(..., examples=[1])
    page: int = Field(..., examples=[1])


class RuleDetail(RuleSummary):
    yaml: str = Field(..., examples=[RULE_YAML])
    versions: list[dict[str, Any]] = Field(default_factory=list)
    detection_counts: dict[str, int] = Field(
        default_factory=dict,
        description="Alerts of this rule by status (your units).",
        examples=[{"open": 3, "resolved": 10}],
    )


class ConvertedQuery(BaseModel):
    rule_id: str | None = None
    lucene: str = Field(..., examples=["event.outcome:failure AND message:*Failed\\ password*"])
    query: dict[str, Any] = Field(..., description="Elasticsearch query DSL")
    index: str = Field(..., examples=["socmon-events-*"])


class ValidationReport(BaseModel):
    valid: bool
    rule_id: str | None = None
    problems: list[dict[str, Any]] = Field(
        default_factory=list,
        examples=[[{"msg": "Unknown modifier 'contanis'", "line": 9, "field": "message"}]],
    )
    lucene: str | None = None


class TestIn(BaseModel):
    yaml: str = Field(..., min_length=1, max_length=200_000, examples=[RULE_YAML])
    events: list[dict[str, Any]] = Field(
        ...,
        max_length=1000,
        examples=[
            [
                {
                    "@timestamp": "2026-11-24T10:00:00.000Z",
                    "event": {"outcome": "failure", "dataset": "sshd"},
                    "message": "Failed password for root",
                }
            ]
        ],
    )


class TestResult(BaseModel):
    matched: int = Field(..., examples=[1])
    total: int = Field(..., examples=[1])
    matches: list[int] = Field(..., description="Indexes of the matching events.", examples=[[0]])
    detections: list[dict[str, Any]] = Field(default_factory=list)


class RulePreviewIn(BaseModel):
    yaml: str | None = Field(
        None,
        max_length=200_000,
        examples=[RULE_YAML],
        description="A rule to preview; omit on /rules/{id}/preview.",
    )
    start: str | None = Field(None, examples=["now-7d"])
    end: str | None = Field(None, examples=["now"])
    samples: int = Field(10, ge=0, le=100)


class PreviewResult(BaseModel):
    total: int = Field(..., description="Events the rule would have matched.", examples=[12])
    by_day: list[dict[str, Any]] = Field(..., examples=[[{"day": "2026-11-24", "count": 12}]])
    by_unit: list[dict[str, Any]] = Field(..., examples=[[{"id": "so-tttt", "count": 12}]])
    samples: list[dict[str, Any]] = Field(default_factory=list)
    lucene: str = Field(..., examples=["event.outcome:failure"])


class RollbackIn(BaseModel):
    version: int = Field(..., ge=1, examples=[2])


# ---------------------------------------------------------------- helpers


def _checked_or_422(text: str) -> Checked:
    c = check(text)
    if not c.ok:
        raise ProblemError(422, "the Sigma rule is not valid", errors=c.problems)
    return c


def _current_or_404(ctx: ApiContext, rule_id: str) -> dict[str, Any]:
    doc = store.get_rule(ctx.client, ctx.names, rule_id)
    if doc is None:
        raise ProblemError(404, f"rule '{rule_id}' not found")
    return doc


def _summary(doc: dict[str, Any], detections: int | None = None) -> RuleSummary:
    return RuleSummary(
        **{k: doc[k] for k in RuleSummary.model_fields if k in doc and k != "detections"},
        detections=detections,
    )


def _detections(ctx: ApiContext, p: Principal, rule_ids: list[str]) -> dict[str, int]:
    if not rule_ids:
        return {}
    resp = search(
        ctx,
        index=ctx.names.alerts,
        size=0,
        query={"bool": {"filter": [{"terms": {"rule.id": rule_ids}}, *unit_filter(p)]}},
        aggs={"r": {"terms": {"field": "rule.id", "size": len(rule_ids)}}},
    )
    aggs = resp.get("aggregations") or {}
    return {b["key"]: b["doc_count"] for b in (aggs.get("r") or {}).get("buckets", [])}


def _audit_rule(
    ctx: ApiContext,
    p: Principal,
    action: str,
    rule_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    audit.record(ctx, p, action, "rule", rule_id, before, after)


# ---------------------------------------------------------------- read


@router.get(
    "",
    response_model=RulePage,
    summary="List and search rules",
    responses=problem_responses(401, 403, 422, 429),
)
def list_rules(
    request: Request,
    q: str | None = Query(None, max_length=500, description="Words of the title/description"),
    tag: list[str] | None = Query(None, description="Sigma tag, e.g. attack.credential_access"),
    technique: str | None = Query(None, max_length=64, description="ATT&CK id, e.g. T1110"),
    product: str | None = Query(None, max_length=128),
    category: str | None = Query(None, max_length=128),
    service: str | None = Query(None, max_length=128),
    status: str | None = Query(None, max_length=64, description="Sigma status"),
    level: str | None = Query(None, max_length=64),
    enabled: bool | None = Query(None),
    size: int | None = Query(None, ge=1),
    page: int = Query(1, ge=1, le=1000),
    p: Principal = Depends(require("analyst")),
) -> RulePage:
    ctx = get_ctx(request)
    filters: list[dict[str, Any]] = [{"term": {"kind": "current"}}]
    for fld, v in (
        ("logsource.product", product),
        ("logsource.category", category),
        ("logsource.service", service),
        ("status", status),
        ("level", level),
    ):
        if v:
            filters.append({"term": {fld: v}})
    if enabled is not None:
        filters.append({"term": {"enabled": enabled}})
    for t in tag or []:
        filters.append({"term": {"tags": t}})
    if technique:
        filters.append({"term": {"tags": "attack." + technique.lower()}})
    must = []
    if q:
        must.append(
            {
                "simple_query_string": {
                    "query": q,
                    "fields": ["title^3", "description"],
                    "default_operator": "and",
                    "lenient": True,
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|WHITESPACE",
                }
            }
        )
    resp = paged_search(
        ctx,
        size,
        page,
        index=ctx.names.rules,
        query={"bool": {"filter": filters, "must": must}},
        sort=[{"title.keyword": "asc"}, {"rule_id": "asc"}],
        source_excludes=["yaml"],
    )
    docs = [h["_source"] for h in resp["hits"]["hits"]]
    counts = _detections(ctx, p, [d["rule_id"] for d in docs])
    return RulePage(
        items=[_summary(d, counts.get(d["rule_id"], 0)) for d in docs],
        total=int(resp["hits"]["total"]["value"]),
        page=page,
    )


@router.get(
    "/{rule_id}",
    response_model=RuleDetail,
    summary="One rule: YAML, versions, counts",
    responses=problem_responses(401, 403, 404, 429),
)
def get_rule(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("analyst"))
) -> RuleDetail:
    ctx = get_ctx(request)
    doc = _current_or_404(ctx, rule_id)
    versions = [
        {k: v for k, v in d.items() if k != "yaml"}
        for d in store.versions(ctx.client, ctx.names, rule_id)
    ]
    resp = search(
        ctx,
        index=ctx.names.alerts,
        size=0,
        query={"bool": {"filter": [{"term": {"rule.id": rule_id}}, *unit_filter(p)]}},
        aggs={"s": {"terms": {"field": "status", "size": 10}}},
    )
    by_status = {
        b["key"]: b["doc_count"]
        for b in ((resp.get("aggregations") or {}).get("s") or {}).get("buckets", [])
    }
    s = _summary(doc, sum(by_status.values()))
    return RuleDetail(
        **s.model_dump(), yaml=doc["yaml"], versions=versions, detection_counts=by_status
    )


@router.get(
    "/{rule_id}/yaml",
    response_class=Response,
    summary="The rule's YAML text",
    responses={
        200: {
            "content": {"application/yaml": {"schema": {"type": "string"}}},
            "description": "Sigma YAML",
        },
        **problem_responses(401, 403, 404),
    },
)
def get_rule_yaml(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("analyst"))
) -> Response:
    doc = _current_or_404(get_ctx(request), rule_id)
    return Response(doc["yaml"], media_type="application/yaml")


@router.get(
    "/{rule_id}/versions",
    response_model=list[dict[str, Any]],
    summary="Version history (with YAML)",
    responses=problem_responses(401, 403, 404),
)
def rule_versions(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("analyst"))
) -> list[dict[str, Any]]:
    ctx = get_ctx(request)
    out = store.versions(ctx.client, ctx.names, rule_id)
    if not out:
        raise ProblemError(404, f"rule '{rule_id}' has no versions")
    return out


@router.get(
    "/{rule_id}/diff",
    response_class=Response,
    summary="Unified diff between two versions (default: previous -> latest)",
    responses={
        200: {
            "content": {"text/x-diff": {"schema": {"type": "string"}}},
            "description": "unified diff",
        },
        **problem_responses(401, 403, 404, 422),
    },
)
def rule_diff(
    request: Request,
    rule_id: str = RuleId,
    from_version: int | None = Query(None, alias="from", ge=1),
    to_version: int | None = Query(None, alias="to", ge=1),
    p: Principal = Depends(require("analyst")),
) -> Response:
    ctx = get_ctx(request)
    vs = {v["version"]: v for v in store.versions(ctx.client, ctx.names, rule_id)}
    if not vs:
        raise ProblemError(404, f"rule '{rule_id}' has no versions")
    b = to_version or max(vs)
    a = from_version or max(b - 1, 1)
    if a not in vs or b not in vs:
        raise ProblemError(404, f"version {a if a not in vs else b} does not exist")
    text = "".join(
        difflib.unified_diff(
            vs[a]["yaml"].splitlines(keepends=True),
            vs[b]["yaml"].splitlines(keepends=True),
            fromfile=f"{rule_id}@{a}",
            tofile=f"{rule_id}@{b}",
        )
    )
    return Response(text, media_type="text/x-diff")


@router.get(
    "/{rule_id}/query",
    response_model=ConvertedQuery,
    summary="The rule converted to an Elasticsearch query",
    responses=problem_responses(401, 403, 404, 422),
)
def rule_query(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("analyst"))
) -> ConvertedQuery:
    ctx = get_ctx(request)
    c = _checked_or_422(_current_or_404(ctx, rule_id)["yaml"])
    assert c.lucene is not None
    return ConvertedQuery(
        rule_id=rule_id, lucene=c.lucene, query=es_query(c.lucene), index=ctx.names.events_pattern
    )


# ---------------------------------------------------------------- write


@router.post(
    "/validate",
    response_model=ValidationReport,
    summary="Validate Sigma YAML without storing it (problems with line and field)",
    responses=problem_responses(401, 403, 422),
)
def validate_rule(
    request: Request, body: RuleIn, p: Principal = Depends(require("analyst"))
) -> ValidationReport:
    c = check(body.yaml)
    return ValidationReport(valid=c.ok, rule_id=c.rule_id, problems=c.problems, lucene=c.lucene)


@router.post(
    "",
    response_model=RuleDetail,
    status_code=201,
    summary="Create a rule from Sigma YAML",
    responses=problem_responses(401, 403, 409, 422, 429),
)
def create_rule(
    request: Request, body: RuleIn, p: Principal = Depends(require("admin", province=True))
) -> RuleDetail:
    ctx = get_ctx(request)
    _checked_or_422(body.yaml)  # line numbers as the caller wrote them
    rule_id, text = ensure_id(body.yaml)
    if store.get_rule(ctx.client, ctx.names, rule_id) is not None:
        raise ProblemError(409, f"rule '{rule_id}' exists; update it with PUT")
    return _save(request, p, rule_id, text, bool(body.enabled), "created", "rule.create", None)


@router.put(
    "/{rule_id}",
    response_model=RuleDetail,
    summary="Update a rule (new version)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def update_rule(
    request: Request,
    body: RuleIn,
    rule_id: str = RuleId,
    p: Principal = Depends(require("admin", province=True)),
) -> RuleDetail:
    ctx = get_ctx(request)
    before = _current_or_404(ctx, rule_id)
    _checked_or_422(body.yaml)
    given = yaml_id(body.yaml)
    if given is not None and given != rule_id:
        raise ProblemError(422, f"the YAML's id '{given}' is not '{rule_id}'")
    text = body.yaml if given is not None else f"id: {rule_id}\n{body.yaml}"
    return _save(request, p, rule_id, text, body.enabled, "updated", "rule.update", before)


def _save(
    request: Request,
    p: Principal,
    rule_id: str,
    text: str,
    enabled: bool | None,
    change: str,
    action: str,
    before: dict[str, Any] | None,
) -> RuleDetail:
    """Store ``text`` as the rule's new version, audit it as ``action``; the rule after."""
    ctx = get_ctx(request)
    doc = store.save_rule(
        ctx.client, ctx.names, rule_id, text, p.actor, enabled=enabled, change=change
    )
    _audit_rule(ctx, p, action, rule_id, before, doc)
    return get_rule(request, rule_id, p)


def _set_enabled(request: Request, rule_id: str, p: Principal, on: bool) -> RuleDetail:
    ctx = get_ctx(request)
    before = _current_or_404(ctx, rule_id)
    if on:
        _checked_or_422(before["yaml"])
    after = store.set_enabled(ctx.client, ctx.names, rule_id, on, p.actor)
    _audit_rule(ctx, p, "rule.enable" if on else "rule.disable", rule_id, before, after)
    return get_rule(request, rule_id, p)


@router.post(
    "/{rule_id}/enable",
    response_model=RuleDetail,
    summary="Enable a rule",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def enable_rule(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("admin", province=True))
) -> RuleDetail:
    return _set_enabled(request, rule_id, p, True)


@router.post(
    "/{rule_id}/disable",
    response_model=RuleDetail,
    summary="Disable a rule",
    responses=problem_responses(401, 403, 404, 429),
)
def disable_rule(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("admin", province=True))
) -> RuleDetail:
    return _set_enabled(request, rule_id, p, False)


@router.delete(
    "/{rule_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a rule (its versions are kept)",
    responses=problem_responses(401, 403, 404, 429),
)
def delete_rule(
    request: Request, rule_id: str = RuleId, p: Principal = Depends(require("admin", province=True))
) -> Response:
    ctx = get_ctx(request)
    before = _current_or_404(ctx, rule_id)
    store.delete_rule(ctx.client, ctx.names, rule_id, p.actor)
    _audit_rule(ctx, p, "rule.delete", rule_id, before, None)
    return Response(status_code=204)


@router.post(
    "/{rule_id}/rollback",
    response_model=RuleDetail,
    summary="Make an earlier version current again (as a new version)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def rollback_rule(
    request: Request,
    body: RollbackIn,
    rule_id: str = RuleId,
    p: Principal = Depends(require("admin", province=True)),
) -> RuleDetail:
    ctx = get_ctx(request)
    vs = {v["version"]: v for v in store.versions(ctx.client, ctx.names, rule_id)}
    if body.version not in vs:
        raise ProblemError(404, f"rule '{rule_id}' has no version {body.version}")
    before = store.get_rule(ctx.client, ctx.names, rule_id)
    text = vs[body.version]["yaml"]
    _checked_or_422(text)
    enabled = before["enabled"] if before else False
    return _save(request, p, rule_id, text, enabled, "rollback", "rule.rollback", before)


# ---------------------------------------------------------------- try out


@router.post(
    "/test",
    response_model=TestResult,
    summary="Run a rule against posted sample events",
    responses=problem_responses(401, 403, 413, 422, 429, 501),
)
def test_rule(
    request: Request, body: TestIn, p: Principal = Depends(require("admin"))
) -> TestResult:
    from socmon.api.engine_bridge import evaluate

    _checked_or_422(body.yaml)
    _, text = ensure_id(body.yaml)
    return TestResult(**evaluate(text, body.events))


def _preview(ctx: ApiContext, p: Principal, text: str, body: RulePreviewIn) -> PreviewResult:
    c = _checked_or_422(text)
    assert c.lucene is not None
    t0, t1 = time_range(ctx, body.start, body.end, default="now-7d")
    q = {
        "bool": {
            "filter": [range_clause("@timestamp", t0, t1), *unit_filter(p)],
            "must": [es_query(c.lucene)],
        }
    }
    resp = search(
        ctx,
        index=ctx.names.events_pattern,
        query=q,
        size=body.samples,
        sort=[{"@timestamp": "desc"}],
        track_total_hits=True,
        ignore_unavailable=True,
        allow_no_indices=True,
        aggs={
            "day": {
                "date_histogram": {
                    "field": "@timestamp",
                    "calendar_interval": "1d",
                    "format": "yyyy-MM-dd",
                }
            },
            "unit": {"terms": {"field": "organization.id", "size": 100}},
        },
    )
    aggs = resp.get("aggregations") or {}
    return PreviewResult(
        total=int(resp["hits"]["total"]["value"]),
        by_day=[
            {"day": b["key_as_string"], "count": b["doc_count"]}
            for b in (aggs.get("day") or {}).get("buckets", [])
            if b["doc_count"]
        ],
        by_unit=[
            {"id": b["key"], "count": b["doc_count"]}
            for b in (aggs.get("unit") or {}).get("buckets", [])
        ],
        samples=[
            {**h["_source"], "_id": h["_id"], "_index": h["_index"]} for h in resp["hits"]["hits"]
        ],
        lucene=c.lucene,
    )


@router.post(
    "/preview",
    response_model=PreviewResult,
    summary="What a rule (posted YAML) would have matched in stored events",
    responses=problem_responses(401, 403, 422, 429, 504),
)
def preview_yaml(
    request: Request, body: RulePreviewIn, p: Principal = Depends(require("admin"))
) -> PreviewResult:
    if not body.yaml:
        raise ProblemError(422, "yaml is required here")
    # no id added: the problems' line numbers are those of the posted text
    return _preview(get_ctx(request), p, body.yaml, body)


@router.post(
    "/{rule_id}/preview",
    response_model=PreviewResult,
    summary="What a stored rule would have matched in stored events",
    responses=problem_responses(401, 403, 404, 422, 429, 504),
)
def preview_rule(
    request: Request,
    body: RulePreviewIn | None = None,
    rule_id: str = RuleId,
    p: Principal = Depends(require("admin")),
) -> PreviewResult:
    ctx = get_ctx(request)
    return _preview(
        ctx, p, _current_or_404(ctx, rule_id)["yaml"], body or RulePreviewIn.model_validate({})
    )
