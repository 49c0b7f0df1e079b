"""When an event reached the central store, and how late it was.

socmon stamps ``socmon.ingested`` when it hands an event to Elasticsearch (``StorageSink``)
and again when a spooled batch is replayed (``BulkWriter``): only that moment tells when the
document became searchable, so it is scheduled detection's window key (``rules.scheduled``):
an event stored hours after it happened (a site's spool replayed after a link outage) is
still examined, once. ``event.ingested`` (ECS: when the event arrived in the central store)
is socmon's same storage time, except when the event came with one from a shipper: that
value is kept (it is the shipper's statement, and may be hours old, which is why detection
does not window on it). The collection moment is ``event.created`` (``collectors.enrich``).
The distribution socmon runs has no ingest processors to stamp this server-side. The delay
between ``@timestamp`` and the storage moment is observed per source (``event.dataset``) in
``socmon_ingest_delay_seconds``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
from prometheus_client import Histogram

from socmon.metrics import REGISTRY
from socmon.timestamps import iso_epoch

DELAY = Histogram(
    "socmon_ingest_delay_seconds",
    "Seconds between an event's @timestamp and its hand-over to Elasticsearch, by source "
    "(event.dataset) and path (direct: written at once; replay: from the disk spool).",
    ["source", "path"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
    registry=REGISTRY,
)


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


STORED = "socmon.ingested"  # socmon's storage time: the window key of scheduled detection
INGESTED = "event.ingested"


def stamp(event: dict[str, Any], path: str = "direct", now: float | None = None) -> None:
    """Set ``socmon.ingested`` to now, and ``event.ingested`` too unless a shipper set it
    (a value that is not socmon's previous stamp); observe the event's delay."""
    t = time.time() if now is None else now
    e = event.get("event")
    if not isinstance(e, dict):
        e = {}
        event["event"] = e
    so = event.get("socmon")
    if not isinstance(so, dict):
        so = {}
        event["socmon"] = so
    at = iso_epoch(t)
    if "ingested" not in e or e["ingested"] == so.get("ingested"):
        e["ingested"] = at
    so["ingested"] = at
    ts = _epoch(event.get("@timestamp"))
    if ts is not None:
        source = e.get("dataset")
        DELAY.labels(source if isinstance(source, str) and source else "unknown", path).observe(
            max(0.0, t - ts)
        )


def restamp_line(source: bytes, now: float | None = None) -> bytes:
    """A serialised event (one bulk source line) stamped again now (``stamp``); a line
    that is not a JSON object is returned unchanged (Elasticsearch will judge it)."""
    try:
        doc = orjson.loads(source)
    except orjson.JSONDecodeError:
        return source
    if not isinstance(doc, dict):
        return source
    stamp(doc, "replay", now)
    return orjson.dumps(doc, default=str) + b"\n"


def _span(field: str, start: float | None, end: float | None) -> dict[str, Any]:
    r: dict[str, Any] = {"format": "strict_date_optional_time"}
    if start is not None:
        r["gte"] = iso_epoch(start)
    if end is not None:
        r["lt"] = iso_epoch(end)
    return {"range": {field: r}}


def stored_range(start: float | None, end: float | None) -> dict[str, Any]:
    """Documents stored in [start, end): each by exactly one time, the first it has of
    ``socmon.ingested``, ``event.ingested`` (another shipper's documents, or socmon's from
    before the field), ``@timestamp``."""
    return {
        "bool": {
            "should": [
                _span(STORED, start, end),
                {
                    "bool": {
                        "must_not": {"exists": {"field": STORED}},
                        "filter": _span(INGESTED, start, end),
                    }
                },
                {
                    "bool": {
                        "must_not": [
                            {"exists": {"field": STORED}},
                            {"exists": {"field": INGESTED}},
                        ],
                        "filter": _span("@timestamp", start, end),
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }
