"""Admin: API keys (create, list, revoke) and the audit trail."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from socmon.api import audit
from socmon.api.auth import Principal, require, unit_filter
from socmon.api.context import ApiContext, get_ctx
from socmon.api.cursors import decode_cursor, encode_cursor
from socmon.api.keys import (
    PROVINCE,
    KeyRecord,
    configured_units,
    create_key,
    get_key,
    list_keys,
    revoke_key,
)
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import page_size, parse_time, search

router = APIRouter(prefix="/api/v1", tags=["admin"])


class KeyIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=128, examples=["so-tttt-viewer"])
    role: Literal["viewer", "analyst", "admin"] = Field(..., examples=["viewer"])
    units: list[str] = Field(
        default_factory=lambda: [PROVINCE],
        min_length=1,
        max_length=500,
        examples=[["so-tttt"]],
        description="Configured organisation unit ids, or ['*'] (alone) for the whole "
        "province (the default).",
    )


class KeyOut(BaseModel):
    key_id: str = Field(..., examples=["4f9a0c1d2e3b4a59"])
    name: str = Field(..., examples=["so-tttt-viewer"])
    role: str = Field(..., examples=["viewer"])
    units: list[str] = Field(..., examples=[["so-tttt"]])
    revoked: bool = Field(..., examples=[False])
    created: str = Field(..., examples=["2026-11-24T10:00:00.000Z"])
    created_by: str = Field(..., examples=["key:root"])


class NewKey(KeyOut):
    key: str = Field(
        ...,
        description="The key itself: shown once, stored only as a hash.",
        examples=["smk_4f9a0c1d2e3b4a59_..."],
    )


class AuditPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        ...,
        examples=[
            [
                {
                    "@timestamp": "2026-11-24T10:00:00.000Z",
                    "actor": "key:analyst",
                    "action": "alert.status",
                    "object": {"type": "alert", "id": "3f2a"},
                    "before": {"status": "open"},
                    "after": {"status": "acknowledged"},
                }
            ]
        ],
    )
    next_cursor: str | None = None


@router.get(
    "/keys",
    response_model=list[KeyOut],
    summary="List API keys (no secrets)",
    responses=problem_responses(401, 403, 429),
)
def keys_list(
    request: Request, p: Principal = Depends(require("admin", province=True))
) -> list[KeyOut]:
    ctx = get_ctx(request)
    return [KeyOut(**k.public()) for k in list_keys(ctx.client, ctx.names)]


@router.post(
    "/keys",
    response_model=NewKey,
    status_code=201,
    summary="Create an API key",
    responses=problem_responses(401, 403, 422, 429),
)
def keys_create(
    request: Request, body: KeyIn, p: Principal = Depends(require("admin", province=True))
) -> NewKey:
    key, rec = new_key(get_ctx(request), p, body.name, body.role, body.units)
    return NewKey(key=key, **rec.public())


def new_key(
    ctx: ApiContext, p: Principal, name: str, role: str, units: list[str]
) -> tuple[str, KeyRecord]:
    """Create a key and audit it (the API and the console both create keys here); unit ids
    must be configured ones (ProblemError 422 otherwise)."""
    try:
        key, rec = create_key(
            ctx.client,
            ctx.names,
            name,
            role,
            units,
            p.actor,
            known_units=configured_units(ctx.settings),
        )
    except ValueError as e:
        raise ProblemError(
            422, str(e), errors=[{"loc": ["body", "units"], "msg": str(e)}]
        ) from None
    audit.record(ctx, p, "key.create", "key", rec.key_id, None, rec.public())
    return key, rec


def revoke(ctx: ApiContext, p: Principal, key_id: str) -> KeyRecord:
    """Revoke a key, drop it from the verification cache and audit it (404 when unknown)."""
    before = get_key(ctx.client, ctx.names, key_id)
    if before is None:
        raise ProblemError(404, f"key '{key_id}' not found")
    after = revoke_key(ctx.client, ctx.names, key_id, p.actor)
    assert after is not None
    ctx.extras.get("key_cache") and ctx.extras["key_cache"].clear()
    audit.record(ctx, p, "key.revoke", "key", key_id, before.public(), after.public())
    return after


@router.delete(
    "/keys/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key",
    responses=problem_responses(401, 403, 404, 429),
)
def keys_revoke(
    request: Request,
    key_id: str = Path(..., max_length=64, pattern=r"^[A-Za-z0-9]+$"),
    p: Principal = Depends(require("admin", province=True)),
) -> KeyOut:
    return KeyOut(**revoke(get_ctx(request), p, key_id).public())


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="The audit trail (newest first)",
    responses=problem_responses(400, 401, 403, 422, 429),
)
def audit_list(
    request: Request,
    actor: str | None = Query(None, max_length=256),
    object_type: Literal["alert", "rule", "exception", "key", "user", "report"] | None = Query(
        None
    ),
    object_id: str | None = Query(None, max_length=512),
    action: str | None = Query(None, max_length=128),
    start: str | None = Query(None, description="ISO 8601 or now-7d"),
    end: str | None = Query(None),
    size: int | None = Query(None, ge=1),
    cursor: str | None = Query(None, max_length=4096),
    p: Principal = Depends(require("admin")),
) -> AuditPage:
    items, nxt = audit_page(
        get_ctx(request), p, actor, object_type, object_id, action, start, end, size, cursor
    )
    return AuditPage(items=items, next_cursor=nxt)


def audit_page(
    ctx: ApiContext,
    p: Principal,
    actor: str | None,
    object_type: str | None,
    object_id: str | None,
    action: str | None,
    start: str | None,
    end: str | None,
    size: int | None,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the audit trail in the principal's units, newest first, and the cursor
    of the next page (the API's /audit and the console's audit page)."""
    after: list[Any] = []
    if cursor:
        st = decode_cursor(ctx, "audit", cursor)
        try:
            actor, object_type, object_id, action = (
                st.get("ac"),
                st.get("ot"),
                st.get("oi"),
                st.get("an"),
            )
            start, end, n, after = st.get("t0"), st.get("t1"), int(st["z"]), list(st["a"])
        except Exception:
            raise ProblemError(400, "the cursor is not valid") from None
    else:
        n = page_size(ctx, size)
    filters: list[dict[str, Any]] = [*unit_filter(p)]
    for fld, v in (
        ("actor", actor),
        ("object.type", object_type),
        ("object.id", object_id),
        ("action", action),
    ):
        if v:
            filters.append({"term": {fld: v}})
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 or t1:
        rng: dict[str, Any] = {}
        if t0:
            rng["gte"] = t0.isoformat()
        if t1:
            rng["lte"] = t1.isoformat()
        filters.append({"range": {"@timestamp": rng}})
    if not after:  # audit records are written without waiting for a refresh
        ctx.client.indices.refresh(index=ctx.names.audit)
    kw: dict[str, Any] = {"search_after": after} if after else {}
    resp = search(
        ctx,
        index=ctx.names.audit,
        query={"bool": {"filter": filters}},
        size=n,
        sort=[{"@timestamp": "desc"}, {"object.id": "asc"}, {"action": "asc"}],
        **kw,
    )
    hits = resp["hits"]["hits"]
    nxt = None
    if len(hits) == n:
        nxt = encode_cursor(
            ctx,
            "audit",
            {
                "ac": actor,
                "ot": object_type,
                "oi": object_id,
                "an": action,
                "t0": start,
                "t1": end,
                "z": n,
                "a": hits[-1]["sort"],
            },
        )
    return [h["_source"] for h in hits], nxt
