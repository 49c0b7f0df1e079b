"""Administration (``/admin/...``): users, API keys, the audit log, pipeline health.

Users and keys are global objects: only admins bound to the whole province manage them (as
the API's ``/api/v1/keys``). The audit log is scoped to the admin's units by the API's own
query (``routes.admin.audit_page``). Every change is audited with the admin's name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from socmon.api import audit
from socmon.api.console import sessions
from socmon.api.console.deps import ConsoleUser, forget_user, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.render import render
from socmon.api.console.users import (
    ANY_NAME,
    User,
    UserError,
    create_user,
    get_user,
    list_users,
    set_access,
    set_disabled,
    set_password,
)
from socmon.api.context import get_ctx
from socmon.api.keys import ROLES, list_keys
from socmon.api.pipeline_health import pipeline_health
from socmon.api.problems import ProblemError
from socmon.api.routes import admin as api_admin

router = console_router()

PAGE = 50
ROLE_LABELS = {"viewer": N_("Viewer"), "analyst": N_("Analyst"), "admin": N_("Administrator")}
OBJECT_TYPES = {
    "alert": N_("Alert"),
    "rule": N_("Rule"),
    "exception": N_("Exception"),
    "key": N_("API key"),
    "user": N_("User"),
    "report": N_("Report"),
}
SAVED = {
    "created": N_("The user has been created."),
    "disabled": N_("The user has been disabled and signed out."),
    "enabled": N_("The user has been enabled."),
    "password": N_("The password has been reset and the user signed out."),
    "access": N_("Role and units saved."),
    "revoked": N_("The key has been revoked."),
}
ADMIN = require_user("admin", province=True)


def _units(text: str) -> list[str]:
    return [u for u in text.replace(",", " ").split() if u]


def _users_page(
    request: Request, cu: ConsoleUser, error: str | None = None, status_code: int = 200
) -> Response:
    ctx = get_ctx(request)
    qp = request.query_params
    q, role, state = qp.get("q", "").strip().lower(), qp.get("role", ""), qp.get("state", "")
    try:
        page = max(1, int(qp.get("page", "1")))
    except ValueError:
        page = 1
    found = [
        u
        for u in list_users(ctx.client, ctx.names)
        if (not q or q in u.name.lower() or any(q in x.lower() for x in u.units or ()))
        and (not role or u.role == role)
        and (not state or u.disabled == (state == "disabled"))
    ]
    items = found[(page - 1) * PAGE : page * PAGE]
    context = {
        "items": items,
        "total": len(found),
        "page": page,
        "more": page * PAGE < len(found),
        "form": {"q": qp.get("q", ""), "role": role, "state": state},
        "roles": ROLES,
        "role_labels": ROLE_LABELS,
        "saved": SAVED.get(qp.get("saved", "")),
        "error": error,
        "section": "users",
    }
    return render(request, "pages/admin_users.html", context, cu, status_code=status_code)


@router.get("/admin/users")
def users_page(request: Request, cu: ConsoleUser = Depends(ADMIN)) -> Response:
    return _users_page(request, cu)


def _done(what: str) -> Response:
    return RedirectResponse(f"/admin/users?saved={what}", status_code=303)


@router.post("/admin/users")
def user_create(
    request: Request,
    name: str = Form(..., max_length=64),
    role: str = Form(..., max_length=16),
    units: str = Form("", max_length=5000),
    password: str = Form(..., max_length=1024),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    ctx = get_ctx(request)
    try:
        user = create_user(
            ctx.client, ctx.names, name.strip(), role, _units(units), password, cu.principal.actor
        )
    except UserError as e:
        return _users_page(request, cu, str(e), 422)
    audit.record(ctx, cu.principal, "user.create", "user", user.name, None, user.public())
    return _done("created")


def _existing(request: Request, name: str) -> User:
    ctx = get_ctx(request)
    user = get_user(ctx.client, ctx.names, name)
    if user is None:
        raise ProblemError(404, f"no user named '{name}'")
    return user


def _end_sessions(request: Request, name: str) -> None:
    ctx = get_ctx(request)
    sessions.delete_for_user(ctx.client, ctx.names, name)
    forget_user(request, name)


@router.post("/admin/users/{name}/disabled")
def user_disable(
    request: Request,
    name: str = Path(..., pattern=ANY_NAME),
    disabled: bool = Form(...),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    ctx = get_ctx(request)
    before = _existing(request, name)
    if disabled and name == cu.user.name:
        return _users_page(request, cu, "you cannot disable yourself", 422)
    after = set_disabled(ctx.client, ctx.names, name, disabled, cu.principal.actor)
    if disabled:
        _end_sessions(request, name)
    else:
        forget_user(request, name)
    action = "user.disable" if disabled else "user.enable"
    audit.record(ctx, cu.principal, action, "user", name, before.public(), after.public())
    return _done("disabled" if disabled else "enabled")


@router.post("/admin/users/{name}/password")
def user_password(
    request: Request,
    name: str = Path(..., pattern=ANY_NAME),
    password: str = Form(..., max_length=1024),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    ctx = get_ctx(request)
    _existing(request, name)
    try:
        set_password(ctx.client, ctx.names, name, password, cu.principal.actor)
    except UserError as e:
        return _users_page(request, cu, str(e), 422)
    _end_sessions(request, name)
    audit.record(ctx, cu.principal, "user.password_reset", "user", name, None, None)
    return _done("password")


@router.post("/admin/users/{name}/access")
def user_access(
    request: Request,
    name: str = Path(..., pattern=ANY_NAME),
    role: str = Form(..., max_length=16),
    units: str = Form("", max_length=5000),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    ctx = get_ctx(request)
    before = _existing(request, name)
    if name == cu.user.name and (role != "admin" or _units(units)):
        return _users_page(request, cu, "you cannot lower your own access", 422)
    try:
        after = set_access(ctx.client, ctx.names, name, role, _units(units), cu.principal.actor)
    except UserError as e:
        return _users_page(request, cu, str(e), 422)
    forget_user(request, name)
    audit.record(ctx, cu.principal, "user.access", "user", name, before.public(), after.public())
    return _done("access")


def _keys_page(
    request: Request,
    cu: ConsoleUser,
    new_key: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    ctx = get_ctx(request)
    qp = request.query_params
    show_revoked = qp.get("revoked") == "1"
    keys = [k for k in list_keys(ctx.client, ctx.names) if show_revoked or not k.revoked]
    keys.reverse()  # newest first
    try:
        page = max(1, int(qp.get("page", "1")))
    except ValueError:
        page = 1
    context = {
        "items": keys[(page - 1) * PAGE : page * PAGE],
        "total": len(keys),
        "page": page,
        "more": page * PAGE < len(keys),
        "show_revoked": show_revoked,
        "roles": ROLES,
        "role_labels": ROLE_LABELS,
        "new_key": new_key,
        "saved": SAVED.get(qp.get("saved", "")),
        "error": error,
        "section": "keys",
    }
    return render(request, "pages/admin_keys.html", context, cu, status_code=status_code)


@router.get("/admin/keys")
def keys_page(request: Request, cu: ConsoleUser = Depends(ADMIN)) -> Response:
    return _keys_page(request, cu)


@router.post("/admin/keys")
def key_create(
    request: Request,
    name: str = Form(..., min_length=1, max_length=128),
    role: str = Form(..., max_length=16),
    units: str = Form("", max_length=5000),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    if role not in ROLES:
        return _keys_page(
            request, cu, error=f"role must be one of {', '.join(ROLES)}", status_code=422
        )
    key, _rec = api_admin.new_key(get_ctx(request), cu.principal, name.strip(), role, _units(units))
    # The key is shown once, in this response (never stored in clear, never in a URL).
    return _keys_page(request, cu, new_key=key)


@router.post("/admin/keys/{key_id}/revoke")
def key_revoke(
    request: Request,
    key_id: str = Path(..., max_length=64, pattern=r"^[A-Za-z0-9]+$"),
    cu: ConsoleUser = Depends(ADMIN),
) -> Response:
    api_admin.revoke(get_ctx(request), cu.principal, key_id)
    return RedirectResponse("/admin/keys?saved=revoked", status_code=303)


@router.get("/admin/audit")
def audit_page(request: Request, cu: ConsoleUser = Depends(require_user("admin"))) -> Response:
    qp = request.query_params
    form = {
        k: qp.get(k, "").strip() for k in ("actor", "object_type", "object_id", "action", "start")
    }
    if form["object_type"] and form["object_type"] not in OBJECT_TYPES:
        raise ProblemError(422, f"unknown object type '{form['object_type']}'")
    cursor = qp.get("cursor") or None
    items, nxt = api_admin.audit_page(
        get_ctx(request),
        cu.principal,
        form["actor"] or None,
        form["object_type"] or None,
        form["object_id"] or None,
        form["action"] or None,
        form["start"] or None,
        None,
        None,
        cursor,
    )
    base = urlencode({k: v for k, v in form.items() if v})
    context: dict[str, Any] = {
        "items": items,
        "form": form,
        "object_types": OBJECT_TYPES,
        "next_url": "/admin/audit?" + urlencode({"cursor": nxt}) if nxt else None,
        "first_url": f"/admin/audit?{base}" if cursor else None,
        "section": "audit",
    }
    return render(request, "pages/admin_audit.html", context, cu)


@router.get("/admin/health")
async def health_page(request: Request, cu: ConsoleUser = Depends(ADMIN)) -> Response:
    health = await run_in_threadpool(pipeline_health, get_ctx(request))
    return render(request, "pages/admin_health.html", {"h": health, "section": "health"}, cu)
