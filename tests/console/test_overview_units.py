"""Console pages 1, 4 and 7 (server side): the province overview, entity pages and unit
scorecards. Every expectation comes from the hand-computed fixture below (alerts with known
timestamps -> known MTTA/MTTR/SLA/backlog), never from the code under test."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from socmon.api.console import users
from socmon.api.console.pages import overview
from socmon.settings.collectors import OrganizationUnit
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, iso, make_alert
from tests.console.conftest import Signed, make_user, sign_in

NOW = dt.datetime.now(dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
M = dt.timedelta(minutes=1)
IP = "203.0.113.7"


def _alert(
    n: int,
    unit: str,
    at: dt.datetime,
    status: str,
    severity: str,
    ack: dt.timedelta | None = None,
    res: dt.timedelta | None = None,
    sla: dt.datetime | None = None,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    more: dict[str, Any] = dict(extra)
    if ack is not None:
        more["acknowledged_at"] = iso(at + ack)
    if res is not None:
        more["resolved_at"] = iso(at + res)
    if sla is not None:
        more["sla_due"] = iso(sla)
    return make_alert(n, unit, status=status, severity=severity, at=at, **more)


def fixture_alerts() -> dict[str, tuple[str, dict[str, Any]]]:
    """The table the expectations below are computed from by hand.

    | id | unit | created | status | sev | ack after | resolved after | SLA due | note
    | a1 | A | now-10d | resolved | high | 10 min | 2 h | created+4h | on time
    | a2 | A | now-5d | resolved | high | 30 min | 10 h | created+4h | late
    | a3 | A | now-2d | open | high | - | - | now-1d | overdue, open
    | a4 | A | now-3h | open | critical | - | - | now+1h | not yet due
    | a5 | A | now-40d | acknowledged | medium | 1 h | - | now-39d | outside 30 d, overdue
    | s1 | A | now-1h | open | low | - | - | none | silent source
    | b1 | B | now-1d | resolved | high | 2 min | 1 h | created+4h | on time
    """
    a1t, a2t, b1t = NOW - 10 * D, NOW - 5 * D, NOW - D
    ip_a = {"source": {"ip": IP}, "host": {"name": "web-a"}, "user": {"name": "nam"}}
    return {
        "a1": _alert(1, UNIT_A, a1t, "resolved", "high", 10 * M, 2 * H, a1t + 4 * H, **ip_a),
        "a2": _alert(2, UNIT_A, a2t, "resolved", "high", 30 * M, 10 * H, a2t + 4 * H),
        "a3": _alert(3, UNIT_A, NOW - 2 * D, "open", "high", sla=NOW - D),
        "a4": _alert(4, UNIT_A, NOW - 3 * H, "open", "critical", sla=NOW + H),
        "a5": _alert(5, UNIT_A, NOW - 40 * D, "acknowledged", "medium", H, sla=NOW - 39 * D),
        "s1": _alert(6, UNIT_A, NOW - H, "open", "low", kind="silent_source", rule_id="sil"),
        "b1": _alert(
            7,
            UNIT_B,
            b1t,
            "resolved",
            "high",
            2 * M,
            H,
            b1t + 4 * H,
            destination={"ip": IP},
            source={"ip": "198.51.100.9"},
            host={"name": "web-b"},
        ),
    }


# (unit, when, host, source ip or None)
EVENTS = [
    (UNIT_A, NOW - 2 * H, "web-a", IP),
    (UNIT_A, NOW - H, "db-a", None),
    (UNIT_A, NOW - 40 * D, "old-a", None),
    (UNIT_B, NOW - 3 * H, "web-b", IP),
]


def index_events(ctx) -> None:  # type: ignore[no-untyped-def]
    ops: list[dict[str, Any]] = []
    for n, (unit, t, host, ip) in enumerate(EVENTS):
        doc: dict[str, Any] = {
            "@timestamp": iso(t),
            "organization": {"id": unit, "name": f"Unit {unit}"},
            "host": {"name": host},
            "event": {"dataset": "sshd", "original": f"line {n} from {host}"},
            "message": f"line {n}",
        }
        if ip:
            doc["source"] = {"ip": ip}
        ops.append({"index": {"_index": ctx.names.events(t.date())}})
        ops.append(doc)
    resp = ctx.client.bulk(operations=ops, refresh="wait_for")
    assert not resp["errors"], resp


@pytest.fixture
def signed(app, ctx) -> Iterator[dict[str, Signed]]:  # type: ignore[no-untyped-def]
    """Viewers of the province, unit A and unit B only (argon2 hashing is slow on a loaded
    machine; the role x unit matrix is tests/console/test_matrix.py)."""
    who = {"viewer": None, "viewer@A": [UNIT_A], "viewer@B": [UNIT_B]}
    for name, units in who.items():
        make_user(ctx, name.replace("@", "-").lower(), "viewer", units)
    ctx.client.indices.refresh(index=users.users_index(ctx.names))
    out = {name: sign_in(app, name.replace("@", "-").lower()) for name in who}
    yield out
    for s in out.values():
        s.http.close()


@pytest.fixture
def data(ctx) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ctx.settings.collectors.organization_units = [
        OrganizationUnit(id=UNIT_A, name="Sở TT&TT"),
        OrganizationUnit(id=UNIT_B, name="UBND xã A"),
        OrganizationUnit(id="phuong-c", name="Phường C"),
    ]
    alerts = fixture_alerts()
    index_alerts(ctx.client, ctx.names, list(alerts.values()))
    index_events(ctx)
    return {k: v[0] for k, v in alerts.items()}


def tile(html: str, unit: str) -> str:
    m = re.search(rf'<li class="tile[^"]*" data-unit="{re.escape(unit)}">(.*?)</dl>', html, re.S)
    assert m, f"no tile for {unit}"
    return m.group(1)


def row(html: str, unit: str) -> str:
    m = re.search(rf'<tr data-unit="{re.escape(unit)}">(.*?)</tr>', html, re.S)
    assert m, f"no row for {unit}"
    return m.group(1)


def cell(html: str, cls: str) -> str:
    m = re.search(rf'class="num {cls}">([^<]*)<', html)
    assert m, cls
    return m.group(1).strip()


# ------------------------------------------------------------------ overview


def test_overview_tiles_per_unit_and_scope(data, signed):
    html = signed["viewer"].get("/").text
    # the province sees every configured unit, with or without alerts
    assert re.findall(r'data-unit="([^"]+)"', html)[:3] == [UNIT_A, UNIT_B, "phuong-c"]
    a = tile(html, UNIT_A)
    # open = a3, a4, a5, s1; by severity one each; SLA breaches = a3, a5; silent = s1
    assert cell(a, "open") == "4"
    for sev, n in (("critical", 1), ("high", 1), ("medium", 1), ("low", 1)):
        assert re.search(rf'sev-{sev}">[^<]*</span> <span class="num">{n}<', a), sev
    assert cell(a, "sla") == "2" and cell(a, "silent") == "1"
    assert f'datetime="{iso(NOW - H)}"' in a  # the last event: db-a, now-1h
    b = tile(html, UNIT_B)
    assert cell(b, "sla") == "0" and "sev-" not in b  # b1 is resolved
    assert f'datetime="{iso(NOW - 3 * H)}"' in b
    # top lists over 30 days: rule-ssh 5 (a1..a4, b1; a5 is older), sil 1
    assert re.search(r'rule=rule-ssh">Rule rule-ssh</a> <span class="num">5<', html)
    assert re.search(rf'/entities/ip/{IP}">{IP}</a> <span class="num">1<', html)
    assert re.search(r'<code>T1110</code> <span class="num">6<', html)
    # alerts per day: 30 rows, summing to the 6 alerts of the period
    days = re.findall(r'<tr><td>(\d{4}-\d\d-\d\d)</td><td class="num">(\d+)</td></tr>', html)
    assert len(days) == 30 and sum(int(n) for _d, n in days) == 6
    assert "data-series=" in html and "uPlot.iife.min.js" in html

    mine = signed["viewer@A"].get("/").text
    assert re.findall(r'<li class="tile[^"]*" data-unit="([^"]+)"', mine) == [UNIT_A]
    assert "web-b" not in mine and "198.51.100.9" not in mine
    b_only = signed["viewer@B"].get("/").text
    assert re.findall(r'<li class="tile[^"]*" data-unit="([^"]+)"', b_only) == [UNIT_B]
    assert 'Rule rule-ssh</a> <span class="num">1<' in b_only


def test_overview_refreshes_in_place(ctx, data, signed, monkeypatch):
    v = signed["viewer@A"]
    page = v.get("/").text
    assert 'hx-get="/overview/body"' in page and 'hx-trigger="every ' in page
    body = v.get("/overview/body", headers={"HX-Request": "true"})
    assert body.status_code == 200
    assert body.text.lstrip().startswith('<div id="overview"') and "<html" not in body.text
    # a new alert shows on the next poll
    monkeypatch.setattr(overview, "CACHE_SECONDS", 3600.0)
    index_alerts(ctx.client, ctx.names, [make_alert(99, UNIT_A, severity="critical", at=NOW)])
    # within the cache's time the scope's figures are shared, not recomputed
    cached = v.get("/overview/body").text
    assert re.search(r'sev-critical">[^<]*</span> <span class="num">1<', tile(cached, UNIT_A))
    # a new alert shows once they expire (every CACHE_SECONDS)
    monkeypatch.setattr(overview, "CACHE_SECONDS", 0.0)
    again = v.get("/overview/body").text
    assert re.search(r'sev-critical">[^<]*</span> <span class="num">2<', tile(again, UNIT_A))


# ------------------------------------------------------------------ entities


def test_entity_ip_scoped(data, signed):
    html = signed["viewer@A"].get(f"/entities/ip/{IP}").text
    assert re.findall(r'<tr data-id="([0-9a-f]+)">', html) == [data["a1"]]
    assert re.findall(r'data-unit="([^"]+)"', html) == [UNIT_A]
    # first seen: a1's first_seen (now-10d); last seen: the event at now-2h
    assert f'id="first-seen"><time datetime="{iso(NOW - 10 * D)}"' in html
    assert f'id="last-seen"><time datetime="{iso(NOW - 2 * H)}"' in html
    assert 'id="event-count">1<' in html and "line 0 from web-a" in html
    assert "web-b" not in html

    prov = signed["viewer"].get(f"/entities/ip/{IP}").text
    assert set(re.findall(r'<tr data-id="([0-9a-f]+)">', prov)) == {data["a1"], data["b1"]}
    assert re.findall(r'data-unit="([^"]+)"', prov) == [UNIT_A, UNIT_B]
    assert 'id="event-count">2<' in prov and "line 3 from web-b" in prov
    assert f'id="last-seen"><time datetime="{iso(NOW - 2 * H)}"' in prov


def test_entity_host_and_user(data, signed):
    v = signed["viewer"]
    host = v.get("/entities/host/web-b").text
    assert re.findall(r'<tr data-id="([0-9a-f]+)">', host) == [data["b1"]]
    assert 'id="event-count">1<' in host
    assert signed["viewer@A"].get("/entities/host/web-b").text.count("<tr data-id") == 0
    user = v.get("/entities/user/nam").text
    assert re.findall(r'<tr data-id="([0-9a-f]+)">', user) == [data["a1"]]
    assert 'id="event-count">0<' in user
    unknown = v.get("/entities/host/nowhere").text
    assert 'id="alert-count">0<' in unknown and 'id="first-seen">' in unknown


def test_entity_bad_address_is_a_clear_error(data, signed):
    r = signed["viewer"].get("/entities/ip/not-an-ip")
    assert r.status_code == 422 and "not an IP address" in r.text


def test_alert_page_links_entities(data, signed):
    html = signed["viewer"].get(f"/alerts/{data['a1']}").text
    for href in (f"/entities/ip/{IP}", "/entities/host/web-a", "/entities/user/nam"):
        assert f'href="{href}"' in html, href


def test_entity_alert_pages(ctx, signed):
    n = ctx.settings.api.default_page_size + 3
    docs = [make_alert(i, UNIT_A, source={"ip": IP}) for i in range(n)]
    index_alerts(ctx.client, ctx.names, docs)
    v = signed["viewer@A"]
    first = v.get(f"/entities/ip/{IP}").text
    seen = re.findall(r'<tr data-id="([0-9a-f]+)">', first)
    nxt = re.search(r'href="([^"]*cursor=[^"]*)" rel="next"', first)
    assert nxt
    second = v.get(nxt.group(1).replace("&amp;", "&")).text
    seen += re.findall(r'<tr data-id="([0-9a-f]+)">', second)
    assert sorted(seen) == sorted(d[0] for d in docs) and len(set(seen)) == n


# ------------------------------------------------------------------ scorecards


def test_scorecards_hand_computed(data, signed):
    html = signed["viewer"].get("/units?period=30").text
    ranked = re.findall(r'<tr data-unit="([^"]+)">', html)
    # B: 100 % compliance first; A: 50 %; phuong-c: no alert (no compliance) last
    assert ranked == [UNIT_B, UNIT_A, "phuong-c"]
    a = row(html, UNIT_A)
    # MTTA (10 min + 30 min) / 2 = 20 min; MTTR (2 h + 10 h) / 2 = 6 h
    assert cell(a, "mtta") == "20 min 00 s" and cell(a, "mttr") == "6 h 00 min"
    # with an SLA: a1..a4 (s1 has none); breached: a2 (late), a3 (overdue) -> 50 %
    assert cell(a, "sla") == "50.0 %"
    assert cell(a, "backlog") == "4" and cell(a, "silent") == "1"
    assert cell(a, "sources") == "2"  # web-a and db-a within 30 days; old-a is older
    b = row(html, UNIT_B)
    assert cell(b, "mtta") == "2 min 00 s" and cell(b, "mttr") == "1 h 00 min"
    assert cell(b, "sla") == "100.0 %" and cell(b, "backlog") == "0"

    week = row(signed["viewer"].get("/units?period=7").text, UNIT_A)
    # 7 days: a2, a3, a4, s1 -> MTTA 30 min, MTTR 10 h, breached 2 of 3
    assert cell(week, "mtta") == "30 min 00 s" and cell(week, "mttr") == "10 h 00 min"
    assert cell(week, "sla") == "33.3 %"
    assert signed["viewer"].get("/units?period=12").status_code == 422


def test_unit_scorecard_page(data, signed):
    html = signed["viewer@A"].get(f"/units/{UNIT_A}").text
    assert 'id="u-mtta" data-seconds="1200.0"' in html
    assert 'id="u-mttr" data-seconds="21600.0"' in html
    ages = dict(re.findall(r'<tr data-age="(\w+)"><td>[^<]*</td><td class="num">(\d+)<', html))
    # backlog now: a4 (3 h) and s1 (1 h) under a day, a3 (2 d), a5 (40 d)
    assert ages == {"lt1d": "2", "d1_7": "1", "d7_30": "0", "gt30d": "1"}
    assert 'id="u-backlog">4<' in html and 'id="u-sources">2<' in html
    assert 'id="u-silent">1<' in html
    # scoping: a unit-A user sees only A in the ranking and is refused B's card
    v = signed["viewer@A"]
    assert re.findall(r'<tr data-unit="([^"]+)">', v.get("/units").text) == [UNIT_A]
    assert v.get(f"/units/{UNIT_B}").status_code == 403
    assert signed["viewer"].get("/units/nowhere").status_code == 404


def test_api_alert_list_entity_filters(ctx, data, client):
    """The filters the entity pages use, as the API offers them (GET /api/v1/alerts)."""
    from socmon.api.keys import create_key

    key, _ = create_key(ctx.client, ctx.names, "reader", "viewer", None, "test")
    unit_key, _ = create_key(ctx.client, ctx.names, "reader-a", "viewer", [UNIT_A], "test")

    def ids(params: str, k: str = key) -> set[str]:
        r = client.get(f"/api/v1/alerts?{params}", headers={"X-API-Key": k})
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["items"]}

    assert ids(f"ip={IP}") == {data["a1"], data["b1"]}  # source.ip or destination.ip
    assert ids(f"ip={IP}", unit_key) == {data["a1"]}
    assert ids("host=web-b") == {data["b1"]} and ids("user=nam") == {data["a1"]}
    r = client.get("/api/v1/alerts?ip=999.1.1.1", headers={"X-API-Key": key})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
