"""Figures per organisation unit, unit-scoped: the overview's tiles (now) and the scorecards
(a period). Aggregations where Elasticsearch can do them; MTTA/MTTR and SLA compliance from
the period's alerts (at most ``figures.MTT_SAMPLE``, newest first; the count is reported),
because this Elasticsearch build has no scripts to subtract two dates.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from socmon.alerting import model
from socmon.api.auth import Principal, unit_filter
from socmon.api.context import ApiContext
from socmon.api.figures import MTT_FIELDS, MTT_SAMPLE, durations
from socmon.api.routes.common import iso, range_clause, search

MAX_UNITS = 1000
# Open backlog by age of the alert: (key, older than, younger than) in days.
BACKLOG_AGES: tuple[tuple[str, int | None, int | None], ...] = (
    ("lt1d", None, 1),
    ("d1_7", 1, 7),
    ("d7_30", 7, 30),
    ("gt30d", 30, None),
)
# The event field counted as "a source reporting" (distinct values in the period).
SOURCE_FIELD = "host.name"

_ACTIVE = sorted(model.ACTIVE_STATUSES)


def _buckets(agg: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((agg or {}).get("buckets", []))


def _first_key(agg: dict[str, Any] | None) -> str:
    return next((str(b["key"]) for b in _buckets(agg)), "")


def scope_units(ctx: ApiContext, p: Principal, seen: dict[str, str]) -> list[dict[str, str]]:
    """The units the principal may see: the configured organisation units first (in the
    settings' order), then units found in the data (``seen``: id -> name), then units the
    principal is bound to that have neither."""
    out: dict[str, str] = {}
    for u in ctx.settings.collectors.organization_units:
        if p.sees_unit(u.id):
            out.setdefault(u.id, u.name)
    for uid in sorted(seen):
        if p.sees_unit(uid):
            out.setdefault(uid, seen[uid] or uid)
    for uid in p.units or ():
        out.setdefault(uid, uid)
    return [{"id": k, "name": v} for k, v in out.items()]


def _active() -> dict[str, Any]:
    return {"terms": {"status": _ACTIVE}}


def _last_events(
    ctx: ApiContext, p: Principal, t0: dt.datetime | None, t1: dt.datetime | None
) -> dict[str, dict[str, Any]]:
    """Per unit: the last event's time and the distinct sources reporting (in [t0, t1])."""
    filters: list[dict[str, Any]] = [*unit_filter(p)]
    if t0 and t1:
        filters.append(range_clause("@timestamp", t0, t1))
    resp = search(
        ctx,
        index=ctx.names.events_pattern,
        query={"bool": {"filter": filters}},
        size=0,
        ignore_unavailable=True,
        allow_no_indices=True,
        aggs={
            "unit": {
                "terms": {"field": "organization.id", "size": MAX_UNITS},
                "aggs": {
                    "last": {"max": {"field": "@timestamp"}},
                    "sources": {"cardinality": {"field": SOURCE_FIELD}},
                },
            }
        },
    )
    out: dict[str, dict[str, Any]] = {}
    for b in _buckets((resp.get("aggregations") or {}).get("unit")):
        last = (b.get("last") or {}).get("value_as_string")
        out[str(b["key"])] = {
            "last_event": last,
            "sources": int((b.get("sources") or {}).get("value") or 0),
            "events": int(b["doc_count"]),
        }
    return out


def unit_tiles(ctx: ApiContext, p: Principal) -> list[dict[str, Any]]:
    """One tile per unit in scope: open alerts by severity, open SLA breaches, silent sources
    (active silent-source alerts), the last event seen."""
    resp = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": [*unit_filter(p), _active()]}},
        size=0,
        aggs={
            "unit": {
                "terms": {"field": "organization.id", "size": MAX_UNITS},
                "aggs": {
                    "name": {"terms": {"field": "organization.name", "size": 1}},
                    "severity": {"terms": {"field": "severity", "size": 10}},
                    "sla": {"filter": {"range": {"sla_due": {"lt": "now"}}}},
                    "silent": {"filter": {"term": {"kind": model.KIND_SILENT_SOURCE}}},
                },
            }
        },
    )
    per: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for b in _buckets((resp.get("aggregations") or {}).get("unit")):
        uid = str(b["key"])
        names[uid] = _first_key(b.get("name"))
        per[uid] = {
            "open": int(b["doc_count"]),
            "by_severity": {str(s["key"]): int(s["doc_count"]) for s in _buckets(b["severity"])},
            "sla_breaches": int(b["sla"]["doc_count"]),
            "silent": int(b["silent"]["doc_count"]),
        }
    events = _last_events(ctx, p, None, None)
    tiles = []
    for u in scope_units(ctx, p, names):
        f = per.get(u["id"], {"open": 0, "by_severity": {}, "sla_breaches": 0, "silent": 0})
        last = (events.get(u["id"]) or {}).get("last_event")
        tiles.append({**u, **f, "last_event": last})
    return tiles


@dataclass
class _Acc:
    tta: list[float] = field(default_factory=list)
    ttr: list[float] = field(default_factory=list)
    with_sla: int = 0
    breached: int = 0


def _mtt_by_unit(
    ctx: ApiContext, filters: list[dict[str, Any]], now: dt.datetime
) -> tuple[dict[str, dict[str, Any]], int, int]:
    """Per unit MTTA, MTTR and SLA compliance over the period's alerts (sampled)."""
    resp = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": filters}},
        size=MTT_SAMPLE,
        sort=[{"@timestamp": "desc"}],
        _source=MTT_FIELDS,
        track_total_hits=True,
    )
    acc: dict[str, _Acc] = defaultdict(_Acc)
    hits = resp["hits"]["hits"]
    for h in hits:
        s = h["_source"]
        a = acc[str((s.get("organization") or {}).get("id") or "")]
        tta, ttr, late = durations(s)
        if tta is not None:
            a.tta.append(tta)
        if ttr is not None:
            a.ttr.append(ttr)
        due = model.parse_ts(s["sla_due"]) if isinstance(s.get("sla_due"), str) else None
        if due is not None:
            a.with_sla += 1
            a.breached += int(late or (s.get("status") in model.ACTIVE_STATUSES and due < now))
    out = {
        uid: {
            "mtta_seconds": sum(a.tta) / len(a.tta) if a.tta else None,
            "mttr_seconds": sum(a.ttr) / len(a.ttr) if a.ttr else None,
            "acknowledged": len(a.tta),
            "resolved": len(a.ttr),
            "with_sla": a.with_sla,
            "sla_breached": a.breached,
            "sla_compliance": 100.0 * (a.with_sla - a.breached) / a.with_sla
            if a.with_sla
            else None,
        }
        for uid, a in acc.items()
    }
    return out, len(hits), int(resp["hits"]["total"]["value"])


def _backlog(ctx: ApiContext, p: Principal, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Per unit, now: active alerts by age, and active silent-source alerts."""
    ranges = []
    for key, older, younger in BACKLOG_AGES:
        r: dict[str, Any] = {"key": key}
        if younger is not None:
            r["from"] = iso(now - dt.timedelta(days=younger))
        if older is not None:
            r["to"] = iso(now - dt.timedelta(days=older))
        ranges.append(r)
    resp = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": [*unit_filter(p), _active()]}},
        size=0,
        aggs={
            "unit": {
                "terms": {"field": "organization.id", "size": MAX_UNITS},
                "aggs": {
                    "name": {"terms": {"field": "organization.name", "size": 1}},
                    "age": {"date_range": {"field": "@timestamp", "ranges": ranges}},
                    "silent": {"filter": {"term": {"kind": model.KIND_SILENT_SOURCE}}},
                },
            }
        },
    )
    out: dict[str, dict[str, Any]] = {}
    for b in _buckets((resp.get("aggregations") or {}).get("unit")):
        out[str(b["key"])] = {
            "name": _first_key(b.get("name")),
            "backlog": int(b["doc_count"]),
            "backlog_by_age": {str(r["key"]): int(r["doc_count"]) for r in _buckets(b.get("age"))},
            "silent": int(b["silent"]["doc_count"]),
        }
    return out


def unit_scorecards(
    ctx: ApiContext, p: Principal, t0: dt.datetime, t1: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    """Scorecards of every unit in scope over [t0, t1] (alerts created in the period), with
    the open backlog and silent sources as of ``now``."""
    filters: list[dict[str, Any]] = [range_clause("@timestamp", t0, t1), *unit_filter(p)]
    counts = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": filters}},
        size=0,
        aggs={
            "unit": {
                "terms": {"field": "organization.id", "size": MAX_UNITS},
                "aggs": {"name": {"terms": {"field": "organization.name", "size": 1}}},
            }
        },
    )
    created: dict[str, int] = {}
    names: dict[str, str] = {}
    for b in _buckets((counts.get("aggregations") or {}).get("unit")):
        created[str(b["key"])] = int(b["doc_count"])
        names[str(b["key"])] = _first_key(b.get("name"))
    mtt, sampled, total = _mtt_by_unit(ctx, filters, now)
    backlog = _backlog(ctx, p, now)
    names.update({k: v["name"] for k, v in backlog.items() if k not in names})
    events = _last_events(ctx, p, t0, t1)
    empty_mtt = {
        "mtta_seconds": None,
        "mttr_seconds": None,
        "acknowledged": 0,
        "resolved": 0,
        "with_sla": 0,
        "sla_breached": 0,
        "sla_compliance": None,
    }
    units = []
    for u in scope_units(ctx, p, names):
        b = backlog.get(u["id"]) or {}
        ev = events.get(u["id"]) or {}
        units.append(
            {
                **u,
                "alerts": created.get(u["id"], 0),
                **mtt.get(u["id"], empty_mtt),
                "backlog": b.get("backlog", 0),
                "backlog_by_age": {
                    k: (b.get("backlog_by_age") or {}).get(k, 0) for k, _o, _y in BACKLOG_AGES
                },
                "silent": b.get("silent", 0),
                "sources_reporting": ev.get("sources", 0),
                "last_event": ev.get("last_event"),
            }
        )
    return {
        "range": {"start": iso(t0), "end": iso(t1)},
        "units": units,
        "mtt_sample": sampled,
        "mtt_total": total,
    }
