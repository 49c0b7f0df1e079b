"""Saved views of the alert queue: save, list, apply, rename, default, delete; each user
their own; unit scoping applied when a view is applied (a view never widens access); CSRF;
audit. And the reports page's unit picker (names from the unit table, scoped).

Expected rows come from the table of alerts below, not from the queue's code."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from socmon.api.console import users
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert
from tests.console.conftest import make_user, sign_in
from tests.console.test_alerts import ids_on

# (n, unit, severity): a critical and a high alert in A, a critical one in B
ALERTS = [(1, UNIT_A, "critical"), (2, UNIT_A, "high"), (3, UNIT_B, "critical")]
CRITICAL = "f=1&status=open&severity=critical"
VIEW_LINK = re.compile(r'<a href="/alerts/views/([0-9a-f]{32})"[^>]*>([^<]*)</a>')


def _alerts(ctx) -> dict[int, str]:  # type: ignore[no-untyped-def]
    docs = [make_alert(n, unit, severity=sev) for n, unit, sev in ALERTS]
    index_alerts(ctx.client, ctx.names, docs)
    return {n: d[0] for n, d in zip((a[0] for a in ALERTS), docs, strict=True)}


def _view_actions(ctx) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    ctx.client.indices.refresh(index=ctx.names.audit)
    hits = ctx.client.search(
        index=ctx.names.audit, size=100, query={"term": {"object.type": "view"}}
    )["hits"]["hits"]
    return Counter((h["_source"]["actor"], h["_source"]["action"]) for h in hits)


def test_views_save_apply_rename_default_delete(ctx, signed):
    ids = _alerts(ctx)
    me = signed["viewer@A"]
    r = me.post("/alerts/views", {"name": "  Critical  ", "query": CRITICAL + "&cursor=x"})
    assert r.status_code == 303, r.text[:300]
    loc = r.headers["location"]
    q = parse_qs(urlsplit(loc).query)
    assert q["severity"] == ["critical"] and "cursor" not in q and q["saved_view"] == ["1"]
    page = me.get(loc)
    assert page.status_code == 200
    # the view applied with the user's scope: A's critical alert only (not B's)
    assert ids_on(page.text) == [ids[1]]
    assert '<div class="ok" role="status">' in page.text
    ((vid, name),) = VIEW_LINK.findall(page.text)
    assert name == "Critical"

    # apply from the list: the same filter again
    r = me.get(f"/alerts/views/{vid}")
    assert r.status_code == 303 and "severity=critical" in r.headers["location"]

    # saving under the same name replaces the filter (one view, updated)
    r = me.post("/alerts/views", {"name": "Critical", "query": "f=1&status=open&severity=high"})
    assert r.status_code == 303
    assert ids_on(me.get(r.headers["location"]).text) == [ids[2]]
    manage = me.get("/alerts/views").text
    assert manage.count(f'data-id="{vid}"') == 1 and "severity=high" in manage

    assert me.post(f"/alerts/views/{vid}/rename", {"name": "High A"}).status_code == 303
    assert "High A" in me.get("/alerts/views").text
    # default view: the bare queue opens it
    assert me.get("/alerts").status_code == 200
    assert me.post(f"/alerts/views/{vid}/default", {"on": "1"}).status_code == 303
    r = me.get("/alerts")
    assert r.status_code == 303 and f"view={vid}" in r.headers["location"]
    assert me.post(f"/alerts/views/{vid}/default", {"on": "0"}).status_code == 303
    assert me.get("/alerts").status_code == 200

    # another user neither sees nor changes it
    other = signed["viewer"]
    assert vid not in other.get("/alerts/views").text
    assert other.get(f"/alerts/views/{vid}").status_code == 404
    assert other.post(f"/alerts/views/{vid}/rename", {"name": "x"}).status_code == 404
    assert other.post(f"/alerts/views/{vid}/delete").status_code == 404

    assert me.post(f"/alerts/views/{vid}/delete").status_code == 303
    assert f'data-id="{vid}"' not in me.get("/alerts/views").text
    assert me.get(f"/alerts/views/{vid}").status_code == 404
    actor = f"user:{me.name}"
    assert _view_actions(ctx) == Counter(
        {
            (actor, "view.create"): 1,
            (actor, "view.update"): 1,
            (actor, "view.rename"): 1,
            (actor, "view.default"): 2,
            (actor, "view.delete"): 1,
        }
    )


def test_view_never_widens_access(app, ctx, signed):
    ids = _alerts(ctx)
    # a unit user cannot store a view of another unit
    r = signed["viewer@A"].post("/alerts/views", {"name": "B", "query": f"f=1&unit={UNIT_B}"})
    assert r.status_code == 403
    assert "B</a>" not in signed["viewer@A"].get("/alerts/views").text
    # a province user's view of unit B stops showing B once the user is bound to unit A
    make_user(ctx, "wide", "viewer", None)
    ctx.client.indices.refresh(index=users.users_index(ctx.names))
    s = sign_in(app, "wide")
    r = s.post("/alerts/views", {"name": "B crit", "query": f"{CRITICAL}&unit={UNIT_B}"})
    assert r.status_code == 303
    assert ids_on(s.get(r.headers["location"]).text) == [ids[3]]
    r = s.post("/alerts/views", {"name": "all crit", "query": CRITICAL})
    all_crit = r.headers["location"]
    assert sorted(ids_on(s.get(all_crit).text)) == sorted([ids[1], ids[3]])
    ctx.client.update(
        index=users.users_index(ctx.names), id="wide", doc={"units": [UNIT_A]}, refresh=True
    )
    s2 = sign_in(app, "wide")
    names = dict((n, v) for v, n in VIEW_LINK.findall(s2.get("/alerts?f=1").text))
    r = s2.get(f"/alerts/views/{names['B crit']}")
    assert r.status_code == 303
    assert s2.get(r.headers["location"]).status_code == 403  # unit B is outside the scope
    r = s2.get(f"/alerts/views/{names['all crit']}")
    assert ids_on(s2.get(r.headers["location"]).text) == [ids[1]]  # B's alert no longer


def test_views_need_csrf_and_a_name(ctx, signed):
    me = signed["analyst@A"]
    r = me.http.post("/alerts/views", data={"name": "x", "query": CRITICAL}, follow_redirects=False)
    assert r.status_code == 403
    assert me.post("/alerts/views", {"name": "   ", "query": CRITICAL}).status_code == 422
    assert me.post("/alerts/views", {"name": "y" * 81, "query": CRITICAL}).status_code == 422
    assert 'data-id="' not in me.get("/alerts/views").text
    assert _view_actions(ctx) == Counter()


OPTION = re.compile(r'<option value="([^"]*)"[^>]*>([^<]*)</option>')


def test_reports_unit_picker(ctx, signed):
    _alerts(ctx)
    index_alerts(ctx.client, ctx.names, [make_alert(9, "ubnd-xa-c")])  # not in the unit table

    def picker(who: str) -> list[tuple[str, str]]:
        html = signed[who].get("/reports").text
        select = html[html.index('id="report-unit"') :]
        return OPTION.findall(select[: select.index("</select>")])[1:]

    # names from the unit table (tests/api/conftest.py: "Unit A", "Unit B"), in its order,
    # then units found in the alerts (their alerts' name)
    assert picker("viewer") == [
        (UNIT_A, f"Unit A ({UNIT_A})"),
        (UNIT_B, f"Unit B ({UNIT_B})"),
        ("ubnd-xa-c", "Unit ubnd-xa-c (ubnd-xa-c)"),
    ]
    assert picker("viewer@A") == [(UNIT_A, f"Unit A ({UNIT_A})")]
    html = signed["viewer@A"].get(f"/reports?unit={UNIT_A}").text
    assert f'<option value="{UNIT_A}" selected>' in html
    assert "Unit A" in html[html.index("<h2>") :]
    assert signed["viewer@A"].get(f"/reports?unit={UNIT_B}").status_code == 403
