"""Saved views of the alert queue (``/alerts/views``): save the queue's filter under a name,
apply, rename, make default, delete — each user their own (``console/views.py``), every
change audited (``view.*``). Applying a view opens ``/alerts`` with its filter, where the
user's unit scope applies as for any filter."""

from __future__ import annotations

from fastapi import Depends, Form, Path, Request
from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from socmon.api import audit
from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.pages import console_router
from socmon.api.console.queue import parse_filter
from socmon.api.console.render import render
from socmon.api.console.views import MAX_NAME, View, ViewError, ViewStore
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError

router = console_router()


def store(ctx: ApiContext) -> ViewStore:
    s: ViewStore = ctx.extras.setdefault("console_views", ViewStore(ctx.client, ctx.names))
    return s


def queue_url(view: View) -> str:
    return f"/alerts?{view.query}&view={view.id}" if view.query else f"/alerts?view={view.id}"


def _mine(ctx: ApiContext, cu: ConsoleUser, view_id: str) -> View:
    view = store(ctx).get(cu.user.name, view_id)
    if view is None:
        raise ProblemError(404, "no such view among yours")
    return view


def _record(ctx: ApiContext, cu: ConsoleUser, action: str, view_id: str, before, after) -> None:  # type: ignore[no-untyped-def]
    audit.record(ctx, cu.principal, action, "view", view_id, before, after)


def _public(v: View | None) -> dict[str, object] | None:
    return None if v is None else {"name": v.name, "query": v.query, "default": v.default}


@router.get("/alerts/views")
def manage(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    views = store(get_ctx(request)).list(cu.user.name)
    context = {
        "views": [(v, queue_url(v)) for v in views],
        "max_name": MAX_NAME,
        "done": request.query_params.get("done"),
    }
    return render(request, "pages/views.html", context, cu)


@router.post("/alerts/views")
def save(
    request: Request,
    name: str = Form(..., max_length=1000),
    query: str = Form("", max_length=8000),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    """Save the queue's current filter (``query``: its query string) under ``name``; a view
    of that name is replaced. The filter is checked as the queue checks it, and a unit
    outside the user's scope is refused (403) rather than stored."""
    ctx = get_ctx(request)
    f, _form = parse_filter(QueryParams(query))
    outside = [u for u in f.unit or [] if not cu.principal.sees_unit(u)]
    if outside:
        raise ProblemError(403, f"unit(s) outside your scope: {', '.join(outside)}")
    try:
        view, old = store(ctx).save(cu.user.name, name, query)
    except ViewError as e:
        raise ProblemError(422, str(e)) from None
    action = "view.update" if old else "view.create"
    _record(ctx, cu, action, view.id, _public(old), _public(view))
    return RedirectResponse(queue_url(view) + "&saved_view=1", status_code=303)


@router.get("/alerts/views/{view_id}")
def apply(
    request: Request,
    view_id: str = Path(..., max_length=64),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    return RedirectResponse(queue_url(_mine(get_ctx(request), cu, view_id)), status_code=303)


@router.post("/alerts/views/{view_id}/rename")
def rename(
    request: Request,
    view_id: str = Path(..., max_length=64),
    name: str = Form(..., max_length=1000),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    ctx = get_ctx(request)
    view = _mine(ctx, cu, view_id)
    try:
        new = store(ctx).rename(cu.user.name, view, name)
    except ViewError as e:
        raise ProblemError(422, str(e)) from None
    _record(ctx, cu, "view.rename", view.id, {"name": view.name}, {"name": new.name})
    return RedirectResponse("/alerts/views?done=renamed", status_code=303)


@router.post("/alerts/views/{view_id}/default")
def make_default(
    request: Request,
    view_id: str = Path(..., max_length=64),
    on: str = Form("1", max_length=1),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    ctx = get_ctx(request)
    view = _mine(ctx, cu, view_id)
    store(ctx).set_default(cu.user.name, view, on == "1")
    _record(ctx, cu, "view.default", view.id, {"default": view.default}, {"default": on == "1"})
    return RedirectResponse("/alerts/views?done=default", status_code=303)


@router.post("/alerts/views/{view_id}/delete")
def delete(
    request: Request,
    view_id: str = Path(..., max_length=64),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    ctx = get_ctx(request)
    view = _mine(ctx, cu, view_id)
    store(ctx).delete(cu.user.name, view)
    _record(ctx, cu, "view.delete", view.id, _public(view), None)
    return RedirectResponse("/alerts/views?done=deleted", status_code=303)
