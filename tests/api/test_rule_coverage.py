"""GET /api/v1/rules/coverage and /coverage/navigator: enabled rules per ATT&CK technique,
alert counts scoped to the caller's units, roles, OpenAPI."""

from __future__ import annotations

import pytest

from socmon.rules import store
from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert
from tests.rules.test_coverage import validate_layer

pytestmark = pytest.mark.es

RULE = """title: coverage rule {n}
id: {rid}
status: test
level: high
logsource: {{product: linux, service: auth}}
detection:
  sel:
    message|contains: 'x{n}'
  condition: sel
tags:
  - attack.{tag}
"""
R_BF = "c0c0c0c0-0000-4000-8000-000000000001"  # T1110 Brute Force
R_PS = "c0c0c0c0-0000-4000-8000-000000000002"  # T1059.001 PowerShell
R_OFF = "c0c0c0c0-0000-4000-8000-000000000003"  # T1046, disabled


def _setup(ctx) -> None:  # type: ignore[no-untyped-def]
    for n, rid, tag, enabled in (
        (1, R_BF, "t1110", True),
        (2, R_PS, "t1059.001", True),
        (3, R_OFF, "t1046", False),
    ):
        store.save_rule(
            ctx.client, ctx.names, rid, RULE.format(n=n, rid=rid, tag=tag), "t", enabled=enabled
        )
    index_alerts(
        ctx.client,
        ctx.names,
        [make_alert(i, unit=UNIT_A, rule_id=R_BF) for i in range(3)]
        + [make_alert(10 + i, unit=UNIT_B, rule_id=R_BF) for i in range(2)]
        + [make_alert(20, unit=UNIT_B, rule_id=R_PS)],
    )


def _technique(body: dict, tid: str) -> dict | None:  # type: ignore[type-arg]
    for tac in body["tactics"]:
        for t in tac["techniques"]:
            if t["id"] == tid:
                return t
    return None


def test_coverage_scoped_to_units(client, keys, ctx) -> None:  # type: ignore[no-untyped-def]
    _setup(ctx)
    prov = client.get("/api/v1/rules/coverage", headers=h(keys["analyst"]))
    assert prov.status_code == 200, prov.text
    body = prov.json()
    bf = _technique(body, "T1110")
    assert bf is not None and bf["name"] == "Brute Force"
    [rule] = [r for r in bf["rules"] if r["rule_id"] == R_BF]
    assert rule["detections"] == 5 and rule["source"] == "store"
    ps = _technique(body, "T1059.001")
    assert ps is not None and [r["detections"] for r in ps["rules"] if r["rule_id"] == R_PS] == [1]
    # a disabled rule covers nothing
    t1046 = _technique(body, "T1046")
    assert t1046 is None or R_OFF not in [r["rule_id"] for r in t1046["rules"]]

    unit_a = client.get("/api/v1/rules/coverage", headers=h(keys["analyst@A"])).json()
    bf_a = _technique(unit_a, "T1110")
    assert bf_a is not None
    assert [r["detections"] for r in bf_a["rules"] if r["rule_id"] == R_BF] == [3]
    ps_a = _technique(unit_a, "T1059.001")
    assert ps_a is not None
    assert [r["detections"] for r in ps_a["rules"] if r["rule_id"] == R_PS] == [0]
    # a time range before every alert: no detections
    old = client.get(
        "/api/v1/rules/coverage",
        params={"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
        headers=h(keys["analyst"]),
    ).json()
    assert _technique(old, "T1110")["detections"] == 0  # type: ignore[index]

    layer = client.get("/api/v1/rules/coverage/navigator", headers=h(keys["analyst@B"]))
    assert layer.status_code == 200
    assert "attachment" in layer.headers["content-disposition"]
    validate_layer(layer.json())
    [t] = [t for t in layer.json()["techniques"] if t["techniqueID"] == "T1110"]
    # unit B's two alerts of R_BF (the shipped rules tagged T1110 have none in this index)
    assert t["metadata"] == [{"name": "detections", "value": "2"}]
    assert ", 2 detections: " in t["comment"] and "coverage rule 1" in t["comment"]


def test_coverage_roles_and_openapi(client, keys) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/rules/coverage").status_code == 401
    assert client.get("/api/v1/rules/coverage", headers=h(keys["viewer"])).status_code == 403
    paths = client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/rules/coverage"]
    assert "get" in paths["/api/v1/rules/coverage/navigator"]
