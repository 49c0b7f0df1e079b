"""Console exception pages (issue 13, page 6): "create an exception from this alert" with the
preview of what it would have suppressed, create/edit with expiry, the list scoped to the
user's units; every change visible through the API and audited with the user's name."""

from __future__ import annotations

import html
import re

from tests.api import conftest as api_fixtures
from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert

keys = api_fixtures.keys  # API keys, to check the console's changes through the API
RULE = "rule-ssh-x"


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _alerts(ctx):  # type: ignore[no-untyped-def]
    """make_alert(n): source.ip 10.0.0.<n % 250>, host-<n % 5>, event_count 1 + n % 7.
    In unit A: n=1 and n=251 share 10.0.0.1 (2 + 7 = 9 events), n=2 does not;
    unit B's n=1 alert is outside unit A."""
    docs = [make_alert(n, UNIT_A, rule_id=RULE) for n in (1, 251, 2)]
    docs.append(make_alert(1, UNIT_B, rule_id=RULE))
    index_alerts(ctx.client, ctx.names, docs)
    return [d[0] for d in docs]


def _api_list(client, keys, who="analyst"):  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/exceptions", headers=h(keys[who]))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _form(**over):  # type: ignore[no-untyped-def]
    form = {
        "scope": "rule",
        "rule_id": RULE,
        "organization_id": UNIT_A,
        "cond_field": ["source.ip", ""],
        "cond_op": ["equals", "equals"],
        "cond_value": ["10.0.0.1", ""],
        "reason": "máy quét lỗ hổng của sở",
        "expires": "",
        "enabled": "1",
        "since": "",
        "action": "save",
    }
    form.update(over)
    return form


def test_alert_page_links_to_a_prefilled_exception_with_its_preview(ctx, signed):
    a1, _a251, _a2, b1 = _alerts(ctx)
    analyst = signed["analyst@A"]
    page = analyst.get(f"/alerts/{a1}").text
    assert f'href="/exceptions/new?alert={a1}"' in page
    r = analyst.get(f"/exceptions/new?alert={a1}")
    assert r.status_code == 200, r.text[:1000]
    assert f'name="rule_id" value="{RULE}"' in r.text
    assert 'name="cond_value" value="10.0.0.1"' in r.text
    # host-1 is the alert's host but not in its events (what exceptions are matched against)
    assert 'name="cond_value" value="host-1"' not in r.text
    preview = _text(r.text[r.text.index('id="exception-preview"') :])
    assert "đã chặn 2 trên 3 cảnh báo trước đây (9 sự kiện)" in preview, preview[:500]
    # another unit's alert: as if it did not exist (docs/security.md)
    assert analyst.get(f"/exceptions/new?alert={b1}").status_code == 404


def test_create_preview_and_save_visible_through_the_api(ctx, signed, client, keys):
    _alerts(ctx)
    analyst = signed["analyst@A"]
    pv = analyst.post("/exceptions/new", _form(action="preview", reason=""))
    assert pv.status_code == 200
    assert "đã chặn 2 trên 3" in _text(pv.text)  # source.ip only: n=1 and n=251
    assert _api_list(client, keys) == []  # a preview stores nothing
    r = analyst.post("/exceptions/new", _form(expires="2027-01-01T07:00"))
    assert r.status_code == 303, r.text[:1500]
    (doc,) = _api_list(client, keys)
    assert doc["rule_id"] == RULE and doc["organization"] == {"id": UNIT_A}
    assert doc["conditions"] == [{"field": "source.ip", "op": "equals", "value": "10.0.0.1"}]
    assert doc["owner"] == f"user:{analyst.name}"
    # 07:00 in Asia/Ho_Chi_Minh (UTC+7, the test settings' alerting.timezone) is 00:00 UTC
    assert doc["expires"].startswith("2027-01-01T00:00:00")
    ctx.client.indices.refresh(index=ctx.names.audit)
    audit = ctx.client.search(
        index=ctx.names.audit, query={"term": {"action": "exception.create"}}
    ).body["hits"]["hits"]
    assert [a["_source"]["actor"] for a in audit] == [f"user:{analyst.name}"]
    listed = analyst.get("/exceptions").text
    assert f'data-id="{doc["id"]}"' in listed and "máy quét lỗ hổng" in listed
    assert f'data-id="{doc["id"]}"' not in signed["analyst@B"].get("/exceptions").text


def test_bad_input_is_shown_not_stored(ctx, signed, client, keys):
    analyst = signed["analyst@A"]
    no_reason = analyst.post("/exceptions/new", _form(reason=""))
    assert no_reason.status_code == 422 and 'id="exception-error"' in no_reason.text
    cidr = {"cond_op": ["cidr", "equals"], "cond_value": ["10.0.0.300/8", ""]}
    bad_cidr = analyst.post("/exceptions/new", _form(**cidr))
    assert bad_cidr.status_code == 422 and "CIDR" in _text(bad_cidr.text)
    bad_time = analyst.post("/exceptions/new", _form(expires="tomorrow"))
    assert bad_time.status_code == 422
    # a unit user may not make an exception for every unit, nor for another unit
    assert analyst.post("/exceptions/new", _form(organization_id=UNIT_B)).status_code == 403
    assert analyst.post("/exceptions/new", _form(scope="global")).status_code == 403
    assert _api_list(client, keys) == []
    assert signed["viewer@A"].get("/exceptions").status_code == 403


def test_edit_expiry_disable_and_delete(ctx, signed, client, keys):
    analyst = signed["analyst@A"]
    assert analyst.post("/exceptions/new", _form()).status_code == 303
    (doc,) = _api_list(client, keys)
    eid = doc["id"]
    edit = analyst.get(f"/exceptions/{eid}")
    assert edit.status_code == 200 and "máy quét lỗ hổng" in edit.text
    assert signed["analyst@B"].get(f"/exceptions/{eid}").status_code == 404
    form = _form(expires="2026-12-31T23:30", reason="đã gỡ máy quét")
    del form["enabled"]  # the checkbox unticked
    r = analyst.post(f"/exceptions/{eid}", form)
    assert r.status_code == 303, r.text[:1500]
    (after,) = _api_list(client, keys)
    assert after["enabled"] is False and after["reason"] == "đã gỡ máy quét"
    assert after["expires"].startswith("2026-12-31T16:30:00")  # 23:30 at UTC+7
    assert signed["analyst@B"].post(f"/exceptions/{eid}", _form(action="delete")).status_code == 404
    assert analyst.post(f"/exceptions/{eid}", _form(action="delete")).status_code == 303
    assert _api_list(client, keys) == []
