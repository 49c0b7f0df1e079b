"""When an event reached the central store: ``event.ingested``, and how late it was.

Scheduled detection windows on ``event.ingested`` (``rules.scheduled``), so an event stored
hours after it happened (a site's spool replayed after a link outage) is still examined.
socmon sets the field when it hands the event to Elasticsearch (``StorageSink``) and again
when a spooled batch is replayed (``BulkWriter``): a value set earlier -- at collection, or by
an upstream shipper -- says nothing about when the document became searchable, so it is
overwritten (the Elasticsearch distribution socmon runs has no ingest processors to do this
server-side). The delay between ``@timestamp`` and that moment is observed per source
(``event.dataset``) in ``socmon_ingest_delay_seconds``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
from prometheus_client import Histogram

from socmon.metrics import REGISTRY

DELAY = Histogram(
    "socmon_ingest_delay_seconds",
    "Seconds between an event's @timestamp and its hand-over to Elasticsearch, by source "
    "(event.dataset) and path (direct: written at once; replay: from the disk spool).",
    ["source", "path"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
    registry=REGISTRY,
)


def iso(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def stamp(event: dict[str, Any], path: str = "direct", now: float | None = None) -> None:
    """Set ``event.ingested`` to now and observe the event's delay."""
    t = time.time() if now is None else now
    e = event.get("event")
    if not isinstance(e, dict):
        e = {}
        event["event"] = e
    e["ingested"] = iso(t)
    ts = _epoch(event.get("@timestamp"))
    if ts is not None:
        source = e.get("dataset")
        DELAY.labels(source if isinstance(source, str) and source else "unknown", path).observe(
            max(0.0, t - ts)
        )


def restamp_line(source: bytes, now: float | None = None) -> bytes:
    """A serialised event (one bulk source line) with ``event.ingested`` set to now; a line
    that is not a JSON object is returned unchanged (Elasticsearch will judge it)."""
    try:
        doc = orjson.loads(source)
    except orjson.JSONDecodeError:
        return source
    if not isinstance(doc, dict):
        return source
    stamp(doc, "replay", now)
    return orjson.dumps(doc, default=str) + b"\n"
