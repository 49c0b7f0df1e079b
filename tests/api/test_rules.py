"""Rules through the API: validation (422 with line and field), CRUD, versions, diff,
rollback, enable/disable, converted query, test on posted events, preview on stored events."""

from __future__ import annotations

import datetime as dt

from tests.api.conftest import UNIT_A, UNIT_B, h, iso

RULE = """title: SSH failed password
id: 7d0f6a5e-2b1c-4e3f-9a8b-1c2d3e4f5a6b
status: experimental
description: failed ssh logins
logsource:
  product: linux
  service: sshd
detection:
  selection:
    event.outcome: failure
    source.ip|cidr: 10.0.0.0/8
  condition: selection
level: high
tags:
  - attack.credential_access
  - attack.t1110
"""
RID = "7d0f6a5e-2b1c-4e3f-9a8b-1c2d3e4f5a6b"

BAD = RULE.replace("source.ip|cidr", "source.ip|cidrr")


def test_rule_lifecycle(client, keys, ctx):
    ad = h(keys["admin"])
    r = client.post("/api/v1/rules", json={"yaml": BAD}, headers=ad)
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["line"] == 11 and err["field"] == "source.ip"
    r = client.post("/api/v1/rules", json={"yaml": "title: ok\nfoo: bar: baz\n"}, headers=ad)
    assert r.status_code == 422 and r.json()["errors"][0]["line"] == 2
    r = client.post(
        "/api/v1/rules",
        json={"yaml": RULE.replace("condition: selection", "condition: selection and nope")},
        headers=ad,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "condition"
    v = client.post("/api/v1/rules/validate", json={"yaml": BAD}, headers=h(keys["analyst"]))
    assert v.status_code == 200 and v.json()["valid"] is False

    r = client.post("/api/v1/rules", json={"yaml": RULE}, headers=ad)
    assert r.status_code == 201, r.text
    assert r.json()["rule_id"] == RID and r.json()["enabled"] is False and r.json()["version"] == 1
    assert client.post("/api/v1/rules", json={"yaml": RULE}, headers=ad).status_code == 409
    # unit-bound admins cannot change province-wide rules
    assert (
        client.post("/api/v1/rules", json={"yaml": RULE}, headers=h(keys["admin@A"])).status_code
        == 403
    )

    an = h(keys["analyst"])
    got = client.get(f"/api/v1/rules/{RID}", headers=an).json()
    assert got["yaml"] == RULE and got["title"] == "SSH failed password"
    assert client.get(f"/api/v1/rules/{RID}/yaml", headers=an).text == RULE
    assert client.get("/api/v1/rules/nope", headers=an).status_code == 404
    for params, n in (
        ({"tag": "attack.credential_access"}, 1),
        ({"technique": "T1110"}, 1),
        ({"product": "linux", "service": "sshd"}, 1),
        ({"q": "failed"}, 1),
        ({"enabled": True}, 0),
        ({"technique": "T1059"}, 0),
    ):
        assert client.get("/api/v1/rules", params=params, headers=an).json()["total"] == n, params

    q = client.get(f"/api/v1/rules/{RID}/query", headers=an).json()
    assert "event.outcome:failure" in q["lucene"] and "query_string" in q["query"]

    r = client.put(
        f"/api/v1/rules/{RID}",
        json={"yaml": RULE.replace("level: high", "level: critical")},
        headers=ad,
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["level"] == "critical"
    assert client.put(f"/api/v1/rules/{RID}", json={"yaml": BAD}, headers=ad).status_code == 422
    other = RULE.replace(RID, "11111111-2222-4333-8444-555555555555")
    assert client.put(f"/api/v1/rules/{RID}", json={"yaml": other}, headers=ad).status_code == 422
    assert client.put("/api/v1/rules/nope", json={"yaml": RULE}, headers=ad).status_code == 404
    diff = client.get(f"/api/v1/rules/{RID}/diff", headers=an)
    assert "-level: high" in diff.text and "+level: critical" in diff.text
    assert (
        client.get(f"/api/v1/rules/{RID}/diff", params={"from": 9}, headers=an).status_code == 404
    )

    assert client.post(f"/api/v1/rules/{RID}/enable", headers=ad).json()["enabled"] is True
    assert client.post(f"/api/v1/rules/{RID}/disable", headers=ad).json()["enabled"] is False
    r = client.post(f"/api/v1/rules/{RID}/rollback", json={"version": 1}, headers=ad)
    assert r.status_code == 200 and r.json()["level"] == "high" and r.json()["version"] == 5
    assert (
        client.post(f"/api/v1/rules/{RID}/rollback", json={"version": 77}, headers=ad).status_code
        == 404
    )
    versions = client.get(f"/api/v1/rules/{RID}/versions", headers=an).json()
    assert [x["change"] for x in versions] == [
        "created",
        "updated",
        "enabled",
        "disabled",
        "rollback",
    ]

    assert client.delete(f"/api/v1/rules/{RID}", headers=ad).status_code == 204
    assert client.get(f"/api/v1/rules/{RID}", headers=an).status_code == 404
    assert client.delete(f"/api/v1/rules/{RID}", headers=ad).status_code == 404

    audit = client.get("/api/v1/audit", params={"object_type": "rule"}, headers=ad).json()["items"]
    actions = sorted(a["action"] for a in audit)
    assert actions == sorted(
        [
            "rule.create",
            "rule.update",
            "rule.enable",
            "rule.disable",
            "rule.rollback",
            "rule.delete",
        ]
    )
    upd = next(a for a in audit if a["action"] == "rule.update")
    assert upd["before"]["level"] == "high" and upd["after"]["level"] == "critical"


def test_rule_without_id_gets_one(client, keys):
    text = "\n".join(line for line in RULE.splitlines() if not line.startswith("id:")) + "\n"
    r = client.post("/api/v1/rules", json={"yaml": text}, headers=h(keys["admin"]))
    assert r.status_code == 201
    assert r.json()["yaml"].startswith(f"id: {r.json()['rule_id']}\n")


def test_rule_test_on_posted_events(client, keys):
    events = [
        {
            "@timestamp": "2026-11-24T10:00:00Z",
            "event": {"outcome": "failure", "dataset": "sshd"},
            "source": {"ip": "10.1.2.3"},
            "organization": {"id": UNIT_A},
        },
        {
            "@timestamp": "2026-11-24T10:00:01Z",
            "event": {"outcome": "success", "dataset": "sshd"},
            "source": {"ip": "10.1.2.3"},
        },
        {
            "@timestamp": "2026-11-24T10:00:02Z",
            "event": {"outcome": "failure", "dataset": "sshd"},
            "source": {"ip": "192.0.2.1"},
        },
    ]
    r = client.post(
        "/api/v1/rules/test", json={"yaml": RULE, "events": events}, headers=h(keys["admin"])
    )
    assert r.status_code == 200, r.text
    assert r.json()["matches"] == [0]
    assert r.json()["detections"][0]["rule_id"] == RID
    r = client.post(
        "/api/v1/rules/test", json={"yaml": BAD, "events": events}, headers=h(keys["admin"])
    )
    assert r.status_code == 422


def test_rule_preview_on_stored_events(client, keys, ctx):
    now = dt.datetime.now(dt.UTC)
    ops = []
    for i in range(12):
        t = now - dt.timedelta(hours=i * 5)
        doc = {
            "@timestamp": iso(t),
            "event": {"outcome": "failure" if i % 2 else "success", "dataset": "sshd"},
            "source": {"ip": f"10.0.0.{i}"},
            "organization": {"id": UNIT_A if i % 4 == 1 else UNIT_B},
        }
        ops += [{"create": {"_index": ctx.names.events(t.date()), "_id": f"e{i}"}}, doc]
    ctx.client.bulk(operations=ops, refresh="wait_for")
    body = {"yaml": RULE, "start": "now-3d", "samples": 3}
    r = client.post("/api/v1/rules/preview", json=body, headers=h(keys["admin"]))
    assert r.status_code == 200, r.text
    out = r.json()
    # odd i within 3 days (i*5h <= 72h -> i <= 14): 1,3,5,7,9,11
    assert out["total"] == 6
    assert sum(d["count"] for d in out["by_day"]) == 6
    assert {u["id"] for u in out["by_unit"]} == {UNIT_A, UNIT_B}
    assert len(out["samples"]) == 3
    # Scoped to the caller's units.
    r = client.post("/api/v1/rules/preview", json=body, headers=h(keys["admin@A"]))
    assert r.json()["total"] == 3 and {u["id"] for u in r.json()["by_unit"]} == {UNIT_A}
    # Stored rule preview.
    client.post("/api/v1/rules", json={"yaml": RULE}, headers=h(keys["admin"]))
    r = client.post(
        f"/api/v1/rules/{RID}/preview", json={"start": "now-1d"}, headers=h(keys["admin"])
    )
    assert r.status_code == 200 and 0 < r.json()["total"] < 6
    assert (
        client.post(
            "/api/v1/rules/preview", json={"start": "now-1d"}, headers=h(keys["admin"])
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/rules/preview", json={**body, "start": "now-9999d"}, headers=h(keys["admin"])
        ).status_code
        == 422
    )
