"""Authorisation matrix: every route x every role x in-unit / out-of-unit / province key
(and no key) -> allowed, or 401/403 as the policy says. The policy (``POLICY``: route ->
minimum role, province-only) is written here from the table in docs/api.md "Roles and
organisation units", not read from the routes' own declarations: a route declaring too low a
role fails. No route may be missing from the table, and no route may be without a declared
role (checked by create_app)."""

from __future__ import annotations

from typing import Any

from socmon.api.app import api_routes
from socmon.api.auth import declared_role
from socmon.api.keys import create_key
from tests.api.conftest import UNIT_A, h, index_alerts, make_alert
from tests.api.test_rules import RID, RULE

ROLES = ("viewer", "analyst", "admin")
EVENT = {
    "@timestamp": "2026-11-24T10:00:00Z",
    "event": {"outcome": "failure", "dataset": "sshd"},
    "source": {"ip": "10.1.2.3"},
}


V, AN, AD, PUBLIC = "viewer", "analyst", "admin", "public"
PROVINCE = True  # only keys of the whole province (no unit)
# docs/api.md: alerts list/detail, events, stats, reports: viewer | alert status/assignee/
# notes/bulk: analyst | exceptions CRUD + preview: analyst | rules list/get/yaml/versions/diff/
# query/validate, ATT&CK coverage (+ navigator layer): analyst | rules create/update/enable/
# disable/delete/rollback: admin, province only | rules test/preview: admin | keys: admin,
# province only | audit: admin | health, readiness, metrics: public
POLICY: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/api/v1/alerts"): (V, False),
    ("GET", "/api/v1/alerts/{alert_id}"): (V, False),
    ("GET", "/api/v1/events"): (V, False),
    ("GET", "/api/v1/stats"): (V, False),
    ("GET", "/api/v1/reports"): (V, False),
    ("GET", "/api/v1/reports/html"): (V, False),
    ("POST", "/api/v1/alerts/{alert_id}/status"): (AN, False),
    ("POST", "/api/v1/alerts/{alert_id}/assignee"): (AN, False),
    ("POST", "/api/v1/alerts/{alert_id}/notes"): (AN, False),
    ("POST", "/api/v1/alerts/bulk"): (AN, False),
    ("GET", "/api/v1/exceptions"): (AN, False),
    ("POST", "/api/v1/exceptions"): (AN, False),
    ("POST", "/api/v1/exceptions/preview"): (AN, False),
    ("GET", "/api/v1/exceptions/{exception_id}"): (AN, False),
    ("PATCH", "/api/v1/exceptions/{exception_id}"): (AN, False),
    ("DELETE", "/api/v1/exceptions/{exception_id}"): (AN, False),
    ("GET", "/api/v1/rules"): (AN, False),
    ("GET", "/api/v1/rules/coverage"): (AN, False),
    ("GET", "/api/v1/rules/coverage/navigator"): (AN, False),
    ("GET", "/api/v1/rules/{rule_id}"): (AN, False),
    ("GET", "/api/v1/rules/{rule_id}/yaml"): (AN, False),
    ("GET", "/api/v1/rules/{rule_id}/versions"): (AN, False),
    ("GET", "/api/v1/rules/{rule_id}/diff"): (AN, False),
    ("GET", "/api/v1/rules/{rule_id}/query"): (AN, False),
    ("POST", "/api/v1/rules/validate"): (AN, False),
    ("POST", "/api/v1/rules"): (AD, PROVINCE),
    ("PUT", "/api/v1/rules/{rule_id}"): (AD, PROVINCE),
    ("POST", "/api/v1/rules/{rule_id}/enable"): (AD, PROVINCE),
    ("POST", "/api/v1/rules/{rule_id}/disable"): (AD, PROVINCE),
    ("DELETE", "/api/v1/rules/{rule_id}"): (AD, PROVINCE),
    ("POST", "/api/v1/rules/{rule_id}/rollback"): (AD, PROVINCE),
    ("POST", "/api/v1/rules/test"): (AD, False),
    ("POST", "/api/v1/rules/preview"): (AD, False),
    ("POST", "/api/v1/rules/{rule_id}/preview"): (AD, False),
    ("GET", "/api/v1/keys"): (AD, PROVINCE),
    ("POST", "/api/v1/keys"): (AD, PROVINCE),
    ("DELETE", "/api/v1/keys/{key_id}"): (AD, PROVINCE),
    ("GET", "/api/v1/audit"): (AD, False),
    ("GET", "/healthz"): (PUBLIC, False),
    ("GET", "/readyz"): (PUBLIC, False),
    ("GET", "/metrics"): (PUBLIC, False),
    # docs/security.md: the API's documentation page describes routes, not data
    ("GET", "/docs"): (PUBLIC, False),
    ("GET", "/docs/docs-init.js"): (PUBLIC, False),
}
# the order of the roles, as docs/api.md states it (viewer < analyst < admin)
RANK = {V: 0, AN: 1, AD: 2}


def _table(aid: str, eid: str, kid: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, route) -> request; unit=True: the object or filter is in unit A, so keys of
    unit B must be refused: 403 when they name the unit (a filter, a new object), 404 when
    they address an existing object by id (object=True: as if it did not exist)."""
    exc = {
        "scope": "unit",
        "organization_id": UNIT_A,
        "reason": "matrix",
        "conditions": [{"field": "source.ip", "op": "equals", "value": "10.9.9.9"}],
    }
    return {
        ("GET", "/api/v1/alerts"): {"url": f"/api/v1/alerts?unit={UNIT_A}", "unit": True},
        ("GET", "/api/v1/alerts/{alert_id}"): {
            "url": f"/api/v1/alerts/{aid}",
            "unit": True,
            "object": True,
        },
        ("POST", "/api/v1/alerts/{alert_id}/status"): {
            "url": f"/api/v1/alerts/{aid}/status",
            "json": {"status": "acknowledged"},
            "unit": True,
            "object": True,
        },
        ("POST", "/api/v1/alerts/{alert_id}/assignee"): {
            "url": f"/api/v1/alerts/{aid}/assignee",
            "json": {"assignee": "x"},
            "unit": True,
            "object": True,
        },
        ("POST", "/api/v1/alerts/{alert_id}/notes"): {
            "url": f"/api/v1/alerts/{aid}/notes",
            "json": {"text": "n"},
            "unit": True,
            "object": True,
        },
        ("POST", "/api/v1/alerts/bulk"): {
            "url": "/api/v1/alerts/bulk",
            "json": {"filter": {"unit": [UNIT_A]}, "note": "b"},
            "unit": True,
        },
        ("GET", "/api/v1/rules"): {"url": "/api/v1/rules"},
        ("GET", "/api/v1/rules/coverage"): {"url": "/api/v1/rules/coverage"},
        ("GET", "/api/v1/rules/coverage/navigator"): {"url": "/api/v1/rules/coverage/navigator"},
        ("GET", "/api/v1/rules/{rule_id}"): {"url": f"/api/v1/rules/{RID}"},
        ("GET", "/api/v1/rules/{rule_id}/yaml"): {"url": f"/api/v1/rules/{RID}/yaml"},
        ("GET", "/api/v1/rules/{rule_id}/versions"): {"url": f"/api/v1/rules/{RID}/versions"},
        ("GET", "/api/v1/rules/{rule_id}/diff"): {"url": f"/api/v1/rules/{RID}/diff"},
        ("GET", "/api/v1/rules/{rule_id}/query"): {"url": f"/api/v1/rules/{RID}/query"},
        ("POST", "/api/v1/rules/validate"): {
            "url": "/api/v1/rules/validate",
            "json": {"yaml": RULE},
        },
        ("POST", "/api/v1/rules"): {"url": "/api/v1/rules", "json": {"yaml": RULE}},
        ("PUT", "/api/v1/rules/{rule_id}"): {"url": f"/api/v1/rules/{RID}", "json": {"yaml": RULE}},
        ("POST", "/api/v1/rules/{rule_id}/enable"): {"url": f"/api/v1/rules/{RID}/enable"},
        ("POST", "/api/v1/rules/{rule_id}/disable"): {"url": f"/api/v1/rules/{RID}/disable"},
        ("DELETE", "/api/v1/rules/{rule_id}"): {"url": f"/api/v1/rules/{RID}"},
        ("POST", "/api/v1/rules/{rule_id}/rollback"): {
            "url": f"/api/v1/rules/{RID}/rollback",
            "json": {"version": 1},
        },
        ("POST", "/api/v1/rules/test"): {
            "url": "/api/v1/rules/test",
            "json": {"yaml": RULE, "events": [EVENT]},
        },
        ("POST", "/api/v1/rules/preview"): {
            "url": "/api/v1/rules/preview",
            "json": {"yaml": RULE, "start": "now-1h"},
        },
        ("POST", "/api/v1/rules/{rule_id}/preview"): {
            "url": f"/api/v1/rules/{RID}/preview",
            "json": {"start": "now-1h"},
        },
        ("GET", "/api/v1/exceptions"): {"url": "/api/v1/exceptions"},
        ("POST", "/api/v1/exceptions"): {"url": "/api/v1/exceptions", "json": exc, "unit": True},
        ("POST", "/api/v1/exceptions/preview"): {
            "url": "/api/v1/exceptions/preview",
            "json": exc,
            "unit": True,
        },
        ("GET", "/api/v1/exceptions/{exception_id}"): {
            "url": f"/api/v1/exceptions/{eid}",
            "unit": True,
            "object": True,
        },
        ("PATCH", "/api/v1/exceptions/{exception_id}"): {
            "url": f"/api/v1/exceptions/{eid}",
            "json": {"reason": "r2"},
            "unit": True,
            "object": True,
        },
        ("DELETE", "/api/v1/exceptions/{exception_id}"): {
            "url": f"/api/v1/exceptions/{eid}",
            "unit": True,
            "object": True,
        },
        ("GET", "/api/v1/events"): {"url": f"/api/v1/events?unit={UNIT_A}", "unit": True},
        ("GET", "/api/v1/stats"): {"url": f"/api/v1/stats?unit={UNIT_A}", "unit": True},
        ("GET", "/api/v1/reports"): {"url": f"/api/v1/reports?unit={UNIT_A}", "unit": True},
        ("GET", "/api/v1/reports/html"): {
            "url": f"/api/v1/reports/html?unit={UNIT_A}",
            "unit": True,
        },
        ("GET", "/api/v1/keys"): {"url": "/api/v1/keys"},
        ("POST", "/api/v1/keys"): {"url": "/api/v1/keys", "json": {"name": "m", "role": "viewer"}},
        ("DELETE", "/api/v1/keys/{key_id}"): {"url": f"/api/v1/keys/{kid}"},
        ("GET", "/api/v1/audit"): {"url": "/api/v1/audit"},
        ("GET", "/healthz"): {"url": "/healthz"},
        ("GET", "/readyz"): {"url": "/readyz"},
        ("GET", "/metrics"): {"url": "/metrics"},
        ("GET", "/docs"): {"url": "/docs"},
        ("GET", "/docs/docs-init.js"): {"url": "/docs/docs-init.js"},
    }


def test_authorisation_matrix(client, app, keys, ctx):
    aid, doc = make_alert(1, UNIT_A)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    r = client.post("/api/v1/rules", json={"yaml": RULE}, headers=h(keys["admin"]))
    assert r.status_code == 201
    r = client.post(
        "/api/v1/exceptions",
        json={
            "scope": "unit",
            "organization_id": UNIT_A,
            "reason": "m",
            "conditions": [{"field": "host.name", "op": "equals", "value": "h"}],
        },
        headers=h(keys["analyst"]),
    )
    eid = r.json()["id"]
    _, rec = create_key(ctx.client, ctx.names, "doomed", "viewer", None, "test")
    table = _table(aid, eid, rec.key_id)

    # The console's pages (out of the OpenAPI document) have their own matrix:
    # tests/console/test_matrix.py; /docs is out of the document too but is the API's.
    routes = {
        (m, r.path): r
        for r in api_routes(app)
        if getattr(r, "original_route", r).include_in_schema or r.path.startswith("/docs")
        for m in r.methods
    }
    assert set(routes) == set(table) == set(POLICY), "routes and the matrix tables differ"

    # Keys of unit B first, then unit A, then the province: destructive calls come last.
    # and keys that are no keys: well-formed but made up, or with '*' stuffed in the id
    keys = {**keys, "forged": f"smk_{'ab' * 8}_{'x' * 43}", "stuffed": "smk_*_" + "y" * 43}
    principals = (
        [None, "forged", "stuffed"]
        + [f"{r}@B" for r in ROLES]
        + [f"{r}@A" for r in ROLES]
        + list(ROLES)
    )
    failures = []
    checked = 0
    for method, path in sorted(routes, key=lambda x: x[0] == "DELETE"):
        role, province_only = POLICY[(method, path)]
        req = table[(method, path)]
        for who in principals:
            headers = h(keys[who]) if who else {}
            resp = client.request(method, req["url"], json=req.get("json"), headers=headers)
            checked += 1
            if role == "public":
                expected = "allowed"
            elif who in (None, "forged", "stuffed"):
                expected = 401
            else:
                key_role, _, unit = who.partition("@")
                if RANK[key_role] < RANK[role] or (province_only and bool(unit)):
                    expected = 403  # role too low, or a province-wide object
                elif req.get("unit") and unit == "B":
                    # another unit: 403 when named, 404 when its object is addressed by id
                    expected = 404 if req.get("object") else 403
                else:
                    expected = "allowed"
            got = resp.status_code
            ok = got not in (401, 403) and got < 500 if expected == "allowed" else got == expected
            if not ok:
                failures.append(
                    f"{method} {path} as {who}: expected {expected}, got {got} {resp.text[:200]}"
                )
    assert not failures, "\n".join(failures)
    assert checked == len(table) * len(principals)
    # and the declarations say what docs/api.md says
    assert {k: declared_role(r.dependant) for k, r in routes.items()} == POLICY
