"""Alerting metrics (registered on socmon.metrics.REGISTRY)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from socmon.metrics import REGISTRY

CREATED = Counter(
    "socmon_alerting_alerts_created_total",
    "Alerts created (new alert or new generation), by severity and organisation unit.",
    ["severity", "unit"],
    registry=REGISTRY,
)
UPDATED = Counter(
    "socmon_alerting_alerts_updated_total",
    "Existing alerts updated by new matching events (grouping), by severity and unit.",
    ["severity", "unit"],
    registry=REGISTRY,
)
REOPENED = Counter(
    "socmon_alerting_alerts_reopened_total",
    "Resolved alerts reopened by a new match, by severity and unit.",
    ["severity", "unit"],
    registry=REGISTRY,
)
SUPPRESSED = Counter(
    "socmon_alerting_alerts_suppressed_total",
    "Detections suppressed by an exception (counted, not alerted), by severity and unit.",
    ["severity", "unit"],
    registry=REGISTRY,
)
DUPLICATE_EVENTS = Counter(
    "socmon_alerting_duplicate_events_total",
    "Matched events already counted in an alert (replays), ignored.",
    registry=REGISTRY,
)
BAD_DETECTIONS = Counter(
    "socmon_alerting_bad_detections_total",
    "Detections or fields alerting could not use, by reason (kept where possible).",
    ["reason"],
    registry=REGISTRY,
)
OPEN_ALERTS = Gauge(
    "socmon_alerting_open_alerts",
    "Alerts not closed (open, acknowledged, in_progress), by status and severity.",
    ["status", "severity"],
    registry=REGISTRY,
)
SLA_BREACHED = Gauge(
    "socmon_alerting_sla_breached_alerts",
    "Alerts still open past their SLA due time.",
    registry=REGISTRY,
)
SLA_ESCALATIONS = Counter(
    "socmon_alerting_sla_escalations_total",
    "Alerts escalated because they stayed open past their SLA due time, by severity.",
    ["severity"],
    registry=REGISTRY,
)
SILENT_SOURCES = Gauge(
    "socmon_alerting_silent_sources",
    "Sources currently silent longer than their threshold, by field.",
    ["field"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "socmon_alerting_status_changes_total",
    "Alert status changes, by from and to status.",
    ["from_status", "to_status"],
    registry=REGISTRY,
)
EVENT_TO_ALERT = Histogram(
    "socmon_alerting_event_to_alert_seconds",
    "Time from an event's @timestamp to its alert being written.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "socmon_alerting_detection_queue_depth",
    "Detections waiting to be turned into alerts.",
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "socmon_alerting_handler_errors_total",
    "Batches of detections that failed (retried), by reason.",
    ["reason"],
    registry=REGISTRY,
)
NOTIFY_ATTEMPTS = Counter(
    "socmon_alerting_notification_attempts_total",
    "Notification delivery attempts, by channel type.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFY_SENT = Counter(
    "socmon_alerting_notifications_sent_total",
    "Notifications delivered, by channel type.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFY_FAILURES = Counter(
    "socmon_alerting_notification_failures_total",
    "Failed delivery attempts (retried or dead-lettered), by channel type.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFY_DEAD = Counter(
    "socmon_alerting_notification_dead_letters_total",
    "Notifications given up after the last try and written to the dead-letter index.",
    ["channel"],
    registry=REGISTRY,
)
NOTIFY_DIGESTED = Counter(
    "socmon_alerting_notifications_digested_total",
    "Notifications folded into a digest (quiet hours, digest interval or rate limit), by route.",
    ["route", "reason"],
    registry=REGISTRY,
)
NOTIFY_OUTBOX_ERRORS = Counter(
    "socmon_alerting_notification_outbox_errors_total",
    "Outbox writes or deletes that failed (the notification is only in memory / may repeat).",
    registry=REGISTRY,
)
NOTIFY_QUEUE = Gauge(
    "socmon_alerting_notification_queue_depth",
    "Deliveries waiting (including scheduled retries).",
    registry=REGISTRY,
)
