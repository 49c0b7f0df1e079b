"""Authorisation matrix: every route x every role x in-unit / out-of-unit / province key
(and no key) -> allowed, or 401/403 as the route declares. No route may be missing from the
table, and no route may be without a declared role (checked by create_app)."""

from __future__ import annotations

from typing import Any

from socmon.api.app import api_routes
from socmon.api.auth import RANK, declared_role
from socmon.api.keys import create_key
from tests.api.conftest import UNIT_A, h, index_alerts, make_alert
from tests.api.test_rules import RID, RULE

ROLES = ("viewer", "analyst", "admin")
EVENT = {
    "@timestamp": "2026-11-24T10:00:00Z",
    "event": {"outcome": "failure", "dataset": "sshd"},
    "source": {"ip": "10.1.2.3"},
}


def _table(aid: str, eid: str, kid: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, route) -> request; unit=True: the object or filter is in unit A, so keys of
    unit B must be refused (403)."""
    exc = {
        "scope": "unit",
        "organization_id": UNIT_A,
        "reason": "matrix",
        "conditions": [{"field": "source.ip", "op": "equals", "value": "10.9.9.9"}],
    }
    return {
        ("GET", "/api/v1/alerts"): {"url": f"/api/v1/alerts?unit={UNIT_A}", "unit": True},
        ("GET", "/api/v1/alerts/{alert_id}"): {"url": f"/api/v1/alerts/{aid}", "unit": True},
        ("POST", "/api/v1/alerts/{alert_id}/status"): {
            "url": f"/api/v1/alerts/{aid}/status",
            "json": {"status": "acknowledged"},
            "unit": True,
        },
        ("POST", "/api/v1/alerts/{alert_id}/assignee"): {
            "url": f"/api/v1/alerts/{aid}/assignee",
            "json": {"assignee": "x"},
            "unit": True,
        },
        ("POST", "/api/v1/alerts/{alert_id}/notes"): {
            "url": f"/api/v1/alerts/{aid}/notes",
            "json": {"text": "n"},
            "unit": True,
        },
        ("POST", "/api/v1/alerts/bulk"): {
            "url": "/api/v1/alerts/bulk",
            "json": {"filter": {"unit": [UNIT_A]}, "note": "b"},
            "unit": True,
        },
        ("GET", "/api/v1/rules"): {"url": "/api/v1/rules"},
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
        },
        ("PATCH", "/api/v1/exceptions/{exception_id}"): {
            "url": f"/api/v1/exceptions/{eid}",
            "json": {"reason": "r2"},
            "unit": True,
        },
        ("DELETE", "/api/v1/exceptions/{exception_id}"): {
            "url": f"/api/v1/exceptions/{eid}",
            "unit": True,
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
    # tests/console/test_matrix.py.
    routes = {
        (m, r.path): r
        for r in api_routes(app)
        if getattr(r, "original_route", r).include_in_schema
        for m in r.methods
    }
    assert set(routes) == set(table), "routes and the matrix table differ"

    # Keys of unit B first, then unit A, then the province: destructive calls come last.
    principals = [None] + [f"{r}@B" for r in ROLES] + [f"{r}@A" for r in ROLES] + list(ROLES)
    failures = []
    checked = 0
    for (method, path), route in sorted(routes.items(), key=lambda x: x[0][0] == "DELETE"):
        role, province_only = declared_role(route.dependant)
        req = table[(method, path)]
        for who in principals:
            headers = h(keys[who]) if who else {}
            resp = client.request(method, req["url"], json=req.get("json"), headers=headers)
            checked += 1
            if role == "public":
                expected = "allowed"
            elif who is None:
                expected = 401
            else:
                key_role, _, unit = who.partition("@")
                refused = (
                    RANK[key_role] < RANK[role]  # role too low
                    or (province_only and bool(unit))  # province-wide objects
                    or (req.get("unit") and unit == "B")  # another unit's object
                )
                expected = 403 if refused else "allowed"
            got = resp.status_code
            ok = got not in (401, 403) and got < 500 if expected == "allowed" else got == expected
            if not ok:
                failures.append(
                    f"{method} {path} as {who}: expected {expected}, got {got} {resp.text[:200]}"
                )
    assert not failures, "\n".join(failures)
    assert checked == len(table) * len(principals)
