"""`socmon run` wiring (alerting.services.build) and the alerting metrics."""

from __future__ import annotations

from socmon.alerting import services
from socmon.metrics import REGISTRY
from socmon.runner import build_context

from .helpers import detection, event
from .receivers import HttpReceiver


def _v(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_build_wires_handler_notifier_and_metrics(settings, names, es_client):
    with HttpReceiver(fail_first=1) as rx:
        s = settings.model_copy(
            update={
                "alerting": settings.alerting.model_validate(
                    {
                        "channels": {"hook": {"type": "webhook", "url": rx.url}},
                        "routes": [{"name": "soc", "channels": ["hook"]}],
                        "retry_initial": 0.05,
                    }
                )
            }
        )
        ctx = build_context(s)
        built = services.build(ctx)
        assert [x.name for x in built] == [
            "alerting-notifier",
            "alerting-detections",
            "alerting-checks",
        ]
        assert ctx.detection_handler is not None
        before = {
            "created": _v("socmon_alerting_alerts_created_total", severity="high", unit="u-m"),
            "updated": _v("socmon_alerting_alerts_updated_total", severity="high", unit="u-m"),
            "attempts": _v("socmon_alerting_notification_attempts_total", channel="webhook"),
            "failures": _v("socmon_alerting_notification_failures_total", channel="webhook"),
            "sent": _v("socmon_alerting_notifications_sent_total", channel="webhook"),
            "latency": _v("socmon_alerting_event_to_alert_seconds_count"),
        }
        for svc in built:
            svc.start()
        ctx.detection_handler(detection([event(0, unit="u-m")]))
        assert ctx.detection_handler.flush(30)
        for i in range(1, 5):
            ctx.detection_handler(detection([event(i, unit="u-m")]))
        assert ctx.detection_handler.flush(30)
        notifier = ctx.extras["alerting.notifier"]
        assert notifier.flush(30)
        for svc in reversed(built):
            svc.stop()
        assert len(rx.accepted) == 1
        assert _v("socmon_alerting_alerts_created_total", severity="high", unit="u-m") == (
            before["created"] + 1
        )
        assert _v("socmon_alerting_alerts_updated_total", severity="high", unit="u-m") >= (
            before["updated"] + 1
        )
        assert _v("socmon_alerting_notification_attempts_total", channel="webhook") == (
            before["attempts"] + 2
        )
        assert _v("socmon_alerting_notification_failures_total", channel="webhook") == (
            before["failures"] + 1
        )
        assert _v("socmon_alerting_notifications_sent_total", channel="webhook") == (
            before["sent"] + 1
        )
        assert _v("socmon_alerting_event_to_alert_seconds_count") == before["latency"] + 5
        es_client.indices.refresh(index=names.alerts)
        hits = es_client.search(index=names.alerts, query={"match_all": {}})["hits"]["hits"]
        assert [h["_source"]["event_count"] for h in hits] == [5]


def test_disabled_builds_nothing(settings):
    s = settings.model_copy(
        update={"alerting": settings.alerting.model_copy(update={"enabled": False})}
    )
    ctx = build_context(s)
    assert services.build(ctx) == []
    assert ctx.detection_handler is None
