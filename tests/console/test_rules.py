"""Console rule pages (issue 13, page 5): list with filters and detection counts in the
user's units, YAML and versions, the editor's validation (line and field), test on pasted
events, preview on stored events (per day, per unit), enable/disable, diff, rollback; every
change visible through the API and audited with the user's name."""

from __future__ import annotations

import datetime as dt
import html
import re

from tests.api import conftest as api_fixtures
from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, iso, make_alert

keys = api_fixtures.keys  # API keys, to check the console's changes through the API

RID = "5b8e2c41-7a3d-4f60-9e21-0c4d8a6b1f35"
RULE = f"""title: Console SSH failures
id: {RID}
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
  - attack.t1110
"""
OID = "3c1f9d2e-8b4a-4e71-a0d5-6f2b7c9e1a84"
OTHER = f"""title: Console web scan
id: {OID}
status: test
logsource:
  category: webserver
detection:
  selection:
    http.response.status_code: 404
  condition: selection
level: medium
"""
# line 11 of BAD is the misspelt modifier (counted by hand from the text below)
BAD = RULE.replace("source.ip|cidr:", "source.ip|cdir:")
BAD_LINE, BAD_FIELD = 11, "source.ip"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _api_rule(client, keys, rid=RID):  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/rules/{rid}", headers=h(keys["analyst"]))
    assert r.status_code == 200, r.text
    return r.json()


def _audit(ctx, action):  # type: ignore[no-untyped-def]
    ctx.client.indices.refresh(index=ctx.names.audit)
    resp = ctx.client.search(
        index=ctx.names.audit, query={"term": {"action": action}}, size=20
    ).body
    return [hit["_source"] for hit in resp["hits"]["hits"]]


def _store(client, keys, text=RULE):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/rules", json={"yaml": text}, headers=h(keys["admin"]))
    assert r.status_code == 201, r.text


def test_list_filters_and_detection_counts_per_unit(ctx, signed, client, keys):
    _store(client, keys)
    _store(client, keys, OTHER)
    # alerts of RULE: 2 in unit A, 1 in unit B (the table the counts must follow)
    alerts = [make_alert(i, UNIT_A, rule_id=RID) for i in (1, 2)]
    alerts.append(make_alert(3, UNIT_B, rule_id=RID))
    index_alerts(ctx.client, ctx.names, alerts)
    expected = {"analyst@A": 2, "analyst@B": 1, "analyst": 3}
    for who, n in expected.items():
        r = signed[who].get("/rules")
        assert r.status_code == 200, r.text
        row = re.search(rf'<tr data-id="{RID}">(.*?)</tr>', r.text, re.S)
        assert row, r.text[:2000]
        assert f'<td class="num detections">{n}</td>' in row.group(1), (who, row.group(1))
        assert f'data-id="{OID}"' in r.text
    medium = signed["analyst"].get("/rules?level=medium").text
    assert f'data-id="{OID}"' in medium and f'data-id="{RID}"' not in medium
    found = signed["analyst"].get("/rules?q=web").text
    assert f'data-id="{OID}"' in found and f'data-id="{RID}"' not in found
    web = signed["analyst"].get("/rules?product=linux").text  # OTHER has no product
    assert f'data-id="{RID}"' in web and f'data-id="{OID}"' not in web
    tech = signed["analyst"].get("/rules?technique=T1110").text
    assert f'data-id="{RID}"' in tech and f'data-id="{OID}"' not in tech
    assert signed["viewer"].get("/rules").status_code == 403


def test_rule_page_shows_yaml_versions_and_admin_actions(ctx, signed, client, keys):
    _store(client, keys)
    page = signed["analyst"].get(f"/rules/{RID}")
    assert page.status_code == 200
    assert "source.ip|cidr: 10.0.0.0/8" in html.unescape(page.text)
    assert "/edit" not in page.text and "rollback" not in page.text  # an analyst only reads
    index_alerts(ctx.client, ctx.names, [make_alert(1, UNIT_A, rule_id=RID, status="resolved")])
    counts = _text(signed["analyst@A"].get(f"/rules/{RID}").text)
    assert re.search(r"Đã xử lý\s+1", counts), counts
    admin = signed["admin"].get(f"/rules/{RID}").text
    assert f'href="/rules/{RID}/edit"' in admin
    assert signed["admin@A"].get(f"/rules/{RID}/edit").status_code == 403  # province only
    assert signed["analyst"].get("/rules/no-such-rule").status_code == 404


def test_edit_shows_line_and_field_then_the_fix_is_stored(ctx, signed, client, keys):
    _store(client, keys)
    admin = signed["admin"]
    editor = admin.get(f"/rules/{RID}/edit")
    assert editor.status_code == 200 and "source.ip|cidr" in html.unescape(editor.text)
    bad = admin.post(f"/rules/{RID}/edit", {"yaml": BAD})
    assert bad.status_code == 422
    text = _text(bad.text)
    assert f"dòng {BAD_LINE}" in text and f"trường {BAD_FIELD}" in text, text[:3000]
    assert "cdir" in text
    assert _api_rule(client, keys)["version"] == 1  # nothing stored
    # "Check" (nothing stored) finds the same problem, and the fixed text is valid
    check = admin.post("/rules/try", {"yaml": BAD, "action": "check", "rule_id": RID})
    assert check.status_code == 422 and f"dòng {BAD_LINE}" in _text(check.text)
    fixed = BAD.replace("|cdir:", "|cidr:").replace("level: high", "level: critical")
    ok = admin.post("/rules/try", {"yaml": fixed, "action": "check", "rule_id": RID})
    assert ok.status_code == 200 and 'id="rule-valid"' in ok.text
    saved = admin.post(f"/rules/{RID}/edit", {"yaml": fixed})
    assert saved.status_code == 303 and saved.headers["location"] == f"/rules/{RID}?saved=1"
    got = _api_rule(client, keys)
    assert got["version"] == 2 and got["level"] == "critical" and got["yaml"] == fixed
    entries = _audit(ctx, "rule.update")
    assert [e["actor"] for e in entries] == [f"user:{admin.name}"]
    # the id in the YAML may not change to another rule's
    other = admin.post(f"/rules/{RID}/edit", {"yaml": OTHER})
    assert other.status_code == 422 and OID in _text(other.text)


def test_create_from_the_editor(ctx, signed, client, keys):
    admin = signed["admin"]
    assert admin.get("/rules/new").status_code == 200
    r = admin.post("/rules/new", {"yaml": OTHER})
    assert r.status_code == 303 and r.headers["location"] == f"/rules/{OID}?saved=1"
    assert _api_rule(client, keys, OID)["enabled"] is False  # new: off
    assert admin.post("/rules/new", {"yaml": OTHER}).status_code == 409  # exists
    assert [e["actor"] for e in _audit(ctx, "rule.create")] == [f"user:{admin.name}"]


def test_test_on_pasted_events(signed):
    admin = signed["admin@A"]  # testing needs an admin, not the whole province
    match = {"event": {"outcome": "failure", "dataset": "sshd"}, "source": {"ip": "10.1.2.3"}}
    miss = {"event": {"outcome": "success", "dataset": "sshd"}, "source": {"ip": "10.1.2.3"}}
    outside = {"event": {"outcome": "failure", "dataset": "sshd"}, "source": {"ip": "192.0.2.1"}}
    lines = "\n".join(__import__("json").dumps(e) for e in (miss, match, outside, match))
    r = admin.post("/rules/try", {"yaml": RULE, "action": "test", "events": lines})
    assert r.status_code == 200, r.text[:2000]
    text = _text(r.text)
    # events 2 and 4 (counted from 1) match: failure from 10.0.0.0/8
    assert "2 trên 4 sự kiện khớp" in text and "2, 4" in text, text[-1500:]
    broken = admin.post(
        "/rules/try", {"yaml": RULE, "action": "test", "events": lines + "\n{not json"}
    )
    assert broken.status_code == 422 and "line 5" in _text(broken.text)
    assert signed["analyst"].post("/rules/try", {"yaml": RULE, "action": "test"}).status_code == 403


def test_preview_on_stored_events_per_day_and_unit(ctx, signed):
    now = dt.datetime.now(dt.UTC)
    ops: list[dict] = []
    # 6 matching events: 4 in unit A (today), 2 in unit B (two days ago); 3 that do not match
    rows = [(UNIT_A, 0, "failure")] * 4 + [(UNIT_B, 2, "failure")] * 2
    rows += [(UNIT_A, 0, "success")] * 3
    for i, (unit, days, outcome) in enumerate(rows):
        t = now - dt.timedelta(days=days, minutes=i)
        doc = {
            "@timestamp": iso(t),
            "event": {"outcome": outcome, "dataset": "sshd", "original": f"sshd line {i}"},
            "source": {"ip": f"10.0.0.{i}"},
            "organization": {"id": unit},
        }
        ops += [{"create": {"_index": ctx.names.events(t.date()), "_id": f"pv{i}"}}, doc]
    ctx.client.bulk(operations=ops, refresh="wait_for")
    form = {"yaml": RULE, "action": "preview", "start": "now-7d"}
    r = signed["admin"].post("/rules/try", form)
    assert r.status_code == 200, r.text[:2000]
    section = r.text[r.text.index('id="preview"') :]
    assert "khớp 6 sự kiện" in _text(section)
    assert re.search(rf"<td>{UNIT_A}</td><td class=\"num\">4</td>", section)
    assert re.search(rf"<td>{UNIT_B}</td><td class=\"num\">2</td>", section)
    days = re.findall(r"<td>(\d{4}-\d\d-\d\d)</td><td class=\"num\">(\d+)</td>", section)
    assert sum(int(n) for _, n in days) == 6
    scoped = signed["admin@A"].post("/rules/try", form).text
    assert "khớp 4 sự kiện" in _text(scoped) and f"<td>{UNIT_B}</td>" not in scoped


def test_enable_disable_diff_and_rollback(ctx, signed, client, keys):
    _store(client, keys)
    admin = signed["admin"]
    assert admin.post(f"/rules/{RID}/enabled", {"enabled": "1"}).status_code == 303
    assert _api_rule(client, keys)["enabled"] is True
    v3 = RULE.replace("level: high", "level: low")
    assert admin.post(f"/rules/{RID}/edit", {"yaml": v3}).status_code == 303
    diff = admin.get(f"/rules/{RID}/diff?from=2&to=3").text
    assert '<span class="d-del">-level: high</span>' in diff
    assert '<span class="d-add">+level: low</span>' in diff
    assert admin.post(f"/rules/{RID}/rollback", {"version": "1"}).status_code == 303
    got = _api_rule(client, keys)
    assert got["version"] == 4 and got["yaml"] == RULE and got["enabled"] is True
    assert admin.post(f"/rules/{RID}/enabled", {"enabled": "0"}).status_code == 303
    assert _api_rule(client, keys)["enabled"] is False
    actions = {e["action"] for e in _audit(ctx, "rule.rollback") + _audit(ctx, "rule.disable")}
    assert actions == {"rule.rollback", "rule.disable"}
    page = admin.get(f"/rules/{RID}").text
    assert "khôi phục" in page and "Khôi phục phiên bản 1" in page
    assert admin.post(f"/rules/{RID}/rollback", {"version": "99"}).status_code == 404


def test_changes_need_the_csrf_token(signed, client, keys):
    _store(client, keys)
    admin = signed["admin"]
    r = admin.http.post(f"/rules/{RID}/enabled", data={"enabled": "1"}, follow_redirects=False)
    assert r.status_code == 403
    assert _api_rule(client, keys)["enabled"] is False
