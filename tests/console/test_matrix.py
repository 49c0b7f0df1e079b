"""Authorisation matrix of the console: every console route x every role x a user of unit A,
of unit B, of the province, and nobody -> allowed, the sign-in form, 403, or 404 for another
unit's object addressed by id (docs/security.md), as the table says. No console route may be
missing from the table."""

from __future__ import annotations

from typing import Any

from socmon.alerting import exceptions
from socmon.api.app import api_routes
from socmon.api.auth import RANK, declared_role
from socmon.api.routes.rules import RULE_YAML
from socmon.rules import store
from tests.api.conftest import UNIT_A, index_alerts, make_alert
from tests.console.conftest import ROLES


def _table(aid: str, rid: str = "", eid: str = "") -> dict[tuple[str, str], dict[str, Any]]:
    """(method, route) -> request; unit=True: the object or filter is in unit A."""
    exc_form = {"scope": "rule", "rule_id": "r", "organization_id": UNIT_A, "action": "preview"}
    return {
        ("GET", "/"): {"url": "/"},
        ("GET", "/login"): {"url": "/login"},
        ("POST", "/login"): {"url": "/login", "data": {"username": "x", "password": "y"}},
        # OIDC sign-in (not configured here: 404; tests/console/test_oidc.py configures it)
        ("GET", "/login/oidc"): {"url": "/login/oidc"},
        ("GET", "/login/oidc/callback"): {"url": "/login/oidc/callback?state=x&code=y"},
        ("POST", "/logout"): {"url": "/logout", "last": True},
        ("GET", "/account/password"): {"url": "/account/password"},
        ("POST", "/account/password"): {
            "url": "/account/password",
            "data": {"current": "wrong-password", "new": "n" * 12, "confirm": "m" * 12},
        },
        ("POST", "/language"): {"url": "/language", "data": {"lang": "vi"}},
        ("GET", "/alerts"): {"url": f"/alerts?f=1&unit={UNIT_A}", "unit": True},
        ("GET", "/alerts/new-count"): {"url": f"/alerts/new-count?f=1&unit={UNIT_A}", "unit": True},
        ("POST", "/alerts/bulk"): {
            "url": "/alerts/bulk",
            "data": {"action": "note", "ids": [aid], "note": "m"},
            # a unit-B user's bulk action on unit A ids finds nothing: refused per alert (200)
        },
        ("GET", "/alerts/{alert_id}"): {"url": f"/alerts/{aid}", "unit": True, "object": True},
        # saved views: every user their own (an unknown id is a 404 for everyone)
        ("GET", "/alerts/views"): {"url": "/alerts/views"},
        ("POST", "/alerts/views"): {"url": "/alerts/views", "data": {"name": "m", "query": "f=1"}},
        ("GET", "/alerts/views/{view_id}"): {"url": "/alerts/views/0abc"},
        ("POST", "/alerts/views/{view_id}/rename"): {
            "url": "/alerts/views/0abc/rename",
            "data": {"name": "n"},
        },
        ("POST", "/alerts/views/{view_id}/default"): {"url": "/alerts/views/0abc/default"},
        ("POST", "/alerts/views/{view_id}/delete"): {"url": "/alerts/views/0abc/delete"},
        # pages 1, 4, 7: everyone's own units (a unit-B user sees B's empty figures: 200)
        ("GET", "/overview/body"): {"url": "/overview/body"},
        ("GET", "/entities/ip/{ip}"): {"url": "/entities/ip/10.0.0.1"},
        ("GET", "/entities/host/{name}"): {"url": "/entities/host/host-1"},
        ("GET", "/entities/user/{name}"): {"url": "/entities/user/nam"},
        ("GET", "/units"): {"url": "/units"},
        ("GET", "/units/{unit_id}"): {"url": f"/units/{UNIT_A}", "unit": True},
        ("POST", "/alerts/{alert_id}/status"): {
            "url": f"/alerts/{aid}/status",
            "data": {"status": "acknowledged"},
            "unit": True,
            "object": True,
        },
        ("POST", "/alerts/{alert_id}/assignee"): {
            "url": f"/alerts/{aid}/assignee",
            "data": {"assignee": "x"},
            "unit": True,
            "object": True,
        },
        ("POST", "/alerts/{alert_id}/notes"): {
            "url": f"/alerts/{aid}/notes",
            "data": {"text": "n"},
            "unit": True,
            "object": True,
        },
        # Administration: users, keys and health are global (province admins only)
        ("GET", "/admin/users"): {"url": "/admin/users", "province": True},
        ("POST", "/admin/users"): {
            "url": "/admin/users",
            "data": {"name": "m", "role": "viewer", "password": "p" * 3},
            "province": True,
        },
        ("POST", "/admin/users/{name}/disabled"): {
            "url": "/admin/users/viewer-b/disabled",
            "data": {"disabled": "false"},
            "province": True,
        },
        ("POST", "/admin/users/{name}/password"): {
            "url": "/admin/users/nobody/password",
            "data": {"password": "p" * 12},
            "province": True,
        },
        ("POST", "/admin/users/{name}/access"): {
            "url": "/admin/users/nobody/access",
            "data": {"role": "viewer"},
            "province": True,
        },
        ("GET", "/admin/keys"): {"url": "/admin/keys", "province": True},
        ("POST", "/admin/keys"): {
            "url": "/admin/keys",
            "data": {"name": "m", "role": "bad"},
            "province": True,
        },
        ("POST", "/admin/keys/{key_id}/revoke"): {
            "url": "/admin/keys/0abc/revoke",
            "province": True,
        },
        ("GET", "/admin/audit"): {"url": "/admin/audit"},
        # Reports: any viewer, for a unit in scope (the PDF is asked with an empty period:
        # 422 once allowed, so the matrix does not start Chromium 7 times)
        ("GET", "/reports"): {"url": f"/reports?unit={UNIT_A}", "unit": True},
        ("GET", "/reports/print"): {"url": f"/reports/print?unit={UNIT_A}", "unit": True},
        ("GET", "/reports/pdf"): {
            "url": f"/reports/pdf?unit={UNIT_A}&start=2026-12-02&end=2026-12-01",
            "unit": True,
        },
        ("GET", "/admin/health"): {"url": "/admin/health", "province": True},
        # rules (page 5): changes need a province-wide admin; invalid YAML keeps them harmless
        ("GET", "/rules"): {"url": "/rules"},
        ("GET", "/rules/coverage"): {"url": "/rules/coverage"},
        ("GET", "/rules/coverage/navigator"): {"url": "/rules/coverage/navigator"},
        ("GET", "/rules/new"): {"url": "/rules/new", "province": True},
        ("POST", "/rules/new"): {
            "url": "/rules/new",
            "data": {"yaml": "title: x"},
            "province": True,
        },
        ("POST", "/rules/try"): {"url": "/rules/try", "data": {"yaml": "a: b", "action": "check"}},
        ("GET", "/rules/{rule_id}"): {"url": f"/rules/{rid}"},
        ("GET", "/rules/{rule_id}/diff"): {"url": f"/rules/{rid}/diff?from=1&to=1"},
        ("GET", "/rules/{rule_id}/edit"): {"url": f"/rules/{rid}/edit", "province": True},
        ("POST", "/rules/{rule_id}/edit"): {
            "url": f"/rules/{rid}/edit",
            "data": {"yaml": "x"},
            "province": True,
        },
        ("POST", "/rules/{rule_id}/enabled"): {
            "url": f"/rules/{rid}/enabled",
            "data": {"enabled": "0"},
            "province": True,
        },
        ("POST", "/rules/{rule_id}/rollback"): {
            "url": f"/rules/{rid}/rollback",
            "data": {"version": "1"},
            "province": True,
        },
        # exceptions (page 6)
        ("GET", "/exceptions"): {"url": "/exceptions"},
        ("GET", "/exceptions/new"): {
            "url": f"/exceptions/new?alert={aid}",
            "unit": True,
            "object": True,
        },
        ("POST", "/exceptions/new"): {"url": "/exceptions/new", "data": exc_form, "unit": True},
        ("GET", "/exceptions/{exception_id}"): {
            "url": f"/exceptions/{eid}",
            "unit": True,
            "object": True,
        },
        ("POST", "/exceptions/{exception_id}"): {
            "url": f"/exceptions/{eid}",
            "data": exc_form,
            "unit": True,
            "object": True,
        },
    }


def test_console_authorisation_matrix(app, ctx, signed, client):
    aid, doc = make_alert(1, UNIT_A)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    rid = "0f4e3c52-9a7b-4d0e-8f11-2a6f0c1d9e77"  # RULE_YAML's id
    store.save_rule(ctx.client, ctx.names, rid, RULE_YAML, "test")
    spec = {"scope": "unit", "organization_id": UNIT_A, "reason": "r", "owner": "t"}
    eid = exceptions.create(ctx.client, ctx.names, spec, "test")["id"]
    table = _table(aid, rid, eid)
    routes = {
        (m, r.path): r
        for r in api_routes(app)
        if not getattr(r, "original_route", r).include_in_schema
        and not r.path.startswith("/docs")  # the API's documentation: tests/api/test_matrix.py
        for m in r.methods
    }
    assert set(routes) == set(table), "console routes and the matrix table differ"

    principals = [None] + [f"{r}@B" for r in ROLES] + [f"{r}@A" for r in ROLES] + list(ROLES)
    failures = []
    checked = 0
    order = sorted(routes.items(), key=lambda x: bool(table[x[0]].get("last")))
    for (method, path), route in order:
        role, province = declared_role(route.dependant)
        req = table[(method, path)]
        assert province == bool(req.get("province")), f"{method} {path}: province scope differs"
        for who in principals:
            if who is None:
                resp = client.request(
                    method, req["url"], data=req.get("data"), follow_redirects=False
                )
            elif method == "GET":
                resp = signed[who].get(req["url"])
            else:
                resp = signed[who].post(req["url"], req.get("data"))
            checked += 1
            got = resp.status_code
            if role == "public":
                # the sign-in form and the language switch: anyone (the anonymous POSTs lack
                # the sign-in form's CSRF cookie, so they are refused as forged: 403)
                ok = got < 500 and (who is not None or method == "GET" or got == 403)
                expected: Any = "public"
            elif who is None:
                expected = "sign-in"
                ok = got == 303 and resp.headers["location"].startswith("/login?next=")
            else:
                key_role, _, unit = who.partition("@")
                refused = (
                    RANK[key_role] < RANK[role]
                    or (req.get("unit") and unit == "B")
                    or (req.get("province") and unit != "")
                )
                # another unit's object addressed by id: 404, as if it did not exist
                # (docs/security.md), when the role alone would allow it
                hidden = bool(
                    refused
                    and req.get("object")
                    and unit == "B"
                    and RANK[key_role] >= RANK[role]
                    and not (req.get("province") and unit != "")
                )
                expected = 404 if hidden else 403 if refused else "allowed"
                ok = got == expected if refused else (got < 500 and got not in (401, 403))
                if not refused and got == 303:
                    ok = not resp.headers["location"].startswith("/login?next=")
            if not ok:
                failures.append(
                    f"{method} {path} as {who}: expected {expected}, got {got} {resp.text[:150]}"
                )
    assert not failures, "\n".join(failures)
    assert checked == len(table) * len(principals)
