"""The alert queue (``/alerts``) and the alert page (``/alerts/{id}``, where notifications link).

Reads and changes go through the API's own alert functions (``socmon.api.routes.alerts``:
the same query, unit scoping, lifecycle and audit), so the console and the API cannot differ.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import Depends, Form, Path, Request
from starlette.responses import RedirectResponse, Response

from socmon.alerting import lifecycle, model
from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router, views
from socmon.api.console.queue import choices, parse_filter, query_string
from socmon.api.console.queue_table import QUEUE_FIELDS, rows_html
from socmon.api.console.render import is_htmx, render
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError
from socmon.api.routes import alerts as api_alerts
from socmon.api.routes.common import iso, parse_time, search

router = console_router()

SEVERITIES = ("critical", "high", "medium", "low", "informational")
STATUS_LABELS = {
    model.OPEN: N_("Open"),
    model.ACKNOWLEDGED: N_("Acknowledged"),
    model.IN_PROGRESS: N_("In progress"),
    model.RESOLVED: N_("Resolved"),
    model.FALSE_POSITIVE: N_("False positive"),
}
SEVERITY_LABELS = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    "informational": N_("Informational"),
}
# The button that moves an alert to a status, in the order they are offered.
ACTION_LABELS = {
    model.ACKNOWLEDGED: N_("Acknowledge"),
    model.IN_PROGRESS: N_("Start work"),
    model.RESOLVED: N_("Resolve"),
    model.FALSE_POSITIVE: N_("False positive"),
    model.OPEN: N_("Reopen"),
}
SORT_LABELS = {
    "@timestamp": N_("Created"),
    "last_seen": N_("Last seen"),
    "first_seen": N_("First seen"),
    "risk_score": N_("Risk score"),
    "event_count": N_("Events"),
    "sla_due": N_("SLA due"),
}
RANGES = {
    "": N_("Any time"),
    "now-1h": N_("Last hour"),
    "now-24h": N_("Last 24 hours"),
    "now-7d": N_("Last 7 days"),
    "now-30d": N_("Last 30 days"),
}
BULK_ACTIONS = {
    "acknowledge": (N_("Acknowledge"), model.ACKNOWLEDGED),
    "resolve": (N_("Resolve"), model.RESOLVED),
    "false_positive": (N_("False positive"), model.FALSE_POSITIVE),
    "assign": (N_("Assign"), None),
    "note": (N_("Add a note"), None),
}
LABELS = {
    "status": STATUS_LABELS,
    "severity": SEVERITY_LABELS,
    "actions": ACTION_LABELS,
    "sorts": SORT_LABELS,
    "ranges": RANGES,
    "bulk": {k: v[0] for k, v in BULK_ACTIONS.items()},
}


def next_statuses(status: str) -> list[str]:
    """Statuses reachable from ``status``, the usual next step first."""
    allowed = model.TRANSITIONS.get(status, frozenset())
    return [s for s in ACTION_LABELS if s in allowed]


@router.get("/alerts")
def queue(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    ctx = get_ctx(request)
    qp = request.query_params
    if not request.url.query and not is_htmx(request):
        default = views.store(ctx).default(cu.user.name)
        if default is not None:  # the user's default view, when no filter is asked for
            return RedirectResponse(views.queue_url(default), status_code=303)
    f, form = parse_filter(qp)
    cursor = qp.get("cursor") or None
    page = api_alerts.list_page(
        ctx, cu.principal, f, form["sort"], form["order"], None, cursor, QUEUE_FIELDS
    )
    context = {
        "page": page,
        "rows": page.items,
        "rows_html": rows_html,
        "form": form,
        "labels": LABELS,
        "severities": SEVERITIES,
        "statuses": model.STATUSES,
        "sort_fields": api_alerts.SORT_FIELDS,
        "next_qs": query_string(qp, cursor=page.next_cursor) if page.next_cursor else None,
        "first_qs": query_string(qp, cursor=None),
        "since": iso(dt.datetime.now(dt.UTC)),
        "paged": cursor is not None,
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "queue":
        return render(request, "partials/alert_table.html", context, cu)
    context["choices"] = choices(ctx, cu.principal)
    context["views"] = views.store(ctx).list(cu.user.name)
    context["view_id"] = qp.get("view", "")
    context["saved_view"] = qp.get("saved_view") == "1"
    return render(request, "pages/alerts.html", context, cu)


@router.get("/alerts/new-count")
def new_count(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    """How many alerts matching the queue's filter arrived since the page was shown."""
    ctx = get_ctx(request)
    qp = request.query_params
    f, _form = parse_filter(qp)
    since = parse_time(qp.get("since"), "since") or dt.datetime.now(dt.UTC)
    query = api_alerts.build_query(ctx, cu.principal, f)
    query["bool"]["filter"].append(
        {"range": {"@timestamp": {"gt": iso(since), "format": "strict_date_optional_time"}}}
    )
    resp = search(ctx, index=ctx.names.alerts, query=query, size=0, track_total_hits=True)
    n = int(resp["hits"]["total"]["value"])
    return render(
        request, "partials/new_count.html", {"n": n, "qs": query_string(qp, since=None)}, cu
    )


@router.post("/alerts/bulk")
def bulk(
    request: Request,
    action: str = Form(..., max_length=32),
    ids: list[str] = Form(default_factory=list),
    assignee: str = Form("", max_length=256),
    note: str = Form("", max_length=10_000),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    if action not in BULK_ACTIONS:
        raise ProblemError(422, f"unknown action '{action}'")
    if not ids:
        raise ProblemError(422, "select at least one alert")
    status = BULK_ACTIONS[action][1]
    if action == "assign" and not assignee.strip():
        raise ProblemError(422, "give the assignee")
    if action == "note" and not note.strip():
        raise ProblemError(422, "write the note")
    body = api_alerts.BulkAction.model_validate(
        {
            "ids": ids,
            "status": status,
            "assignee": assignee.strip() if action == "assign" else None,
            "note": note.strip() or None,
        }
    )
    result = api_alerts.apply_bulk(get_ctx(request), cu.principal, body)
    context = {"result": result, "action": action, "labels": LABELS}
    if is_htmx(request):
        headers = {"HX-Trigger": "socmon-bulk-done"}
        return render(request, "partials/bulk_result.html", context, cu, headers=headers)
    return render(request, "pages/bulk.html", context, cu)


def _pretty(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


@router.get("/alerts/{alert_id}")
def detail(
    request: Request,
    alert_id: str = Path(..., max_length=512),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    d = api_alerts.alert_detail(get_ctx(request), cu.principal, alert_id)
    a = d.alert
    status = str(a.get("status", model.OPEN))
    events = [
        {"original": (e.get("event") or {}).get("original"), "json": _pretty(e)} for e in d.events
    ]
    context = {
        "a": a,
        "events": events,
        "history": list(reversed(d.history)),
        "notes": list(reversed(d.notes)),
        "next": next_statuses(status),
        "labels": LABELS,
        "may_change": cu.principal.may("analyst"),
        "techniques": _techniques(a),
        "entities": _entities(a),
        "saved": request.query_params.get("saved"),
    }
    return render(request, "pages/alert.html", context, cu)


def _techniques(a: dict[str, Any]) -> list[tuple[str, str]]:
    tech = (a.get("threat") or {}).get("technique") or {}
    ids, names = tech.get("id") or [], tech.get("name") or []
    ids = [ids] if isinstance(ids, str) else list(ids)
    names = [names] if isinstance(names, str) else list(names)
    out = [(i, names[n] if n < len(names) else "") for n, i in enumerate(ids)]
    for tag in (a.get("rule") or {}).get("tags") or []:
        t = str(tag)
        if t.startswith("attack.t") and t[8:9].isdigit():
            tid = t[7:].upper()
            if tid not in {i for i, _ in out}:
                out.append((tid, ""))
    return out


ENTITY_FIELDS = (
    ("source.ip", N_("Source address")),
    ("destination.ip", N_("Destination address")),
    ("host.name", N_("Host")),
    ("user.name", N_("User")),
)


def _entities(a: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, label, value) of the alert's entities; the page links each to its entity
    page (``pages/entities.py``)."""
    out = []
    for field, label in ENTITY_FIELDS:
        v: Any = a
        for part in field.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        for value in v if isinstance(v, list) else [v]:
            if value not in (None, ""):
                out.append((field, label, str(value)))
    return out


def _after_change(alert_id: str, what: str) -> Response:
    return RedirectResponse(f"/alerts/{alert_id}?saved={what}", status_code=303)


@router.post("/alerts/{alert_id}/status")
def set_status(
    request: Request,
    alert_id: str = Path(..., max_length=512),
    status: str = Form(..., max_length=32),
    note: str = Form("", max_length=10_000),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    if status not in model.STATUSES:
        raise ProblemError(422, f"unknown status '{status}'")
    p = cu.principal
    api_alerts.change(
        get_ctx(request),
        p,
        alert_id,
        "alert.status",
        lifecycle.change_status,
        status,
        p.actor,
        note.strip() or None,
    )
    return _after_change(alert_id, "status")


@router.post("/alerts/{alert_id}/assignee")
def set_assignee(
    request: Request,
    alert_id: str = Path(..., max_length=512),
    assignee: str = Form("", max_length=256),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    p = cu.principal
    who = assignee.strip() or None
    api_alerts.change(
        get_ctx(request), p, alert_id, "alert.assign", lifecycle.assign, who, p.actor, None
    )
    return _after_change(alert_id, "assignee")


@router.post("/alerts/{alert_id}/notes")
def add_note(
    request: Request,
    alert_id: str = Path(..., max_length=512),
    text: str = Form(..., min_length=1, max_length=10_000),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    p = cu.principal
    api_alerts.change(
        get_ctx(request), p, alert_id, "alert.note", lifecycle.add_note, text, p.actor
    )
    return _after_change(alert_id, "note")
