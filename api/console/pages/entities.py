"""Entity pages: ``/entities/ip/{ip}``, ``/entities/host/{name}``, ``/entities/user/{name}``.
Every alert about the entity (cursor pages, by the API's alert list query with its
``ip``/``host``/``user`` filter), its recent events, first/last seen and the units it touched,
all within the user's units. The alert page links its entities here."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Path, Request
from starlette.responses import Response

from socmon.api import entities
from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.pages.alerts import LABELS
from socmon.api.console.render import render
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError
from socmon.api.routes import alerts as api_alerts

router = console_router()

KIND_LABELS = {"ip": N_("Address"), "host": N_("Host"), "user": N_("User")}


def _page(request: Request, cu: ConsoleUser, kind: entities.Kind, value: str) -> Response:
    ctx = get_ctx(request)
    info = entities.summary(ctx, cu.principal, kind, value)
    cursor = request.query_params.get("cursor") or None
    f = api_alerts.AlertFilter.model_validate({kind: value})
    page = api_alerts.list_page(ctx, cu.principal, f, cursor=cursor)
    events = [
        {
            "at": e.get("@timestamp"),
            "dataset": (e.get("event") or {}).get("dataset", ""),
            "unit": (e.get("organization") or {}).get("id", ""),
            "text": (e.get("event") or {}).get("original") or e.get("message") or "",
        }
        for e in info["recent_events"]
    ]
    context: dict[str, Any] = {
        "info": info,
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "page": page,
        "events": events,
        "labels": LABELS,
        "paged": cursor is not None,
    }
    return render(request, "pages/entity.html", context, cu)


@router.get("/entities/ip/{ip}")
def entity_ip(
    request: Request,
    ip: str = Path(..., max_length=64),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    entities.clauses("ip", ip)  # 422 before anything else for a malformed address
    return _page(request, cu, "ip", ip)


@router.get("/entities/host/{name}")
def entity_host(
    request: Request,
    name: str = Path(..., max_length=1024),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    return _page(request, cu, "host", name)


@router.get("/entities/user/{name}")
def entity_user(
    request: Request,
    name: str = Path(..., max_length=1024),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    if not name.strip():
        raise ProblemError(422, "the user name is empty")
    return _page(request, cu, "user", name)
