"""Pipeline health for administrators, read from what the service itself has: Elasticsearch
(cluster health, the events' sources and their last event, the ingest rate, stored rules that
no longer compile, notification dead letters), the disk spool directory, and this process's
own metrics (detection lag, when the detection engine runs here).

Each part is computed independently: a part that cannot be read says why (``error``) instead
of hiding the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from socmon.api.context import ApiContext
from socmon.api.routes.common import iso
from socmon.ingest_time import stored_range
from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

# Always listed, with the fields the ``alerting.silent_sources`` rules watch.
DEFAULT_SOURCE_FIELD = "event.dataset"
SOURCES_SIZE = 200
RATE_WINDOW = dt.timedelta(minutes=5)
LAG_METRIC = "socmon_alerting_event_to_alert_seconds"


def source_fields(ctx: ApiContext) -> list[str]:
    fields = [r.field for r in ctx.settings.alerting.silent_sources]
    return list(dict.fromkeys([*fields, DEFAULT_SOURCE_FIELD]))


def elasticsearch(ctx: ApiContext) -> dict[str, Any]:
    h = ctx.client.cluster.health()
    return {
        "status": h["status"],
        "nodes": h["number_of_nodes"],
        "active_shards": h["active_shards"],
        "unassigned_shards": h["unassigned_shards"],
    }


def sources(ctx: ApiContext, now: dt.datetime) -> list[dict[str, Any]]:
    """Every source seen in the last week, per source field, with its last event (oldest
    first: the silent ones lead)."""
    aggs = {
        f: {
            "terms": {"field": f, "size": SOURCES_SIZE, "order": {"last": "asc"}},
            "aggs": {"last": {"max": {"field": "@timestamp"}}},
        }
        for f in source_fields(ctx)
    }
    resp = ctx.client.search(
        index=ctx.names.events_pattern,
        size=0,
        query={"range": {"@timestamp": {"gte": iso(now - dt.timedelta(days=7))}}},
        aggs=aggs,
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    out = []
    for f in aggs:
        for b in ((resp.get("aggregations") or {}).get(f) or {}).get("buckets", []):
            last = (b.get("last") or {}).get("value_as_string")
            out.append({"field": f, "value": str(b["key"]), "events": b["doc_count"], "last": last})
    return out


def ingest_rate(ctx: ApiContext, now: dt.datetime) -> dict[str, Any]:
    """Events per second stored over the last five minutes (by their storage time,
    ``socmon.ingest_time.stored_range``, so late-arriving old events count when they
    arrive)."""
    resp = ctx.client.count(
        index=ctx.names.events_pattern,
        query=stored_range((now - RATE_WINDOW).timestamp(), None),
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    n = int(resp["count"])
    return {
        "events": n,
        "seconds": int(RATE_WINDOW.total_seconds()),
        "per_second": round(n / RATE_WINDOW.total_seconds(), 2),
    }


def spool(directory: Path) -> dict[str, Any]:
    """Segments waiting in the disk spool (``<seq>-<docs>.ndjson``), read from the directory."""
    segs = sorted(directory.glob("*.ndjson")) if directory.is_dir() else []
    docs = 0
    for s in segs:
        with contextlib.suppress(IndexError, ValueError):
            docs += int(s.stem.split("-", 1)[1])
    return {
        "directory": str(directory),
        "segments": len(segs),
        "documents": docs,
        "bytes": sum(s.stat().st_size for s in segs),
    }


def rule_problems(ctx: ApiContext) -> list[dict[str, Any]]:
    """Enabled stored rules that do not compile with this version's Sigma tools (checked
    once per rule text, then remembered)."""
    from socmon.api.sigma_tools import check

    cache: dict[str, list[dict[str, Any]]] = ctx.extras.setdefault("health_rule_checks", {})
    resp = ctx.client.search(
        index=ctx.names.rules,
        size=10_000,
        query={"bool": {"filter": [{"term": {"kind": "current"}}, {"term": {"enabled": True}}]}},
        source_includes=["rule_id", "title", "yaml"],
        ignore_unavailable=True,
    )
    out = []
    for h in resp["hits"]["hits"]:
        src = h["_source"]
        text = str(src.get("yaml", ""))
        key = hashlib.sha256(text.encode()).hexdigest()
        if key not in cache:
            cache[key] = check(text).problems
        for p in cache[key]:
            out.append({"rule_id": src.get("rule_id"), "title": src.get("title"), **p})
    return out


def detection_lag() -> dict[str, Any] | None:
    """Mean and count of event-to-alert seconds from this process's histogram (None when
    the detection engine does not run in this process)."""
    total = count = 0.0
    for metric in REGISTRY.collect():
        if metric.name != LAG_METRIC:
            continue
        for s in metric.samples:
            if s.name == LAG_METRIC + "_sum":
                total += s.value
            elif s.name == LAG_METRIC + "_count":
                count += s.value
    if not count:
        return None
    return {"mean_seconds": round(total / count, 3), "alerts": int(count)}


def dead_letters(ctx: ApiContext, limit: int = 20) -> dict[str, Any]:
    resp = ctx.client.search(
        index=ctx.names.deadletter,
        size=limit,
        track_total_hits=True,
        query={"term": {"index": "notification"}},
        sort=[{"@timestamp": "desc"}],
        source_includes=["@timestamp", "reason", "error_type", "doc_id", "status"],
        ignore_unavailable=True,
    )
    return {
        "total": int(resp["hits"]["total"]["value"]),
        "recent": [h["_source"] for h in resp["hits"]["hits"]],
    }


def _part(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"value": fn()}
    except Exception as e:
        log.warning("pipeline health part failed", extra={"error": str(e)})
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def pipeline_health(ctx: ApiContext) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "generated": iso(now),
        "elasticsearch": _part(lambda: elasticsearch(ctx)),
        "sources": _part(lambda: sources(ctx, now)),
        "ingest": _part(lambda: ingest_rate(ctx, now)),
        "spool": _part(
            lambda: spool(ctx.settings.storage.spool_dir or ctx.settings.var_dir / "spool")
        ),
        "rule_problems": _part(lambda: rule_problems(ctx)),
        "detection_lag": _part(detection_lag),
        "dead_letters": _part(lambda: dead_letters(ctx)),
    }
