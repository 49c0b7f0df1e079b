"""Exceptions through the API: CRUD, preview, unit scoping, audit."""

from __future__ import annotations

from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert


def test_exceptions_crud_preview_and_scope(client, keys, ctx):
    index_alerts(
        ctx.client, ctx.names, [make_alert(i, UNIT_A if i % 2 else UNIT_B) for i in range(8)]
    )
    an = h(keys["analyst@A"])
    spec = {
        "scope": "rule",
        "rule_id": "rule-ssh",
        "organization_id": UNIT_A,
        "conditions": [{"field": "source.ip", "op": "cidr", "value": "10.0.0.0/8"}],
        "reason": "internal scanner",
    }
    r = client.post("/api/v1/exceptions/preview", json={**spec, "since": "now-1d"}, headers=an)
    assert r.status_code == 200, r.text
    assert r.json()["alerts"] == 4
    r = client.post("/api/v1/exceptions", json=spec, headers=an)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    assert r.json()["owner"] == "key:analyst-a"
    # Out of scope: another unit, or a global exception from a unit-bound key.
    assert (
        client.post(
            "/api/v1/exceptions", json={**spec, "organization_id": UNIT_B}, headers=an
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/exceptions",
            json={**spec, "scope": "global", "organization_id": None},
            headers=an,
        ).status_code
        == 403
    )
    # Invalid: scope unit without a unit; bad CIDR.
    assert (
        client.post(
            "/api/v1/exceptions",
            json={**spec, "scope": "unit", "organization_id": None},
            headers=h(keys["analyst"]),
        ).status_code
        == 422
    )
    bad = {**spec, "conditions": [{"field": "source.ip", "op": "cidr", "value": "nope"}]}
    assert client.post("/api/v1/exceptions", json=bad, headers=an).status_code == 422
    assert (
        client.post("/api/v1/exceptions", json=spec, headers=h(keys["viewer@A"])).status_code == 403
    )

    assert (
        client.get(f"/api/v1/exceptions/{eid}", headers=an).json()["reason"] == "internal scanner"
    )
    assert client.get(f"/api/v1/exceptions/{eid}", headers=h(keys["analyst@B"])).status_code == 404
    assert client.get("/api/v1/exceptions/nope", headers=an).status_code == 404
    assert client.get("/api/v1/exceptions", headers=an).json()["total"] == 1
    assert client.get("/api/v1/exceptions", headers=h(keys["analyst@B"])).json()["total"] == 0
    assert (
        client.get(
            "/api/v1/exceptions", params={"rule_id": "rule-ssh"}, headers=h(keys["analyst"])
        ).json()["total"]
        == 1
    )

    r = client.patch(
        f"/api/v1/exceptions/{eid}", json={"enabled": False, "reason": "paused"}, headers=an
    )
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["reason"] == "paused"
    assert (
        client.patch(
            f"/api/v1/exceptions/{eid}", json={"enabled": True}, headers=h(keys["analyst@B"])
        ).status_code
        == 404
    )
    assert client.delete(f"/api/v1/exceptions/{eid}", headers=an).status_code == 204
    assert client.delete(f"/api/v1/exceptions/{eid}", headers=an).status_code == 404

    audit = client.get(
        "/api/v1/audit", params={"object_type": "exception"}, headers=h(keys["admin"])
    ).json()["items"]
    assert sorted(a["action"] for a in audit) == [
        "exception.create",
        "exception.delete",
        "exception.update",
    ]
    # A unit-bound admin reads the audit of its unit only.
    assert (
        len(
            client.get(
                "/api/v1/audit", params={"object_type": "exception"}, headers=h(keys["admin@A"])
            ).json()["items"]
        )
        == 3
    )
    assert (
        client.get(
            "/api/v1/audit", params={"object_type": "exception"}, headers=h(keys["admin@B"])
        ).json()["items"]
        == []
    )
