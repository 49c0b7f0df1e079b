"""Real-browser tests: headless Chromium (Debian's package) against the real service and
Elasticsearch. Sign-in, unit scoping in the queue, acknowledge + note from the alert page
(checked through the API), a bulk action, the language switch, keyboard use, and axe-core
on every page (0 serious or critical violations, light and dark)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from socmon.api.context import ApiContext
from socmon.api.keys import create_key
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert
from tests.console.browser import ARGS, AXE, CHROMIUM, axe_violations, serve, watched_page
from tests.console.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.es]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: deploy/test.sh installs Debian's chromium with apt")
    assert AXE.is_file(), f"{AXE} missing: run deploy/bootstrap.sh (npm ci)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    yield from serve(app)


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    yield from watched_page(browser, (base_url,))


@pytest.fixture
def alerts(ctx: ApiContext) -> dict[str, list[str]]:
    a = [make_alert(i, UNIT_A, rule_id="rule-ssh-a") for i in range(3)]
    b = [make_alert(i, UNIT_B, rule_id="rule-rdp-b") for i in range(2)]
    index_alerts(ctx.client, ctx.names, a + b)
    return {"A": [x[0] for x in a], "B": [x[0] for x in b]}


def sign_in(page: Any, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/login")
    assert not axe_violations(page), axe_violations(page)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{base_url}/")


def check_axe(page: Any) -> None:
    """No serious/critical violation in the light theme, then in the dark one."""
    for theme in ("light", "dark"):
        page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        bad = axe_violations(page)
        assert not bad, f"{theme} {page.url}: {bad}"


def test_queue_shows_the_units_alerts_only(page, base_url, ctx, alerts):
    make_user(ctx, "an-a", "analyst", [UNIT_A])
    sign_in(page, base_url, "an-a")
    check_axe(page)  # the overview
    page.get_by_role("link", name="Cảnh báo", exact=True).click()
    page.wait_for_url(f"{base_url}/alerts")
    rows = page.locator("table.alerts tbody tr")
    assert rows.count() == 3
    ids = {rows.nth(i).get_attribute("data-id") for i in range(3)}
    assert ids == set(alerts["A"])
    assert "Rule rule-rdp-b" not in page.content()
    check_axe(page)
    # keyboard: j moves to the first alert, x selects it, Enter opens it
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert rows.nth(0).locator("input.pick").is_checked()
    page.keyboard.press("?")
    assert page.locator("dialog#help").is_visible()
    check_axe(page)
    page.keyboard.press("Escape")
    # phone width: nothing wider than the screen, still no accessibility violation
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_axe(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    # a: acknowledge the selection (the first alert, selected with x above)
    rows.nth(0).locator("a.row-link").focus()
    page.keyboard.press("a")
    page.locator("#bulk-result .per-alert li").first.wait_for()
    assert "Tiếp nhận: đã thay đổi 1 trên 1 cảnh báo." in page.locator("#bulk-result").inner_text()
    got = ctx.client.get(index=ctx.names.alerts, id=alerts["A"][0])["_source"]
    assert got["status"] == "acknowledged" and got["history"][-1]["by"] == "user:an-a"
    page.wait_for_function("() => document.querySelectorAll('table.alerts tbody tr').length === 3")
    rows.nth(0).locator("a.row-link").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}/alerts/{alerts['A'][0]}")
    # an alert of another unit does not exist for this user (docs/security.md: 404, as for a
    # made-up id, so a unit cannot learn which ids other units hold)
    resp = page.goto(f"{base_url}/alerts/{alerts['B'][0]}")
    assert resp is not None and resp.status == 404


def test_acknowledge_and_note_from_the_alert_page(page, base_url, ctx, alerts, client):
    make_user(ctx, "an-a", "analyst", [UNIT_A])
    sign_in(page, base_url, "an-a")
    aid = alerts["A"][1]
    page.goto(f"{base_url}/alerts/{aid}")
    check_axe(page)
    page.fill("#status-note", "đang kiểm tra tường lửa")
    ack = page.get_by_role("button", name="Tiếp nhận", exact=True)
    ack.focus()  # reachable by keyboard: focus it and press Enter
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}/alerts/{aid}?saved=status")
    assert page.locator("#alert-status").inner_text() == "Đã tiếp nhận"
    page.fill("#note-text", "Đã chặn 10.0.0.1 trên tường lửa")
    page.get_by_role("button", name="Thêm ghi chú").click()
    page.wait_for_url(f"{base_url}/alerts/{aid}?saved=note")
    check_axe(page)

    key, _ = create_key(ctx.client, ctx.names, "check", "viewer", None, "test")
    got = client.get(f"/api/v1/alerts/{aid}", headers={"X-API-Key": key}).json()
    assert got["alert"]["status"] == "acknowledged"
    texts = [n["text"] for n in got["notes"]]
    assert "đang kiểm tra tường lửa" in texts and "Đã chặn 10.0.0.1 trên tường lửa" in texts
    assert {h["by"] for h in got["history"]} == {"user:an-a"}


def test_bulk_resolve(page, base_url, ctx, alerts, client):
    make_user(ctx, "an-a", "analyst", [UNIT_A])
    sign_in(page, base_url, "an-a")
    page.goto(f"{base_url}/alerts")
    for aid in alerts["A"][:2]:
        page.locator(f"tr[data-id='{aid}'] input.pick").check()
    page.select_option("#bulk-action", "resolve")
    page.fill("#bulk-note", "đã vá máy chủ")
    page.get_by_role("button", name="Áp dụng cho mục đã chọn").click()
    result = page.locator("#bulk-result .per-alert li")
    result.first.wait_for()
    assert result.count() == 2
    assert "Xử lý xong: đã thay đổi 2 trên 2 cảnh báo." in page.locator("#bulk-result").inner_text()
    # the queue reloads itself: resolved alerts leave the default (active) view
    page.wait_for_function("() => document.querySelectorAll('table.alerts tbody tr').length === 1")
    check_axe(page)
    key, _ = create_key(ctx.client, ctx.names, "check", "viewer", None, "test")
    for aid in alerts["A"][:2]:
        got = client.get(f"/api/v1/alerts/{aid}", headers={"X-API-Key": key}).json()
        assert got["alert"]["status"] == "resolved"


def test_language_switch_and_other_pages(page, base_url, ctx, alerts):
    make_user(ctx, "viewer-p", "viewer", None)
    sign_in(page, base_url, "viewer-p")
    page.goto(f"{base_url}/alerts")
    assert page.locator("h1").inner_text() == "Hàng đợi cảnh báo"
    assert page.locator("html").get_attribute("lang") == "vi"
    page.get_by_role("button", name="English").click()
    page.wait_for_url(f"{base_url}/alerts")
    assert page.locator("h1").inner_text() == "Alert queue"
    assert page.locator("html").get_attribute("lang") == "en"
    # stored on the user: another browser signed in as them gets English too
    assert page.locator("form#bulk").count() == 0  # a viewer has no actions
    page.goto(f"{base_url}/alerts/{alerts['B'][0]}")
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    check_axe(page)
    page.goto(f"{base_url}/account/password")
    check_axe(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base_url}/login")
    check_axe(page)


def test_overview_entity_and_scorecards(page, base_url, ctx, app, alerts, monkeypatch):
    """Console pages 1, 4, 7: the overview's tiles and chart, its refresh without a reload,
    an entity page reached from it, the scorecards; axe-core on each."""
    from socmon.settings.collectors import OrganizationUnit

    ctx.settings.collectors.organization_units = [
        OrganizationUnit(id=UNIT_A, name="Sở TT&TT"),
        OrganizationUnit(id=UNIT_B, name="UBND xã A"),
    ]
    from socmon.api.console.pages import overview

    app.state.ctx.extras["console"].poll_seconds = 1  # the settings' floor is 5 s
    monkeypatch.setattr(overview, "CACHE_SECONDS", 0.5)
    make_user(ctx, "viewer-o", "viewer", None)
    sign_in(page, base_url, "viewer-o")
    tiles = page.locator("li.tile")
    assert [tiles.nth(i).get_attribute("data-unit") for i in range(2)] == [UNIT_A, UNIT_B]
    assert tiles.nth(0).locator(".open").inner_text() == "3"  # the fixture's 3 open A alerts
    page.locator("#per-day-chart canvas").first.wait_for()  # uPlot drew the chart
    check_axe(page)
    page.evaluate("window.socmonNoReload = 1")
    index_alerts(ctx.client, ctx.names, [make_alert(50, UNIT_A, rule_id="rule-ssh-a")])
    tile_a = f"li.tile[data-unit='{UNIT_A}'] .open"
    page.wait_for_function(f'() => document.querySelector("{tile_a}").textContent === "4"')
    assert page.evaluate("window.socmonNoReload") == 1  # swapped in place, no full reload
    page.locator("#per-day-chart canvas").first.wait_for()  # redrawn after the swap
    page.locator("ol.top-ips a").first.click()
    page.wait_for_url(f"{base_url}/entities/ip/**")
    assert page.locator("table.entity-alerts tbody tr").count() >= 1
    check_axe(page)
    page.get_by_role("link", name="Đơn vị", exact=True).click()
    page.wait_for_url(f"{base_url}/units")
    assert page.locator("table.ranking tbody tr").count() == 2
    check_axe(page)
    page.locator(f"table.ranking tr[data-unit='{UNIT_A}'] a").click()
    page.wait_for_url(f"{base_url}/units/{UNIT_A}?period=30")
    assert page.locator("#u-backlog").inner_text() == "4"
    check_axe(page)


def test_admin_and_report_pages(page, base_url, ctx, alerts):
    """Administration (create a user in the browser, then find them) and reports: axe-core
    on each page, light and dark."""
    make_user(ctx, "admin-p", "admin", None)
    sign_in(page, base_url, "admin-p")
    page.goto(f"{base_url}/admin/users")
    check_axe(page)
    form = page.locator("form[method=post][action='/admin/users']")
    form.locator("input[name=name]").fill("nguyen.van.b")
    form.locator("select[name=role]").select_option("analyst")
    form.locator("input[name=units]").fill(UNIT_A)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Tạo người dùng").click()
    page.wait_for_url(f"{base_url}/admin/users?saved=created")
    assert page.locator("tr[data-user='nguyen.van.b']").count() == 1
    check_axe(page)
    for path in ("/admin/keys", "/admin/audit", "/admin/health", "/reports"):
        page.goto(f"{base_url}{path}")
        assert page.locator("h1").count() == 1
        check_axe(page)
    page.goto(f"{base_url}/admin/audit?object_type=user")
    assert page.get_by_text("user.create").count() >= 1


def test_saved_view(page, base_url, ctx, alerts):
    """Filter the queue (htmx swaps the table in place), save the filters as a view, make it
    the default: the bare queue then opens it; axe-core on the queue and the views page."""
    crit, doc = make_alert(7, UNIT_A, severity="critical", rule_id="rule-ssh-a")
    index_alerts(ctx.client, ctx.names, [(crit, doc)])
    make_user(ctx, "view-a", "analyst", [UNIT_A])
    sign_in(page, base_url, "view-a")
    page.goto(f"{base_url}/alerts")
    assert page.locator("table.alerts tbody tr").count() == 4
    page.locator("input[name=severity][value=critical]").check()
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**severity=critical**")
    page.wait_for_function("() => document.querySelectorAll('table.alerts tbody tr').length === 1")
    page.fill("#view-name", "Nghiêm trọng A")
    page.locator("#save-view button[type=submit]").click()
    page.wait_for_url("**saved_view=1**")
    rows = page.locator("table.alerts tbody tr")
    assert rows.count() == 1 and rows.nth(0).get_attribute("data-id") == crit
    assert page.get_by_role("link", name="Nghiêm trọng A").count() == 1
    check_axe(page)
    page.get_by_role("link", name="Quản lý khung nhìn").click()
    page.wait_for_url(f"{base_url}/alerts/views")
    check_axe(page)
    page.get_by_role("button", name="Đặt làm mặc định: Nghiêm trọng A").click()
    page.wait_for_url(f"{base_url}/alerts/views?done=default")
    page.goto(f"{base_url}/alerts")
    page.wait_for_url("**view=**")
    assert rows.count() == 1 and rows.nth(0).get_attribute("data-id") == crit
