"""Alert figures for dashboards and reports: one aggregation query, unit-scoped.

Mean time to acknowledge / resolve need a difference of two dates per alert; this
Elasticsearch build has no scripts, so they are computed here over the period's alerts that
have the timestamps (at most ``MTT_SAMPLE``, newest first; the count used is reported).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socmon.alerting import model
from socmon.api.auth import Principal, unit_filter
from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError
from socmon.api.routes.common import iso, range_clause, search

MTT_SAMPLE = 10_000
MAX_BUCKETS = 2000
INTERVAL_SECONDS = {"15m": 900, "1h": 3600, "1d": 86400, "1w": 7 * 86400}
TOP = 10
MTT_FIELDS = [
    "@timestamp",
    "first_seen",
    "acknowledged_at",
    "resolved_at",
    "sla_due",
    "organization.id",
    "status",
]


def pick_interval(t0: dt.datetime, t1: dt.datetime) -> str:
    span = (t1 - t0).total_seconds()
    for limit, interval in ((6 * 3600, "15m"), (2 * 86400, "1h"), (62 * 86400, "1d")):
        if span <= limit:
            return interval
    return "1w"


def _buckets(agg: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((agg or {}).get("buckets", []))


def _counts(agg: dict[str, Any] | None) -> dict[str, int]:
    return {str(b["key"]): int(b["doc_count"]) for b in _buckets(agg)}


def _parse(v: Any) -> dt.datetime | None:
    return model.parse_ts(v) if isinstance(v, str) else None


def durations(s: dict[str, Any]) -> tuple[float | None, float | None, bool]:
    """Seconds to acknowledge and to resolve of one alert document (None when it has not
    happened), and whether it was resolved after its SLA was due."""
    born = _parse(s.get("first_seen")) or _parse(s.get("@timestamp"))
    ack, res, due = (
        _parse(s.get("acknowledged_at")),
        _parse(s.get("resolved_at")),
        _parse(s.get("sla_due")),
    )
    tta = (ack - born).total_seconds() if born and ack and ack >= born else None
    ttr = (res - born).total_seconds() if born and res and res >= born else None
    return tta, ttr, bool(res and due and res > due)


def alert_figures(
    ctx: ApiContext,
    p: Principal,
    t0: dt.datetime,
    t1: dt.datetime,
    units: list[str] | None = None,
    interval: str | None = None,
    by_unit: bool = False,
    with_mtt: bool = True,
) -> dict[str, Any]:
    """``with_mtt=False`` skips the MTTA/MTTR sample (a second, heavier query): the console's
    overview, polled every few seconds, does not show them."""
    filters: list[dict[str, Any]] = [range_clause("@timestamp", t0, t1), *unit_filter(p)]
    if units:
        filters.append({"terms": {"organization.id": units}})
    interval = interval or pick_interval(t0, t1)
    buckets = (t1 - t0).total_seconds() / INTERVAL_SECONDS[interval]
    if buckets > MAX_BUCKETS:
        raise ProblemError(422, f"interval {interval} gives too many buckets for this range")
    kind = "calendar_interval" if interval == "1w" else "fixed_interval"
    aggs: dict[str, Any] = {
        "over_time": {
            "date_histogram": {
                "field": "@timestamp",
                kind: interval,
                "min_doc_count": 0,
                "extended_bounds": {"min": iso(t0), "max": iso(t1)},
            },
            "aggs": {"severity": {"terms": {"field": "severity", "size": 10}}},
        },
        "severity": {"terms": {"field": "severity", "size": 10}},
        "status": {"terms": {"field": "status", "size": 10}},
        "unit": {
            "terms": {"field": "organization.id", "size": 500},
            "aggs": {
                "name": {"terms": {"field": "organization.name", "size": 1}},
                "severity": {"terms": {"field": "severity", "size": 10}},
                "status": {"terms": {"field": "status", "size": 10}},
            },
        },
        "rule": {
            "terms": {"field": "rule.id", "size": TOP},
            "aggs": {"name": {"terms": {"field": "rule.name", "size": 1}}},
        },
        "technique": {"terms": {"field": "threat.technique.id", "size": TOP}},
        "source_ip": {"terms": {"field": "source.ip", "size": TOP}},
        "host": {"terms": {"field": "host.name", "size": TOP}},
        "user": {"terms": {"field": "user.name", "size": TOP}},
        "sla_open_breached": {
            "filter": {
                "bool": {
                    "filter": [
                        {"terms": {"status": sorted(model.ACTIVE_STATUSES)}},
                        {"range": {"sla_due": {"lt": "now"}}},
                    ]
                }
            }
        },
        "silent": {
            "filter": {"term": {"rule.id": model.SILENT_SOURCE_RULE_ID}},
            "aggs": {
                "unit": {"terms": {"field": "organization.id", "size": 100}},
                "host": {"terms": {"field": "host.name", "size": 100}},
            },
        },
    }
    resp = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": filters}},
        size=0,
        aggs=aggs,
        track_total_hits=True,
    )
    a = resp.get("aggregations") or {}
    hits: list[dict[str, Any]] = []
    if with_mtt:
        sample = search(
            ctx,
            index=ctx.names.alerts,
            query={"bool": {"filter": [*filters, {"exists": {"field": "acknowledged_at"}}]}},
            size=MTT_SAMPLE,
            sort=[{"@timestamp": "desc"}],
            _source=MTT_FIELDS,
        )
        hits = sample["hits"]["hits"]
    tta: list[float] = []
    ttr: list[float] = []
    late_closed = 0
    for h in hits:
        ta, tr, late = durations(h["_source"])
        if ta is not None:
            tta.append(ta)
        if tr is not None:
            ttr.append(tr)
        late_closed += late
    out: dict[str, Any] = {
        "range": {"start": iso(t0), "end": iso(t1)},
        "interval": interval,
        "total": int(resp["hits"]["total"]["value"]),
        "by_severity": _counts(a.get("severity")),
        "by_status": _counts(a.get("status")),
        "over_time": [
            {
                "t": b.get("key_as_string", str(b["key"])),
                "total": int(b["doc_count"]),
                "by_severity": _counts(b.get("severity")),
            }
            for b in _buckets(a.get("over_time"))
        ],
        "by_unit": [
            {
                "id": str(b["key"]),
                "name": next((str(x["key"]) for x in _buckets(b.get("name"))), ""),
                "count": int(b["doc_count"]),
            }
            for b in _buckets(a.get("unit"))
        ],
        "by_rule": [
            {
                "id": str(b["key"]),
                "name": next((str(x["key"]) for x in _buckets(b.get("name"))), ""),
                "count": int(b["doc_count"]),
            }
            for b in _buckets(a.get("rule"))
        ],
        "top_techniques": [
            {"id": str(b["key"]), "count": int(b["doc_count"])}
            for b in _buckets(a.get("technique"))
        ],
        "top_entities": {
            "source.ip": [
                {"value": str(b["key"]), "count": int(b["doc_count"])}
                for b in _buckets(a.get("source_ip"))
            ],
            "host.name": [
                {"value": str(b["key"]), "count": int(b["doc_count"])}
                for b in _buckets(a.get("host"))
            ],
            "user.name": [
                {"value": str(b["key"]), "count": int(b["doc_count"])}
                for b in _buckets(a.get("user"))
            ],
        },
        "mtta_seconds": (sum(tta) / len(tta)) if tta else None,
        "mttr_seconds": (sum(ttr) / len(ttr)) if ttr else None,
        "mtt_sample": len(hits),
        "sla_breaches": {
            "open_overdue": int((a.get("sla_open_breached") or {}).get("doc_count", 0)),
            "closed_late": late_closed,
        },
        "silent_sources": {
            "alerts": int((a.get("silent") or {}).get("doc_count", 0)),
            "units": _counts((a.get("silent") or {}).get("unit")),
            "hosts": _counts((a.get("silent") or {}).get("host")),
        },
    }
    if by_unit:
        out["units"] = [
            {
                "id": str(b["key"]),
                "name": next((str(x["key"]) for x in _buckets(b.get("name"))), ""),
                "total": int(b["doc_count"]),
                "by_severity": _counts(b.get("severity")),
                "by_status": _counts(b.get("status")),
            }
            for b in _buckets(a.get("unit"))
        ]
    return out
