"""Alerts: list (filters, sorting, cursor pagination over a point in time), detail, status,
assignee, notes, bulk actions. Reads are unit-scoped inside the Elasticsearch query."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from elasticsearch import NotFoundError
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, IPvAnyAddress

from socmon.alerting import lifecycle
from socmon.alerting.errors import AlertNotFound, ConcurrentUpdate, InvalidTransition
from socmon.api import audit
from socmon.api.auth import Principal, require, unit_filter
from socmon.api.context import ApiContext, get_ctx
from socmon.api.cursors import decode_cursor, encode_cursor
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import (
    page_size,
    parse_time,
    search,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

SORT_FIELDS = ("@timestamp", "last_seen", "first_seen", "risk_score", "event_count", "sla_due")
LIST_EXCLUDES = ["events", "history", "notes", "event_refs"]
# Sort fields that never change once an alert exists (@timestamp is its creation time).
IMMUTABLE_SORTS = ("@timestamp",)
BULK_LIMIT = 10_000

SortField = Literal["@timestamp", "last_seen", "first_seen", "risk_score", "event_count", "sla_due"]
Status = Literal["open", "acknowledged", "in_progress", "resolved", "false_positive"]
Severity = Literal["informational", "low", "medium", "high", "critical"]

ALERT_EXAMPLE: dict[str, Any] = {
    "id": "3f2a9c0d4e5b6a7c",
    "@timestamp": "2026-11-24T10:00:00.000Z",
    "first_seen": "2026-11-24T10:00:00.000Z",
    "last_seen": "2026-11-24T10:05:00.000Z",
    "status": "open",
    "severity": "high",
    "risk_score": 73,
    "event_count": 12,
    "assignee": None,
    "rule": {"id": "5b0b2f2e-...", "name": "SSH brute force", "level": "high"},
    "organization": {"id": "so-tttt", "name": "Sở Thông tin và Truyền thông"},
    "source": {"ip": "203.0.113.7"},
}


class AlertPage(BaseModel):
    items: list[dict[str, Any]] = Field(..., examples=[[ALERT_EXAMPLE]])
    total: int = Field(..., description="Matching alerts (exact up to 10,000).", examples=[1])
    total_relation: Literal["eq", "gte"] = Field("eq", examples=["eq"])
    next_cursor: str | None = Field(
        None,
        description="Pass as `cursor` to get the next page (absent on the last page). Alerts "
        "changing meanwhile neither repeat nor vanish: sorted by creation time (@timestamp, "
        "the default) pages continue after the last (time, id) seen; sorted by a field that "
        "changes, pages come from one point in time.",
    )


class AlertDetail(BaseModel):
    alert: dict[str, Any] = Field(..., examples=[ALERT_EXAMPLE])
    events: list[dict[str, Any]] = Field(
        default_factory=list, description="The matched events (stored ones, up to 100)."
    )
    history: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[dict[str, Any]] = Field(default_factory=list)


class StatusChange(BaseModel):
    status: Status = Field(..., examples=["acknowledged"])
    note: str | None = Field(None, max_length=10_000, examples=["looking into it"])


class AssigneeChange(BaseModel):
    assignee: str | None = Field(
        ..., max_length=256, examples=["analyst.nguyen"], description="null to unassign"
    )
    note: str | None = Field(None, max_length=10_000)


class NoteIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=10_000, examples=["Blocked on the firewall"])


class AlertFilter(BaseModel):
    status: list[Status] | None = None
    severity: list[Severity] | None = None
    unit: list[str] | None = None
    rule: list[str] | None = None
    assignee: str | None = None
    start: str | None = Field(None, examples=["now-7d"])
    end: str | None = None
    q: str | None = Field(None, max_length=1000)
    ip: IPvAnyAddress | None = Field(None, description="source.ip or destination.ip")
    host: str | None = Field(None, max_length=1024, description="host.name")
    user: str | None = Field(None, max_length=1024, description="user.name")


class BulkAction(BaseModel):
    ids: list[str] | None = Field(None, max_length=BULK_LIMIT, examples=[["3f2a9c0d4e5b6a7c"]])
    filter: AlertFilter | None = Field(None, description="Instead of ids: every matching alert.")
    status: Status | None = Field(None, examples=["resolved"])
    assignee: str | None = Field(None, max_length=256)
    unassign: bool = False
    note: str | None = Field(None, max_length=10_000)


class BulkResult(BaseModel):
    matched: int = Field(..., examples=[2])
    updated: list[str] = Field(..., examples=[["3f2a9c0d4e5b6a7c"]])
    failed: list[dict[str, str]] = Field(
        ..., examples=[[{"id": "a2", "error": "cannot go from resolved to acknowledged"}]]
    )


# ---------------------------------------------------------------- query building


def build_query(ctx: ApiContext, p: Principal, f: AlertFilter) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [*unit_filter(p)]
    if f.unit:
        outside = [u for u in f.unit if not p.sees_unit(u)]
        if outside:
            raise ProblemError(403, f"unit(s) outside your scope: {', '.join(outside)}")
        filters.append({"terms": {"organization.id": f.unit}})
    if f.status:
        filters.append({"terms": {"status": list(f.status)}})
    if f.severity:
        filters.append({"terms": {"severity": list(f.severity)}})
    if f.rule:
        filters.append({"terms": {"rule.id": f.rule}})
    if f.assignee:
        filters.append({"term": {"assignee": f.assignee}})
    filters.extend(entity_clauses(str(f.ip) if f.ip else None, f.host, f.user))
    t0 = parse_time(f.start, "start")
    t1 = parse_time(f.end, "end")
    if t0 or t1:
        rng: dict[str, Any] = {"format": "strict_date_optional_time"}
        if t0:
            rng["gte"] = t0.isoformat()
        if t1:
            rng["lte"] = t1.isoformat()
        filters.append({"range": {"@timestamp": rng}})
    must: list[dict[str, Any]] = []
    if f.q:
        # simple_query_string never fails on syntax and has no scripts or regex-heavy features.
        must.append(
            {
                "simple_query_string": {
                    "query": f.q,
                    "fields": [
                        "message",
                        "rule.name",
                        "rule.description",
                        "host.name",
                        "user.name",
                        "group_key",
                        "notes.text",
                    ],
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE",
                    "lenient": True,
                    "default_operator": "and",
                }
            }
        )
    return {"bool": {"filter": filters, "must": must}}


def entity_clauses(ip: str | None, host: str | None, user: str | None) -> list[dict[str, Any]]:
    """Filter clauses for alerts (or events) about an address, a host or a user."""
    out: list[dict[str, Any]] = []
    if ip:
        should = [{"term": {f: ip}} for f in ("source.ip", "destination.ip")]
        out.append({"bool": {"should": should, "minimum_should_match": 1}})
    if host:
        out.append({"term": {"host.name": host}})
    if user:
        out.append({"term": {"user.name": user}})
    return out


def _hit(h: dict[str, Any]) -> dict[str, Any]:
    doc = dict(h["_source"])
    doc["id"] = h["_id"]
    return doc


def scoped_alert(ctx: ApiContext, p: Principal, alert_id: str) -> dict[str, Any]:
    """The alert if it exists within the principal's units, else 404: an alert of another
    unit answers exactly as one that does not exist (docs/security.md)."""
    q = {"bool": {"filter": [{"ids": {"values": [alert_id]}}, *unit_filter(p)]}}
    resp = search(ctx, index=ctx.names.alerts, query=q, size=1)
    hits = resp["hits"]["hits"]
    if hits:
        return _hit(hits[0])
    raise ProblemError(404, f"alert '{alert_id}' not found")


def _trim(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("events",)}


def _audit(
    ctx: ApiContext,
    p: Principal,
    action: str,
    alert_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    audit.record(
        ctx, p, action, "alert", alert_id, _trim(before), _trim(after), audit.units_of(after)
    )


def change(
    ctx: ApiContext,
    p: Principal,
    alert_id: str,
    action: str,
    change: Callable[..., tuple[dict[str, Any], dict[str, Any]]],
    *args: Any,
) -> dict[str, Any]:
    """``change(client, names, alert_id, *args)`` (an ``alerting.lifecycle`` function) on an
    alert in the principal's scope, audited as ``action``; the alert after it, trimmed."""
    scoped_alert(ctx, p, alert_id)
    try:
        before, after = change(ctx.client, ctx.names, alert_id, *args, refresh="wait_for")
    except AlertNotFound:
        raise ProblemError(404, f"alert '{alert_id}' not found") from None
    except InvalidTransition as e:
        raise ProblemError(409, str(e), title="Invalid Transition") from None
    except ConcurrentUpdate:
        raise ProblemError(409, "the alert kept changing; try again") from None
    except ValueError as e:
        raise ProblemError(422, str(e)) from None
    ctx.invalidate_pit()
    _audit(ctx, p, action, alert_id, before, after)
    return _trim(after)


# ---------------------------------------------------------------- routes


@router.get(
    "",
    response_model=AlertPage,
    summary="List alerts (filters, sort, cursor pagination)",
    responses=problem_responses(400, 401, 403, 410, 422, 429, 504),
)
def list_alerts(
    request: Request,
    status: list[Status] | None = Query(None, description="Repeat for several."),
    severity: list[Severity] | None = Query(None),
    unit: list[str] | None = Query(None, description="organization.id; within your scope."),
    rule: list[str] | None = Query(None, description="rule.id"),
    assignee: str | None = Query(None, max_length=256),
    start: str | None = Query(None, description="ISO 8601 or now-7d", examples=["now-7d"]),
    end: str | None = Query(None, examples=["now"]),
    q: str | None = Query(None, max_length=1000, description="Free text (simple query syntax)."),
    ip: IPvAnyAddress | None = Query(None, description="source.ip or destination.ip"),
    host: str | None = Query(None, max_length=1024, description="host.name"),
    user: str | None = Query(None, max_length=1024, description="user.name"),
    sort: SortField = Query("@timestamp"),
    order: Literal["asc", "desc"] = Query("desc"),
    size: int | None = Query(None, ge=1, description="Page size (api.max_page_size at most)."),
    cursor: str | None = Query(None, max_length=8192, description="next_cursor of a page."),
    p: Principal = Depends(require("viewer")),
) -> AlertPage:
    f = AlertFilter(
        status=status,
        severity=severity,
        unit=unit,
        rule=rule,
        assignee=assignee,
        start=start,
        end=end,
        q=q,
        ip=ip,
        host=host,
        user=user,
    )
    return list_page(get_ctx(request), p, f, sort, order, size, cursor)


def list_page(
    ctx: ApiContext,
    p: Principal,
    f: AlertFilter,
    sort: str = "@timestamp",
    order: str = "desc",
    size: int | None = None,
    cursor: str | None = None,
    fields: list[str] | None = None,
) -> AlertPage:
    """One page of the principal's alerts (the query of ``GET /api/v1/alerts``, shared with
    the console's queue): ``f`` for a first page, or the state a ``cursor`` carries.
    ``fields``: only these fields of each alert (the console's queue shows ten)."""
    if cursor:
        state = decode_cursor(ctx, "alerts", cursor)
        try:
            f = AlertFilter.model_validate(state["f"])
            sort_field, sort_order, n = state["s"], state["o"], int(state["z"])
            pit_id, after = state.get("p"), list(state["a"])
        except Exception:
            raise ProblemError(400, "the cursor is not valid") from None
        if sort_field not in SORT_FIELDS or sort_order not in ("asc", "desc"):
            raise ProblemError(400, "the cursor is not valid")
    else:
        if sort not in SORT_FIELDS or order not in ("asc", "desc"):
            raise ProblemError(422, f"sort must be one of {', '.join(SORT_FIELDS)}")
        sort_field, sort_order, n = sort, order, page_size(ctx, size)
        # Sorting on a field that changes needs a snapshot (point in time); sorting on the
        # creation time with the alert id as tiebreaker is exact without one.
        pit_id, after = (None if sort_field in IMMUTABLE_SORTS else ctx.alerts_pit()), []
    query = build_query(ctx, p, f)
    body: dict[str, Any] = {
        "query": query,
        "size": n,
        "sort": [{sort_field: {"order": sort_order, "missing": "_last", "unmapped_type": "date"}}],
        "track_total_hits": 10_000,
        "_source": {"includes": fields} if fields else {"excludes": LIST_EXCLUDES},
    }
    if pit_id:
        body["pit"] = {"id": str(pit_id), "keep_alive": ctx.settings.api.cursor_keep_alive}
    else:
        body["index"] = ctx.names.alerts
        body["sort"].append({"id": {"order": "asc", "unmapped_type": "keyword"}})
    if after:
        body["search_after"] = after
    resp = search(ctx, **body)
    hits = resp["hits"]["hits"]
    total = resp["hits"]["total"]
    nxt = None
    if len(hits) == n:
        nxt = encode_cursor(
            ctx,
            "alerts",
            {
                "p": resp.get("pit_id", pit_id) if pit_id else None,
                "a": hits[-1]["sort"],
                "f": f.model_dump(mode="json", exclude_none=True),
                "s": sort_field,
                "o": sort_order,
                "z": n,
            },
        )
    return AlertPage(
        items=[_hit(h) for h in hits],
        total=int(total["value"]),
        total_relation=total.get("relation", "eq"),
        next_cursor=nxt,
    )


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    summary="One alert with its matched events, history and notes",
    responses=problem_responses(401, 403, 404, 429),
)
def get_alert(
    request: Request,
    alert_id: str = Path(..., max_length=512, examples=["3f2a9c0d4e5b6a7c"]),
    p: Principal = Depends(require("viewer")),
) -> AlertDetail:
    return alert_detail(get_ctx(request), p, alert_id)


def alert_detail(ctx: ApiContext, p: Principal, alert_id: str) -> AlertDetail:
    """The alert in the principal's scope with its events (of its units), history, notes."""
    doc = scoped_alert(ctx, p, alert_id)
    events: list[dict[str, Any]] = []
    refs = [r for r in doc.get("event_refs") or [] if isinstance(r, dict) and r.get("id")][:100]
    stored = [r for r in refs if r.get("index")]
    if stored:
        try:
            resp = ctx.es().mget(docs=[{"_index": r["index"], "_id": r["id"]} for r in stored])
            for d in resp["docs"]:
                if d.get("found"):
                    ev = dict(d["_source"])
                    ev["_id"], ev["_index"] = d["_id"], d["_index"]
                    # The events a principal sees are those of its units.
                    if p.sees_unit((ev.get("organization") or {}).get("id")):
                        events.append(ev)
        except NotFoundError:
            pass
    if not events:
        samples = doc.get("events") or []
        events = [e for e in samples if isinstance(e, dict)][:100]
    history = doc.pop("history", None) or []
    notes = doc.pop("notes", None) or []
    doc.pop("events", None)
    return AlertDetail(alert=doc, events=events, history=history, notes=notes)


@router.post(
    "/{alert_id}/status",
    response_model=dict[str, Any],
    summary="Change the status (validated transition, recorded in history and audit)",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def set_status(
    request: Request,
    body: StatusChange,
    alert_id: str = Path(..., max_length=512),
    p: Principal = Depends(require("analyst")),
) -> dict[str, Any]:
    ctx = get_ctx(request)
    return change(
        ctx, p, alert_id, "alert.status", lifecycle.change_status, body.status, p.actor, body.note
    )


@router.post(
    "/{alert_id}/assignee",
    response_model=dict[str, Any],
    summary="Assign or unassign (recorded in history and audit)",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def set_assignee(
    request: Request,
    body: AssigneeChange,
    alert_id: str = Path(..., max_length=512),
    p: Principal = Depends(require("analyst")),
) -> dict[str, Any]:
    ctx = get_ctx(request)
    return change(
        ctx, p, alert_id, "alert.assign", lifecycle.assign, body.assignee, p.actor, body.note
    )


@router.post(
    "/{alert_id}/notes",
    response_model=dict[str, Any],
    status_code=201,
    summary="Add a note",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def add_note(
    request: Request,
    body: NoteIn,
    alert_id: str = Path(..., max_length=512),
    p: Principal = Depends(require("analyst")),
) -> dict[str, Any]:
    ctx = get_ctx(request)
    return change(ctx, p, alert_id, "alert.note", lifecycle.add_note, body.text, p.actor)


@router.post(
    "/bulk",
    response_model=BulkResult,
    summary="Change status / assignee / add a note on many alerts, by ids or by filter",
    responses=problem_responses(401, 403, 422, 429),
)
def bulk(
    request: Request, body: BulkAction, p: Principal = Depends(require("analyst"))
) -> BulkResult:
    return apply_bulk(get_ctx(request), p, body)


def apply_bulk(ctx: ApiContext, p: Principal, body: BulkAction) -> BulkResult:
    """A bulk action on the principal's alerts, each change audited; the result per alert."""
    if (body.ids is None) == (body.filter is None):
        raise ProblemError(422, "give either ids or filter")
    if body.status is None and body.assignee is None and not body.unassign and not body.note:
        raise ProblemError(422, "nothing to do: give status, assignee, unassign or note")
    if body.ids is not None:
        q = {"bool": {"filter": [{"ids": {"values": body.ids}}, *unit_filter(p)]}}
    else:
        assert body.filter is not None
        q = build_query(ctx, p, body.filter)
    resp = search(ctx, index=ctx.names.alerts, query=q, size=BULK_LIMIT, _source=False)
    found = [h["_id"] for h in resp["hits"]["hits"]]
    failed: list[dict[str, str]] = []
    if body.ids is not None:
        missing = sorted(set(body.ids) - set(found))
        failed.extend({"id": i, "error": "not found in your scope"} for i in missing)
    updated: list[str] = []
    for alert_id in found:
        try:
            if body.status is not None:
                b, a = lifecycle.change_status(
                    ctx.client, ctx.names, alert_id, body.status, p.actor, body.note
                )
                _audit(ctx, p, "alert.status", alert_id, b, a)
            if body.assignee is not None or body.unassign:
                b, a = lifecycle.assign(
                    ctx.client,
                    ctx.names,
                    alert_id,
                    None if body.unassign else body.assignee,
                    p.actor,
                    None if body.status is not None else body.note,
                )
                _audit(ctx, p, "alert.assign", alert_id, b, a)
            if body.note and body.status is None and body.assignee is None and not body.unassign:
                b, a = lifecycle.add_note(ctx.client, ctx.names, alert_id, body.note, p.actor)
                _audit(ctx, p, "alert.note", alert_id, b, a)
            updated.append(alert_id)
        except (InvalidTransition, ConcurrentUpdate, AlertNotFound, ValueError) as e:
            failed.append({"id": alert_id, "error": str(e) or type(e).__name__})
    if updated:
        ctx.client.indices.refresh(index=ctx.names.alerts)
        ctx.invalidate_pit()
    return BulkResult(matched=len(found), updated=updated, failed=failed)
