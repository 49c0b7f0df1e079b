"""Rules (issue 13, page 5): list with filters and detection counts, the YAML, versions, diff,
the editor with the server's validation, test on pasted events, preview on stored history,
enable/disable and rollback.

Every read and change goes through the API's own rule functions (``socmon.api.routes.rules``:
the same validation, unit scoping of counts and previews, versions and audit). Changing a rule
needs an admin bound to the whole province, as in the API; checking, testing and previewing
needs an admin (previews are scoped to the admin's units).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Depends, Form, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.pages.alerts import SEVERITY_LABELS, STATUS_LABELS
from socmon.api.console.render import render
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError
from socmon.api.routes import coverage as api_coverage
from socmon.api.routes import rules as api_rules
from socmon.api.sigma_tools import check

router = console_router()

RULE_ID = r"^[A-Za-z0-9_.:\-]+$"
SIGMA_STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
PREVIEW_RANGES = {
    "now-24h": N_("Last 24 hours"),
    "now-7d": N_("Last 7 days"),
    "now-30d": N_("Last 30 days"),
}
CHANGE_LABELS = {
    "created": N_("created"),
    "updated": N_("updated"),
    "rollback": N_("rolled back"),
    "enabled": N_("enabled"),
    "disabled": N_("disabled"),
}
MAX_EVENTS_TEXT = 1_000_000
# what the editor shows for a new rule (the id is added on saving)
_TEMPLATE = """title: New rule
status: experimental
description: ""
logsource:
  product: linux
detection:
  selection:
    event.outcome: failure
  condition: selection
level: medium
"""


def _opt_bool(value: str) -> bool | None:
    return {"1": True, "0": False}.get(value)


@router.get("/rules")
def rule_list(
    request: Request,
    q: str = Query("", max_length=500),
    level: str = Query("", max_length=64),
    status: str = Query("", max_length=64),
    enabled: str = Query("", max_length=1),
    technique: str = Query("", max_length=64),
    product: str = Query("", max_length=128),
    page: int = Query(1, ge=1, le=1000),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    form = {
        "q": q,
        "level": level,
        "status": status,
        "enabled": enabled,
        "technique": technique,
        "product": product,
    }
    result = api_rules.list_rules(
        request,
        q=q or None,
        tag=None,
        technique=technique or None,
        product=product or None,
        category=None,
        service=None,
        status=status or None,
        level=level or None,
        enabled=_opt_bool(enabled),
        size=None,
        page=page,
        p=cu.principal,
    )
    size = get_ctx(request).settings.api.default_page_size
    base = {k: v for k, v in form.items() if v}
    context = {
        "result": result,
        "form": form,
        "level_labels": SEVERITY_LABELS,
        "sigma_statuses": SIGMA_STATUSES,
        "prev_qs": urlencode({**base, "page": page - 1}) if page > 1 else None,
        "next_qs": urlencode({**base, "page": page + 1}) if page * size < result.total else None,
        "may_edit": _may_edit(cu),
    }
    return render(request, "pages/rules.html", context, cu)


COVERAGE_RANGES = {
    "": N_("Any time"),
    "now-24h": N_("Last 24 hours"),
    "now-7d": N_("Last 7 days"),
    "now-30d": N_("Last 30 days"),
}


@router.get("/rules/coverage")
def rule_coverage(
    request: Request,
    since: str = Query("", max_length=16),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    """ATT&CK coverage (the API's ``/rules/coverage``): per tactic, the covered techniques,
    their enabled rules and the detections in the user's units."""
    start = since if since in COVERAGE_RANGES and since else None
    cov = api_coverage.rule_coverage(request, start=start, end=None, p=cu.principal)
    context = {"cov": cov, "since": since if start else "", "ranges": COVERAGE_RANGES}
    return render(request, "pages/rules_coverage.html", context, cu)


@router.get("/rules/coverage/navigator")
def rule_coverage_layer(
    request: Request,
    since: str = Query("", max_length=16),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    """The coverage as an ATT&CK Navigator layer file (the API's ``/coverage/navigator``)."""
    start = since if since in COVERAGE_RANGES and since else None
    return api_coverage.rule_coverage_layer(request, start=start, end=None, p=cu.principal)


def _may_edit(cu: ConsoleUser) -> bool:
    return cu.principal.may("admin") and cu.principal.province


def _editor(
    request: Request,
    cu: ConsoleUser,
    text: str,
    rule_id: str | None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context = {
        "text": text,
        "rule_id": rule_id,
        "events_text": "",
        "start": "now-7d",
        "ranges": PREVIEW_RANGES,
        "problems": None,
        "tested": None,
        "preview": None,
        "error": None,
        **extra,
    }
    return render(request, "pages/rule_edit.html", context, cu, status_code=status_code)


@router.get("/rules/new")
def rule_new(
    request: Request, cu: ConsoleUser = Depends(require_user("admin", province=True))
) -> Response:
    return _editor(request, cu, _TEMPLATE, None)


def _save(request: Request, cu: ConsoleUser, text: str, rule_id: str | None) -> Response:
    """Validate (problems shown in the editor with line and field), then store through the
    API's create/update (which validates again and audits)."""
    checked = check(text)
    if not checked.ok:
        return _editor(request, cu, text, rule_id, 422, problems=checked.problems)
    body = api_rules.RuleIn(yaml=text, enabled=None)
    try:
        if rule_id is None:
            saved = api_rules.create_rule(request, body, cu.principal)
        else:
            saved = api_rules.update_rule(request, body, rule_id, cu.principal)
    except ProblemError as e:
        if e.status not in (409, 422):
            raise
        return _editor(request, cu, text, rule_id, e.status, problems=e.errors, error=e.detail)
    return RedirectResponse(f"/rules/{saved.rule_id}?saved=1", status_code=303)


@router.post("/rules/new")
def rule_create(
    request: Request,
    yaml_text: str = Form(..., alias="yaml", min_length=1, max_length=200_000),
    cu: ConsoleUser = Depends(require_user("admin", province=True)),
) -> Response:
    return _save(request, cu, yaml_text, None)


def parse_events(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Pasted events: a JSON array of objects, or one JSON object per line. The error names
    the line (or the array's item) that is not an event."""
    stripped = text.strip()
    if not stripped:
        return [], N_("Paste at least one event.")
    if stripped.startswith("["):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError as e:
            return [], f"JSON: {e}"
        for i, item in enumerate(data, 1):
            if not isinstance(item, dict):
                return [], f"item {i}: not a JSON object"
        return data, None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            return [], f"line {n}: {e}"
        if not isinstance(item, dict):
            return [], f"line {n}: not a JSON object"
        out.append(item)
    return out, None


@router.post("/rules/try")
def rule_try(
    request: Request,
    yaml_text: str = Form(..., alias="yaml", min_length=1, max_length=200_000),
    action: str = Form(..., max_length=16),
    rule_id: str = Form("", max_length=256),
    events: str = Form("", max_length=MAX_EVENTS_TEXT),
    start: str = Form("now-7d", max_length=16),
    cu: ConsoleUser = Depends(require_user("admin")),
) -> Response:
    """The editor's Check, Test and Preview buttons: nothing is stored."""
    if action not in ("check", "test", "preview"):
        raise ProblemError(422, f"unknown action '{action}'")
    if start not in PREVIEW_RANGES:
        raise ProblemError(422, f"unknown range '{start}'")
    rid = rule_id or None
    extra: dict[str, Any] = {"events_text": events, "start": start}
    checked = check(yaml_text)
    if not checked.ok:
        return _editor(request, cu, yaml_text, rid, 422, problems=checked.problems, **extra)
    extra["problems"] = []
    try:
        if action == "test":
            parsed, error = parse_events(events)
            if error is not None:
                return _editor(request, cu, yaml_text, rid, 422, error=error, **extra)
            body = api_rules.TestIn(yaml=yaml_text, events=parsed)
            extra["tested"] = api_rules.test_rule(request, body, cu.principal)
            extra["tested_events"] = len(parsed)
        elif action == "preview":
            pbody = api_rules.RulePreviewIn.model_validate(
                {"yaml": yaml_text, "start": start, "samples": 5}
            )
            preview = api_rules.preview_yaml(request, pbody, cu.principal)
            extra["preview"] = preview
            extra["samples"] = [_sample(s) for s in preview.samples]
    except ValidationError as e:
        return _editor(request, cu, yaml_text, rid, 422, error=str(e), **extra)
    except ProblemError as e:
        if e.status not in (413, 422, 501, 504):
            raise
        return _editor(request, cu, yaml_text, rid, e.status, error=e.detail, **extra)
    return _editor(request, cu, yaml_text, rid, **extra)


def _sample(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": event.get("@timestamp"),
        "unit": (event.get("organization") or {}).get("id", ""),
        "text": (event.get("event") or {}).get("original") or event.get("message") or "",
    }


RuleId = Path(..., max_length=256, pattern=RULE_ID)


@router.get("/rules/{rule_id}")
def rule_detail(
    request: Request,
    rule_id: str = RuleId,
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    rule = api_rules.get_rule(request, rule_id, cu.principal)
    versions = sorted(rule.versions, key=lambda v: v.get("version", 0), reverse=True)
    context = {
        "rule": rule,
        "versions": versions,
        "changes": CHANGE_LABELS,
        "status_labels": STATUS_LABELS,
        "may_edit": _may_edit(cu),
        "saved": request.query_params.get("saved"),
    }
    return render(request, "pages/rule.html", context, cu)


@router.get("/rules/{rule_id}/diff")
def rule_diff(
    request: Request,
    rule_id: str = RuleId,
    from_version: int | None = Query(None, alias="from", ge=1),
    to_version: int | None = Query(None, alias="to", ge=1),
    cu: ConsoleUser = Depends(require_user("analyst")),
) -> Response:
    resp = api_rules.rule_diff(request, rule_id, from_version, to_version, cu.principal)
    text = bytes(resp.body).decode()
    lines = []
    for line in text.splitlines():
        kind = "hunk" if line.startswith("@@") else {"+": "add", "-": "del"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            kind = "file"
        lines.append((kind, line))
    context = {"rule_id": rule_id, "lines": lines}
    return render(request, "pages/rule_diff.html", context, cu)


@router.get("/rules/{rule_id}/edit")
def rule_edit(
    request: Request,
    rule_id: str = RuleId,
    cu: ConsoleUser = Depends(require_user("admin", province=True)),
) -> Response:
    rule = api_rules.get_rule(request, rule_id, cu.principal)
    return _editor(request, cu, rule.yaml, rule_id)


@router.post("/rules/{rule_id}/edit")
def rule_update(
    request: Request,
    rule_id: str = RuleId,
    yaml_text: str = Form(..., alias="yaml", min_length=1, max_length=200_000),
    cu: ConsoleUser = Depends(require_user("admin", province=True)),
) -> Response:
    return _save(request, cu, yaml_text, rule_id)


@router.post("/rules/{rule_id}/enabled")
def rule_enabled(
    request: Request,
    rule_id: str = RuleId,
    enabled: str = Form(..., pattern="^[01]$"),
    cu: ConsoleUser = Depends(require_user("admin", province=True)),
) -> Response:
    if enabled == "1":
        api_rules.enable_rule(request, rule_id, cu.principal)
    else:
        api_rules.disable_rule(request, rule_id, cu.principal)
    return RedirectResponse(f"/rules/{rule_id}?saved=1", status_code=303)


@router.post("/rules/{rule_id}/rollback")
def rule_rollback(
    request: Request,
    rule_id: str = RuleId,
    version: int = Form(..., ge=1),
    cu: ConsoleUser = Depends(require_user("admin", province=True)),
) -> Response:
    body = api_rules.RollbackIn(version=version)
    api_rules.rollback_rule(request, body, rule_id, cu.principal)
    return RedirectResponse(f"/rules/{rule_id}?saved=1", status_code=303)
