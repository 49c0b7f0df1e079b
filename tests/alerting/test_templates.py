"""Message templates (vi/en), links, digests and quiet-hour arithmetic."""

from __future__ import annotations

import datetime as dt

from socmon.alerting.notify.message import Notification
from socmon.alerting.notify.routing import RateLimiter, quiet_until
from socmon.alerting.notify.templates import Renderer
from socmon.settings.alerting import Route


def _silent() -> dict:
    return {
        "id": "s1",
        "kind": "silent_source",
        "rule": {"id": "socmon-silent-source", "name": "Silent source: observer.name=fw-1"},
        "severity": "high",
        "organization": {"id": "so-a", "name": "Sở A"},
        "silent_source": {
            "field": "observer.name",
            "value": "fw-1",
            "last_event": "2026-11-24T01:00:00.000Z",
        },
        "status": "open",
    }


def test_languages_times_and_links():
    r = Renderer("https://soc.example/", "/ui/alerts/{id}", "Asia/Ho_Chi_Minh")
    n = Notification("silent", _silent(), "2026-11-24T03:00:00.000Z")
    en, vi = r.render(n, "en"), r.render(n, "vi")
    assert en.subject == "[socmon][HIGH] Silent source: observer.name=fw-1"
    assert "Last seen: 2026-11-24 08:00:00 +07" in en.text
    assert "https://soc.example/ui/alerts/s1" in en.text and en.payload["alert"]["url"].endswith(
        "/ui/alerts/s1"
    )
    assert "Nguồn dữ liệu ngừng gửi" in vi.text and "Mức độ: cao" in vi.text
    assert "Đơn vị: Sở A (so-a)" in vi.text
    d = r.render_digest([n, Notification("recovered", _silent(), n.at)], "en", "soc")
    assert d.subject == "[socmon][HIGH] Digest: 2 alerts (soc)"
    assert d.text.count("https://soc.example/ui/alerts/s1") == 2


def test_notification_ids_are_deterministic():
    a = Notification("new", {"id": "x"}, "t1")
    assert a.id == Notification("new", {"id": "x"}, "t2").id
    assert a.id != Notification("sla_breach", {"id": "x"}, "t1").id
    r1 = Notification("reopened", {"id": "x", "reopened_count": 1}, "t")
    assert r1.id != Notification("reopened", {"id": "x", "reopened_count": 2}, "t").id


def test_quiet_hours_wrap_midnight_and_rate_limiter():
    route = Route.model_validate({"name": "r", "channels": ["c"], "quiet_hours": "22:00-06:30"})
    tz = dt.UTC
    assert quiet_until(route, dt.datetime(2026, 11, 24, 21, 59, tzinfo=tz), tz) is None
    assert quiet_until(route, dt.datetime(2026, 11, 24, 23, 0, tzinfo=tz), tz) == dt.datetime(
        2026, 11, 25, 6, 30, tzinfo=tz
    )
    assert quiet_until(route, dt.datetime(2026, 11, 25, 3, 0, tzinfo=tz), tz) == dt.datetime(
        2026, 11, 25, 6, 30, tzinfo=tz
    )
    assert quiet_until(route, dt.datetime(2026, 11, 25, 6, 30, tzinfo=tz), tz) is None
    rl = RateLimiter(2, 10.0)
    assert [rl.allow(t) for t in (0.0, 1.0, 2.0, 10.5)] == [True, True, False, True]
    assert rl.free_at(10.6) == 11.0
