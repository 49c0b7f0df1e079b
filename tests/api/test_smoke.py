from __future__ import annotations

from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert


def test_alert_list_smoke(client, keys, ctx):
    index_alerts(
        ctx.client, ctx.names, [make_alert(i, UNIT_A if i % 2 else UNIT_B) for i in range(10)]
    )
    r = client.get("/api/v1/alerts", headers=h(keys["viewer"]))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 10
    r = client.get("/api/v1/alerts", headers=h(keys["viewer@A"]))
    assert r.json()["total"] == 5
