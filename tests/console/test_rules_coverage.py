"""The console's ATT&CK coverage page (under Rules): detections per technique in the user's
units, Vietnamese by default, the Navigator layer download; in a real browser, axe-core clean
(light and dark)."""

from __future__ import annotations

import re

import pytest

from socmon.rules import store
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert
from tests.console import test_browser as ui
from tests.console.conftest import make_user
from tests.rules.test_coverage import validate_layer

pytestmark = pytest.mark.es

RID = "c0de0000-0000-4000-8000-000000000001"
RULE = f"""title: Coverage page rule
id: {RID}
status: test
level: high
logsource: {{product: linux, service: auth}}
detection:
  sel:
    message|contains: 'needle'
  condition: sel
tags:
  - attack.credential_access
  - attack.t1110
"""


def _seed(ctx) -> None:  # type: ignore[no-untyped-def]
    store.save_rule(ctx.client, ctx.names, RID, RULE, "t", enabled=True)
    alerts = [make_alert(i, UNIT_A, rule_id=RID) for i in (1, 2, 3)]
    alerts.append(make_alert(4, UNIT_B, rule_id=RID))
    index_alerts(ctx.client, ctx.names, alerts)


def _row(html: str, tid: str) -> str:
    m = re.search(
        rf'<tr class="heat-\d">\s*<th scope="row"><a href="/rules\?technique={tid}">'
        rf"{tid}</a>(.*?)</tr>",
        html,
        re.S,
    )
    assert m, html[:3000]
    return m.group(1)


def test_coverage_page_counts_per_unit(ctx, signed) -> None:  # type: ignore[no-untyped-def]
    _seed(ctx)
    # T1110's detections: this rule's alerts (the shipped rules tagged T1110 have none here)
    for who, n in {"analyst": 4, "analyst@A": 3, "analyst@B": 1}.items():
        r = signed[who].get("/rules/coverage")
        assert r.status_code == 200, r.text[:500]
        assert "Độ bao phủ ATT&amp;CK" in r.text and "Brute Force" in r.text
        cells = re.findall(r'<td class="num">(\d+)</td>', _row(r.text, "T1110"))
        assert int(cells[1]) == n, (who, cells)
    old = signed["analyst"].get("/rules/coverage?since=now-24h").text
    assert "Brute Force" in old
    layer = signed["analyst@A"].get("/rules/coverage/navigator")
    assert layer.status_code == 200
    validate_layer(layer.json())
    [t] = [t for t in layer.json()["techniques"] if t["techniqueID"] == "T1110"]
    assert t["metadata"] == [{"name": "detections", "value": "3"}]
    assert signed["viewer"].get("/rules/coverage").status_code == 403


@pytest.mark.browser
def test_coverage_page_in_the_browser(page, base_url, ctx) -> None:  # type: ignore[no-untyped-def]
    _seed(ctx)
    make_user(ctx, "an-cov", "analyst", [UNIT_A])
    ui.sign_in(page, base_url, "an-cov")
    page.goto(f"{base_url}/rules")
    page.get_by_role("link", name="Độ bao phủ ATT&CK").click()
    page.wait_for_url(f"{base_url}/rules/coverage")
    assert "Brute Force" in page.locator("section[aria-labelledby=credential-access]").inner_text()
    ui.check_axe(page)


browser, base_url, page = ui.browser, ui.base_url, ui.page
