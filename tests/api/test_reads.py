"""Events search, stats and reports: scoping, restrictions, pagination, both languages."""

from __future__ import annotations

import datetime as dt
import re

from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, iso, make_alert


def _events(ctx, n=25):
    now = dt.datetime.now(dt.UTC)
    ops = []
    for i in range(n):
        t = now - dt.timedelta(minutes=i)
        doc = {
            "@timestamp": iso(t),
            "message": f"Failed password for user{i % 3} from 10.0.0.{i}",
            "event": {"dataset": "sshd", "outcome": "failure" if i % 2 else "success"},
            "source": {"ip": f"10.0.0.{i}"},
            "user": {"name": f"user{i % 3}"},
            "organization": {"id": UNIT_A if i % 5 else UNIT_B},
        }
        ops += [{"create": {"_index": ctx.names.events(t.date()), "_id": f"ev{i}"}}, doc]
    ctx.client.bulk(operations=ops, refresh="wait_for")


def test_events_search(client, keys, ctx):
    _events(ctx)
    v = h(keys["viewer"])
    r = client.get("/api/v1/events", params={"q": "event.outcome:failure"}, headers=v)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 12
    r = client.get("/api/v1/events", params={"q": "user0 AND source.ip:10.0.0.3"}, headers=v)
    assert r.json()["total"] == 1
    r = client.get("/api/v1/events", headers=h(keys["viewer@B"]))
    assert r.json()["total"] == 5
    assert all(e["organization"]["id"] == UNIT_B for e in r.json()["items"])
    assert (
        client.get(
            "/api/v1/events", params={"unit": UNIT_A}, headers=h(keys["viewer@B"])
        ).status_code
        == 403
    )
    for bad in ("message:/fail.*/", "user~2", "*:x", "*password", "_index:x", "user.*:x"):
        r = client.get("/api/v1/events", params={"q": bad}, headers=v)
        assert r.status_code == 422, bad
    assert client.get("/api/v1/events", params={"q": 'message:"a/b"'}, headers=v).status_code == 200
    # pagination
    seen = []
    r = client.get("/api/v1/events", params={"size": 10}, headers=v).json()
    seen += [e["_id"] for e in r["items"]]
    while r["next_cursor"]:
        r = client.get("/api/v1/events", params={"cursor": r["next_cursor"]}, headers=v).json()
        seen += [e["_id"] for e in r["items"]]
    assert len(seen) == 25 == len(set(seen))
    assert client.get("/api/v1/events", params={"start": "now-500d"}, headers=v).status_code == 422
    assert (
        client.get(
            "/api/v1/events", params={"start": "now", "end": "now-1d"}, headers=v
        ).status_code
        == 422
    )


def _alerts(ctx):
    now = dt.datetime.now(dt.UTC)
    docs = []
    for i in range(20):
        extra = {}
        if i % 4 == 0:
            extra = {
                "status": "resolved",
                "acknowledged_at": iso(now - dt.timedelta(hours=i, minutes=-10)),
                "resolved_at": iso(now - dt.timedelta(hours=i, minutes=-60)),
                "sla_due": iso(now - dt.timedelta(hours=i, minutes=-30)),
            }
        docs.append(
            make_alert(
                i,
                UNIT_A if i % 2 else UNIT_B,
                severity=("high", "low", "critical")[i % 3],
                rule_id=f"rule-{i % 3}",
                at=now - dt.timedelta(hours=i),
                **extra,
            )
        )
    docs.append(
        make_alert(
            99,
            UNIT_A,
            rule_id="socmon-silent-source",
            severity="medium",
            at=now - dt.timedelta(hours=1),
            host={"name": "fw-01"},
        )
    )
    index_alerts(ctx.client, ctx.names, docs)


def test_stats(client, keys, ctx):
    _alerts(ctx)
    r = client.get("/api/v1/stats", params={"start": "now-2d"}, headers=h(keys["viewer"]))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["total"] == 21
    assert s["by_status"]["resolved"] == 5
    assert sum(p["total"] for p in s["over_time"]) == 21
    assert s["interval"] == "1h"
    assert abs(s["mtta_seconds"] - 600) < 1 and abs(s["mttr_seconds"] - 3600) < 1
    assert s["sla_breaches"]["closed_late"] == 5
    assert s["silent_sources"]["hosts"] == {"fw-01": 1}
    assert {e["value"] for e in s["top_entities"]["host.name"]} >= {"host-0"}
    r = client.get("/api/v1/stats", params={"start": "now-2d"}, headers=h(keys["viewer@B"]))
    assert r.json()["total"] == 10 and [u["id"] for u in r.json()["by_unit"]] == [UNIT_B]
    assert (
        client.get(
            "/api/v1/stats", params={"unit": UNIT_A}, headers=h(keys["viewer@B"])
        ).status_code
        == 403
    )
    assert (
        client.get(
            "/api/v1/stats",
            params={"start": "now-300d", "interval": "15m"},
            headers=h(keys["viewer"]),
        ).status_code
        == 422
    )


def test_reports_json_and_html(client, keys, ctx):
    _alerts(ctx)
    r = client.get(
        "/api/v1/reports", params={"start": "now-2d", "lang": "en"}, headers=h(keys["viewer"])
    )
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["units"] == [] and rep["figures"]["total"] == 21
    assert {u["id"] for u in rep["figures"]["units"]} == {UNIT_A, UNIT_B}
    assert client.get("/api/v1/reports", headers=h(keys["viewer@A"])).json()["units"] == [UNIT_A]
    for lang, words in (
        ("vi", ["Báo cáo an toàn thông tin", "Cảnh báo theo mức độ", "Nghiêm trọng"]),
        ("en", ["Security monitoring report", "Alerts by severity", "Critical"]),
    ):
        r = client.get(
            "/api/v1/reports/html",
            params={"start": "now-2d", "lang": lang},
            headers=h(keys["viewer@A"]),
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        for w in words:
            assert w in page, (lang, w)
        assert page.count("<svg") >= 3
        assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page), "no external assets"
        assert "<script" not in page
        assert f'lang="{lang}"' in page
    # The default language comes from settings (vi).
    assert 'lang="vi"' in client.get("/api/v1/reports/html", headers=h(keys["viewer"])).text
