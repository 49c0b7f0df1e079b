"""Prometheus metrics of the collectors (``socmon_collector_*``) and the one place bad input is
reported: counted by kind and source, logged with source and position (throttled, so a flood
of garbage cannot flood the logs too)."""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import Counter, Gauge

from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

EVENTS = Counter(
    "socmon_collector_events_total",
    "Events emitted by the collectors, by source kind and format.",
    ["source", "format"],
    registry=REGISTRY,
)
BAD_INPUT = Counter(
    "socmon_collector_bad_input_total",
    "Bad input met by the collectors, by kind (parse_failure, invalid_utf8, truncated, "
    "binary, json_too_deep, file_deleted, file_truncated, idle_client, read_error, ...).",
    ["kind", "source"],
    registry=REGISTRY,
)
BYTES = Counter(
    "socmon_collector_read_bytes_total",
    "Bytes read by the collectors, by source kind.",
    ["source"],
    registry=REGISTRY,
)
SYSLOG_MESSAGES = Counter(
    "socmon_collector_syslog_messages_total",
    "Syslog messages received, by listener protocol and sender address (the per-sender rate "
    "is rate() of this counter).",
    ["protocol", "sender"],
    registry=REGISTRY,
)
SYSLOG_CONNECTIONS = Gauge(
    "socmon_collector_syslog_connections",
    "Open TCP/TLS syslog connections.",
    ["protocol"],
    registry=REGISTRY,
)
FILES_OPEN = Gauge(
    "socmon_collector_files_open",
    "Files currently followed.",
    registry=REGISTRY,
)
CHECKPOINT_WRITES = Counter(
    "socmon_collector_checkpoint_writes_total",
    "Checkpoint files written (only positions acknowledged as durable).",
    registry=REGISTRY,
)
CHECKPOINT_UNREADABLE = Counter(
    "socmon_collector_checkpoint_unreadable_total",
    "Checkpoint files found unreadable at start (the source re-reads its files; deterministic "
    "ids make the re-read store nothing twice).",
    registry=REGISTRY,
)

_lock = threading.Lock()
_last_logged: dict[tuple[str, str], tuple[float, int]] = {}
_LOG_EVERY = 5.0  # seconds between log lines per (kind, source) after the first few


def report_bad(kind: str, source_kind: str, source: str, position: object, reason: str) -> None:
    """Count bad input and log it with its source and position (throttled per source)."""
    BAD_INPUT.labels(kind, source_kind).inc()
    key = (kind, source)
    now = time.monotonic()
    with _lock:
        last, suppressed = _last_logged.get(key, (0.0, 0))
        if now - last < _LOG_EVERY:
            _last_logged[key] = (last, suppressed + 1)
            return
        _last_logged[key] = (now, 0)
        if len(_last_logged) > 10_000:
            _last_logged.clear()
    log.warning(
        "bad input",
        extra={
            "kind": kind,
            "source": source,
            "position": position,
            "reason": reason,
            "suppressed_since_last": suppressed,
        },
    )
