"""The alert queue and the alert page (server side): what a unit's user sees, filters,
sorting, cursor pages, the new-alert count, bulk actions with a result per alert, and the
page's actions as seen afterwards through the API (the independent reader)."""

from __future__ import annotations

import datetime as dt
import re

from socmon.api.keys import create_key
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert

ROW = re.compile(r'<tr data-id="([0-9a-f]+)">')


def ids_on(html: str) -> list[str]:
    return ROW.findall(html)


def api_view(client, ctx, aid):  # type: ignore[no-untyped-def]
    key, _ = create_key(ctx.client, ctx.names, "reader", "viewer", None, "test")
    r = client.get(f"/api/v1/alerts/{aid}", headers={"X-API-Key": key})
    assert r.status_code == 200
    return r.json()


def test_queue_scoping_and_filters(ctx, signed):
    now = dt.datetime.now(dt.UTC)
    a = [
        make_alert(1, UNIT_A, severity="high", rule_id="r-ssh", at=now - dt.timedelta(hours=1)),
        make_alert(2, UNIT_A, severity="low", rule_id="r-web", at=now - dt.timedelta(hours=2)),
        make_alert(3, UNIT_A, status="resolved", at=now - dt.timedelta(hours=3)),
        make_alert(4, UNIT_A, severity="critical", at=now - dt.timedelta(days=3)),
    ]
    b = [make_alert(5, UNIT_B, severity="high")]
    index_alerts(ctx.client, ctx.names, a + b)
    ida = [x[0] for x in a]

    html = signed["viewer@A"].get("/alerts").text
    # default view: the unit's active alerts, newest first; nothing of unit B
    assert ids_on(html) == [ida[0], ida[1], ida[3]]
    assert b[0][0] not in html
    # the province sees both units
    assert set(ids_on(signed["viewer"].get("/alerts").text)) == {ida[0], ida[1], ida[3], b[0][0]}

    v = signed["viewer@A"]
    assert ids_on(v.get("/alerts?f=1&status=resolved").text) == [ida[2]]
    assert ids_on(v.get("/alerts?f=1").text) == ida  # no status ticked: every status
    # make_alert's default severity is high: the resolved alert is high too
    high_crit = v.get("/alerts?f=1&severity=high&severity=critical").text
    assert ids_on(high_crit) == [ida[0], ida[2], ida[3]]
    assert ids_on(v.get("/alerts?f=1&rule=r-web").text) == [ida[1]]
    assert ids_on(v.get("/alerts?f=1&start=now-24h").text) == ida[:3]
    assert ids_on(v.get("/alerts?f=1&sort=@timestamp&order=asc").text) == ida[::-1]
    assert ids_on(v.get("/alerts?f=1&q=%22alert+number+2%22").text) == [ida[1]]
    # asking for another unit's alerts is refused, not silently emptied
    assert v.get(f"/alerts?f=1&unit={UNIT_B}").status_code == 403
    assert v.get("/alerts?f=1&severity=bogus").status_code == 422


def test_cursor_pages_neither_repeat_nor_skip(ctx, signed):
    docs = [make_alert(i, UNIT_A) for i in range(ctx.settings.api.default_page_size + 7)]
    index_alerts(ctx.client, ctx.names, docs)
    v = signed["viewer@A"]
    first = v.get("/alerts").text
    seen = ids_on(first)
    assert len(seen) == ctx.settings.api.default_page_size
    nxt = re.search(r'href="/alerts\?([^"]*cursor=[^"]*)" rel="next"', first)
    assert nxt
    second = v.get("/alerts?" + nxt.group(1).replace("&amp;", "&")).text
    seen += ids_on(second)
    assert sorted(seen) == sorted(d[0] for d in docs) and len(set(seen)) == len(seen)
    assert 'rel="next"' not in second and "/alerts?" in second  # a first-page link


def test_new_alert_count(ctx, signed):
    index_alerts(ctx.client, ctx.names, [make_alert(1, UNIT_A)])
    v = signed["viewer@A"]
    since = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    r = v.get("/alerts/new-count", params={"since": since})
    assert r.status_code == 200 and "new-alerts" not in r.text
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    index_alerts(
        ctx.client,
        ctx.names,
        [
            make_alert(2, UNIT_A, at=later),
            make_alert(3, UNIT_A, at=later),
            make_alert(4, UNIT_B, at=later),
        ],
    )
    r = v.get("/alerts/new-count", params={"since": since})
    assert "Có 2 cảnh báo mới" in r.text  # unit B's new alert is not counted


def test_bulk_actions_report_each_alert(ctx, signed, client):
    a = [make_alert(i, UNIT_A) for i in range(3)]
    resolved = make_alert(9, UNIT_A, status="resolved")
    b = make_alert(5, UNIT_B)
    index_alerts(ctx.client, ctx.names, [*a, resolved, b])
    an = signed["analyst@A"]
    ids = [a[0][0], a[1][0], resolved[0], b[0]]
    r = an.post(
        "/alerts/bulk",
        {"action": "acknowledge", "ids": ids, "note": "ca trực đêm"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "socmon-bulk-done"
    ok = re.findall(r'class="ok-item"><a href="/alerts/(\w+)"', r.text)
    failed = re.findall(r'class="fail-item"><a href="/alerts/(\w+)"', r.text)
    assert sorted(ok) == sorted([a[0][0], a[1][0]])
    assert sorted(failed) == sorted([resolved[0], b[0]])
    assert "cannot go from resolved to acknowledged" in r.text
    assert "not found in your scope" in r.text
    for aid in (a[0][0], a[1][0]):
        got = api_view(client, ctx, aid)
        assert got["alert"]["status"] == "acknowledged"
        assert got["history"][-1]["by"] == "user:analyst-a"
    assert api_view(client, ctx, a[2][0])["alert"]["status"] == "open"
    assert api_view(client, ctx, b[0])["alert"]["status"] == "open"
    # assign in bulk, and without JavaScript (a whole page)
    r = an.post("/alerts/bulk", {"action": "assign", "ids": [a[2][0]], "assignee": "lan"})
    assert r.status_code == 200 and "<html" in r.text
    assert api_view(client, ctx, a[2][0])["alert"]["assignee"] == "lan"
    # a viewer may not
    r = signed["viewer@A"].post("/alerts/bulk", {"action": "resolve", "ids": [a[2][0]]})
    assert r.status_code == 403


def test_alert_page_and_its_actions(ctx, signed, client):
    aid, doc = make_alert(
        1,
        UNIT_A,
        events=[
            {
                "@timestamp": "2026-11-24T10:00:00.000Z",
                "event": {"original": "sshd[1]: Failed password for root from 10.0.0.1"},
                "organization": {"id": UNIT_A},
            }
        ],
    )
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    an = signed["analyst@A"]
    page = an.get(f"/alerts/{aid}").text
    assert "sshd[1]: Failed password for root from 10.0.0.1" in page
    assert "T1110" in page and "Brute Force" in page
    # the next statuses as named buttons, the usual next step first
    buttons = re.findall(r'<button type="submit" name="status" value="(\w+)"', page)
    assert buttons == ["acknowledged", "in_progress", "resolved", "false_positive"]
    assert (
        '<button type="submit" name="status" value="acknowledged" class="primary">Tiếp nhận' in page
    )

    assert (
        an.post(f"/alerts/{aid}/status", {"status": "acknowledged", "note": "xem"}).status_code
        == 303
    )
    assert an.post(f"/alerts/{aid}/assignee", {"assignee": "analyst-a"}).status_code == 303
    assert an.post(f"/alerts/{aid}/notes", {"text": "đã chặn"}).status_code == 303
    got = api_view(client, ctx, aid)
    assert got["alert"]["status"] == "acknowledged"
    assert got["alert"]["assignee"] == "analyst-a"
    assert [n["text"] for n in got["notes"]] == ["xem", "đã chặn"]
    page = an.get(f"/alerts/{aid}").text
    assert re.findall(r'name="status" value="(\w+)"', page) == [
        "in_progress",
        "resolved",
        "false_positive",
        "open",
    ]
    # an impossible transition is refused with a page, not a crash
    r = an.post(f"/alerts/{aid}/status", {"status": "acknowledged"})
    assert r.status_code == 409
    # a viewer sees the alert but no action
    vpage = signed["viewer@A"].get(f"/alerts/{aid}").text
    assert 'name="status"' not in vpage and "đã chặn" in vpage
    # unknown alert
    assert an.get("/alerts/nope").status_code == 404


def test_english_labels(ctx, signed):
    aid, doc = make_alert(1, UNIT_A)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    an = signed["analyst@A"]
    assert "analyst-a (Chuyên viên phân tích)" in an.get("/alerts").text
    assert an.post("/language", {"lang": "en", "next": f"/alerts/{aid}"}).status_code == 303
    page = an.get(f"/alerts/{aid}").text
    assert "analyst-a (Analyst)" in page
    assert '<html lang="en">' in page
    assert re.search(r'value="acknowledged" class="primary">Acknowledge<', page)
    assert ">Resolve<" in page and ">False positive<" in page
