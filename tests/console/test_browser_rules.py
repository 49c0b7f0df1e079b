"""Real-browser tests of the rules and exceptions pages (headless Debian Chromium, the real
service and Elasticsearch): a rule edit with a validation error then the fix, checked through
the API; an exception created from an alert page with its preview; axe-core (0 serious or
critical, light and dark) on every page of the two groups."""

from __future__ import annotations

import pytest

from socmon.api.keys import create_key
from tests.api.conftest import UNIT_A, index_alerts, make_alert
from tests.console import test_browser as ui
from tests.console.conftest import make_user
from tests.console.test_rules import RID, RULE

pytestmark = [pytest.mark.browser, pytest.mark.es]

# the browser test module's fixtures: Chromium, the served application, a page
browser, base_url, page = ui.browser, ui.base_url, ui.page


def _api(client, ctx, url):  # type: ignore[no-untyped-def]
    key, _ = create_key(ctx.client, ctx.names, "check", "analyst", None, "test")
    r = client.get(url, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return r.json()


def test_rule_edit_with_a_validation_error_then_the_fix(page, base_url, ctx, client):
    key, _ = create_key(ctx.client, ctx.names, "seed", "admin", None, "test")
    assert client.post("/api/v1/rules", json={"yaml": RULE}, headers={"X-API-Key": key}).is_success
    make_user(ctx, "admin-p", "admin", None)
    ui.sign_in(page, base_url, "admin-p")
    page.get_by_role("link", name="Quy tắc", exact=True).click()
    page.wait_for_url(f"{base_url}/rules")
    ui.check_axe(page)
    page.get_by_role("link", name="Console SSH failures").click()
    page.wait_for_url(f"{base_url}/rules/{RID}")
    ui.check_axe(page)
    page.get_by_role("link", name="Sửa quy tắc").click()
    page.wait_for_url(f"{base_url}/rules/{RID}/edit")
    ui.check_axe(page)
    # a misspelt modifier on line 10 of the text
    page.fill("#rule-yaml", RULE.replace("event.outcome: failure", "event.outcome|contans: x"))
    page.locator("#rule-save").click()
    problems = page.locator("#rule-problems")
    problems.wait_for()
    text = problems.inner_text()
    assert "dòng 10" in text and "trường event.outcome" in text, text
    ui.check_axe(page)
    assert _api(client, ctx, f"/api/v1/rules/{RID}")["version"] == 1
    page.fill("#rule-yaml", RULE.replace("level: high", "level: critical"))
    page.get_by_role("button", name="Kiểm tra", exact=True).click()
    page.locator("#rule-valid").wait_for()
    page.locator("#rule-save").click()
    page.wait_for_url(f"{base_url}/rules/{RID}?saved=1")
    assert page.locator("#rule-version").inner_text() == "2"
    got = _api(client, ctx, f"/api/v1/rules/{RID}")
    assert got["version"] == 2 and got["level"] == "critical"
    assert got["updated_by"] == "user:admin-p"
    page.get_by_role("link", name="Thay đổi so với phiên bản 1").click()
    page.wait_for_url(f"{base_url}/rules/{RID}/diff?from=1&to=2")
    assert "+level: critical" in page.locator("pre.diff").inner_text()
    ui.check_axe(page)
    page.goto(f"{base_url}/rules/new")
    ui.check_axe(page)


def test_exception_from_an_alert(page, base_url, ctx, client):
    aid, doc = make_alert(1, UNIT_A, rule_id="rule-ssh-a")
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    make_user(ctx, "an-a", "analyst", [UNIT_A])
    ui.sign_in(page, base_url, "an-a")
    page.goto(f"{base_url}/alerts/{aid}")
    page.get_by_role("link", name="Tạo ngoại lệ từ cảnh báo này").click()
    page.wait_for_url(f"{base_url}/exceptions/new?alert={aid}")
    assert "đã chặn 1 trên 1" in page.locator("#exception-preview").inner_text()
    ui.check_axe(page)
    page.fill("#x-reason", "máy quét của sở")
    page.locator("#exception-save").click()
    page.wait_for_url(f"{base_url}/exceptions?saved=*")
    ui.check_axe(page)
    (x,) = _api(client, ctx, "/api/v1/exceptions")["items"]
    assert x["rule_id"] == "rule-ssh-a" and x["reason"] == "máy quét của sở"
    assert x["conditions"] == [{"field": "source.ip", "op": "equals", "value": "10.0.0.1"}]
    page.locator(f"tr[data-id='{x['id']}'] a.row-link").click()
    page.wait_for_url(f"{base_url}/exceptions/{x['id']}")
    ui.check_axe(page)
