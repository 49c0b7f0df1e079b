"""Exceptions (issue 13, page 6): list, create and edit with the preview of what an exception
would have suppressed, expiry; "create an exception from this alert" (``?alert=ID``).

Reads, previews and changes go through the API's own exception functions
(``socmon.api.routes.exceptions``: the same validation, unit scoping and audit).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from socmon.alerting import model
from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.pages.alerts import ENTITY_FIELDS
from socmon.api.console.render import get_console, render
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError
from socmon.api.routes import alerts as api_alerts
from socmon.api.routes import exceptions as api_exc

router = console_router()

SCOPE_LABELS = {
    "rule": N_("One rule"),
    "unit": N_("One unit (every rule)"),
    "global": N_("Everywhere (every rule, every unit)"),
}
OP_LABELS = {
    "equals": N_("equals"),
    "not_equals": N_("does not equal"),
    "contains": N_("contains"),
    "startswith": N_("starts with"),
    "endswith": N_("ends with"),
    "cidr": N_("is in the network (CIDR)"),
    "exists": N_("exists"),
}
SINCE = {
    "now-7d": N_("Last 7 days"),
    "now-30d": N_("Last 30 days"),
    "now-90d": N_("Last 90 days"),
    "": N_("Any time"),
}
LABELS = {"scopes": SCOPE_LABELS, "ops": OP_LABELS, "since": SINCE}
DEFAULT_DAYS = 30  # default expiry of a new exception
ExcId = Path(..., max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")


@router.get("/exceptions")
def exception_list(
    request: Request,
    rule_id: str = Query("", max_length=256),
    enabled: str = Query("", max_length=1),
    page: int = Query(1, ge=1, le=1000),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    on = {"1": True, "0": False}.get(enabled)
    result = api_exc.list_exceptions(request, rule_id or None, on, None, page, cu.principal)
    size = get_ctx(request).settings.api.default_page_size
    base = {k: v for k, v in (("rule_id", rule_id), ("enabled", enabled)) if v}
    now = dt.datetime.now(dt.UTC).isoformat()
    context = {
        "result": result,
        "form": {"rule_id": rule_id, "enabled": enabled},
        "labels": LABELS,
        "now": now,
        "prev_qs": urlencode({**base, "page": page - 1}) if page > 1 else None,
        "next_qs": urlencode({**base, "page": page + 1}) if page * size < result.total else None,
    }
    return render(request, "pages/exceptions.html", context, cu)


def _local(request: Request, value: str | None) -> str:
    """An ISO time as the value of a datetime-local field, in the site's time zone."""
    if not value:
        return ""
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    zone = ZoneInfo(get_console(request).timezone)
    return t.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _expires(request: Request, value: str) -> dt.datetime | None:
    """A datetime-local field (site's time zone) as an aware time; 422 when not a time."""
    if not value.strip():
        return None
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProblemError(422, f"expires: '{value}' is not a date and time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(get_console(request).timezone))
    return t


def _conditions(form: FormData) -> list[dict[str, Any]]:
    """Condition rows of the form (rows without a field are empty and skipped)."""
    fields, ops, values = (form.getlist(k) for k in ("cond_field", "cond_op", "cond_value"))
    out = []
    for i, name in enumerate(fields):
        name = str(name).strip()
        if not name:
            continue
        op = str(ops[i]) if i < len(ops) else "equals"
        value = str(values[i]).strip() if i < len(values) else ""
        out.append({"field": name, "op": op, "value": value if op != "exists" else None})
    return out


def _rows(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The condition rows to show: the given ones and two empty ones (at least three)."""
    rows = [dict(c) for c in conditions]
    while len(rows) < max(3, len(conditions) + 2):
        rows.append({"field": "", "op": "equals", "value": ""})
    return rows


def _form_page(
    request: Request,
    cu: ConsoleUser,
    values: dict[str, Any],
    exception_id: str | None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context = {
        "v": {**values, "conditions": _rows(values.get("conditions") or [])},
        "exception_id": exception_id,
        "labels": LABELS,
        "units": cu.principal.units,
        "preview": None,
        "error": None,
        **extra,
    }
    return render(request, "pages/exception_edit.html", context, cu, status_code=status_code)


def _from_alert(request: Request, cu: ConsoleUser, alert_id: str) -> dict[str, Any]:
    """A new exception's values from an alert of the user's units: its rule, its unit and a
    condition per entity that has one value in all the alert's events (what an exception is
    matched against; the analyst removes what should not be required)."""
    d = api_alerts.alert_detail(get_ctx(request), cu.principal, alert_id)
    a = d.alert
    subjects = d.events or [a]
    conditions = []
    for field, _label in ENTITY_FIELDS:
        values = {str(model.get_path(s, field)) for s in subjects}
        if len(values) == 1 and model.get_path(subjects[0], field) not in (None, "", []):
            conditions.append({"field": field, "op": "equals", "value": values.pop()})
    return {
        "scope": "rule",
        "rule_id": (a.get("rule") or {}).get("id", ""),
        "organization_id": (a.get("organization") or {}).get("id", ""),
        "conditions": conditions,
        "alert": alert_id,
    }


def _blank(request: Request, cu: ConsoleUser) -> dict[str, Any]:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=DEFAULT_DAYS)
    units = cu.principal.units
    return {
        "scope": "rule",
        "organization_id": units[0] if units and len(units) == 1 else "",
        "rule_id": "",
        "reason": "",
        "expires": _local(request, until.isoformat()),
        "enabled": True,
        "conditions": [],
        "since": "now-30d",
    }


def _preview(request: Request, cu: ConsoleUser, values: dict[str, Any]) -> dict[str, Any]:
    body = api_exc.ExceptionPreviewIn.model_validate(_spec(request, values, with_since=True))
    return api_exc.preview_exception(request, body, cu.principal).model_dump()


def _spec(request: Request, values: dict[str, Any], with_since: bool = False) -> dict[str, Any]:
    """The API's request body from the form's values (a preview does without a reason)."""
    scope = values["scope"]
    spec = {
        "scope": scope,
        # the form shows every field; the scope says which of them count
        "organization_id": (values.get("organization_id") or None) if scope != "global" else None,
        "rule_id": (values.get("rule_id") or None) if scope == "rule" else None,
        "conditions": values.get("conditions") or [],
        "reason": values.get("reason") or ("-" if with_since else ""),
        "expires": _expires(request, values.get("expires") or ""),
        "enabled": bool(values.get("enabled")),
    }
    if with_since:
        spec["since"] = values.get("since") or None
    return spec


@router.get("/exceptions/new")
def exception_new(
    request: Request,
    alert: str = Query("", max_length=512),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    values = _blank(request, cu)
    if not alert:
        return _form_page(request, cu, values, None)
    values.update(_from_alert(request, cu, alert))
    return _form_page(request, cu, values, None, preview=_preview(request, cu, values))


async def _values(request: Request) -> dict[str, Any]:
    form = await request.form()

    def text(name: str, limit: int = 2000) -> str:
        v = form.get(name)
        return str(v).strip()[:limit] if isinstance(v, str) else ""

    return {
        "scope": text("scope", 16),
        "organization_id": text("organization_id", 256),
        "rule_id": text("rule_id", 256),
        "reason": text("reason"),
        "expires": text("expires", 32),
        "enabled": form.get("enabled") == "1",
        "conditions": _conditions(form),
        "since": text("since", 16),
        "action": text("action", 16),
        "alert": text("alert", 512),
    }


def _problem_text(e: ValidationError | ProblemError) -> str:
    if isinstance(e, ProblemError):
        return e.detail or str(e)
    return "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())


@router.post("/exceptions/new")
async def exception_create(
    request: Request, cu: ConsoleUser = Depends(require_user("analyst"))
) -> Response:
    values = await _values(request)
    try:
        if values["action"] == "preview":
            preview = _preview(request, cu, values)
            return _form_page(request, cu, values, None, preview=preview)
        body = api_exc.ExceptionIn.model_validate(_spec(request, values))
        doc = api_exc.create_exception(request, body, cu.principal)
    except (ValidationError, ProblemError) as e:
        if isinstance(e, ProblemError) and e.status != 422:
            raise
        return _form_page(request, cu, values, None, 422, error=_problem_text(e))
    return RedirectResponse(f"/exceptions?saved={doc['id']}", status_code=303)


def _stored_values(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "scope": doc.get("scope", "rule"),
        "organization_id": (doc.get("organization") or {}).get("id") or "",
        "rule_id": doc.get("rule_id") or "",
        "reason": doc.get("reason") or "",
        "expires": _local(request, doc.get("expires")),
        "enabled": bool(doc.get("enabled", True)),
        "conditions": [
            {**c, "value": "" if c.get("value") is None else c["value"]}
            for c in doc.get("conditions") or []
        ],
        "since": "now-30d",
        "owner": doc.get("owner") or doc.get("created_by") or "",
        "hits": doc.get("hits", 0),
    }


@router.get("/exceptions/{exception_id}")
def exception_edit(
    request: Request,
    exception_id: str = ExcId,
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    doc = api_exc.get_exception(request, exception_id, cu.principal)
    return _form_page(request, cu, _stored_values(request, doc), exception_id)


@router.post("/exceptions/{exception_id}")
async def exception_update(
    request: Request,
    exception_id: str = ExcId,
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    doc = api_exc.get_exception(request, exception_id, cu.principal)
    stored = _stored_values(request, doc)
    given = await _values(request)
    # scope, unit and rule of a stored exception do not change (make a new one instead)
    values = {**given, **{k: stored[k] for k in ("scope", "organization_id", "rule_id")}}
    try:
        if given["action"] == "delete":
            api_exc.delete_exception(request, exception_id, cu.principal)
            return RedirectResponse("/exceptions?deleted=1", status_code=303)
        if given["action"] == "preview":
            preview = _preview(request, cu, values)
            return _form_page(request, cu, values, exception_id, preview=preview)
        patch = api_exc.ExceptionPatch.model_validate(
            {
                "conditions": values["conditions"],
                "reason": values["reason"],
                "expires": _expires(request, values["expires"]),
                "enabled": values["enabled"],
            }
        )
        api_exc.update_exception(request, patch, exception_id, cu.principal)
    except (ValidationError, ProblemError) as e:
        if isinstance(e, ProblemError) and e.status not in (409, 422):
            raise
        return _form_page(request, cu, values, exception_id, 422, error=_problem_text(e))
    return RedirectResponse(f"/exceptions?saved={exception_id}", status_code=303)
