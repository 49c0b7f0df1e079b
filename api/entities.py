"""An entity (an address, a host, a user) across alerts and events, unit-scoped: first and
last seen, the units it touched, its recent events. Its alerts are listed by the alert
list's own query (``AlertFilter.ip/host/user``)."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from socmon.api.auth import Principal, unit_filter
from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError
from socmon.api.routes.alerts import entity_clauses
from socmon.api.routes.common import search

Kind = Literal["ip", "host", "user"]
KINDS: tuple[Kind, ...] = ("ip", "host", "user")
RECENT_EVENTS = 50


def clauses(kind: Kind, value: str) -> list[dict[str, Any]]:
    """The filter for the entity; 422 for an address that is not one."""
    if kind == "ip":
        try:
            value = str(ipaddress.ip_address(value))
        except ValueError:
            raise ProblemError(422, f"'{value}' is not an IP address") from None
    return entity_clauses(
        value if kind == "ip" else None,
        value if kind == "host" else None,
        value if kind == "user" else None,
    )


def _span(ctx: ApiContext, index: str, filters: list[dict[str, Any]], lo: str, hi: str) -> Any:
    return search(
        ctx,
        index=index,
        query={"bool": {"filter": filters}},
        size=0,
        track_total_hits=True,
        ignore_unavailable=True,
        allow_no_indices=True,
        aggs={
            "first": {"min": {"field": lo}},
            "last": {"max": {"field": hi}},
            "unit": {
                "terms": {"field": "organization.id", "size": 500},
                "aggs": {"name": {"terms": {"field": "organization.name", "size": 1}}},
            },
        },
    )


def summary(ctx: ApiContext, p: Principal, kind: Kind, value: str) -> dict[str, Any]:
    """First/last seen (alerts' first_seen/last_seen and events' @timestamp), alert and event
    counts, units touched, and the most recent events, all within the principal's units."""
    filters = [*clauses(kind, value), *unit_filter(p)]
    a = _span(ctx, ctx.names.alerts, filters, "first_seen", "last_seen")
    e = _span(ctx, ctx.names.events_pattern, filters, "@timestamp", "@timestamp")
    firsts, lasts = [], []
    units: dict[str, dict[str, Any]] = {}
    for resp, what in ((a, "alerts"), (e, "events")):
        aggs = resp.get("aggregations") or {}
        if (aggs.get("first") or {}).get("value_as_string"):
            firsts.append(aggs["first"]["value_as_string"])
        if (aggs.get("last") or {}).get("value_as_string"):
            lasts.append(aggs["last"]["value_as_string"])
        for b in (aggs.get("unit") or {}).get("buckets", []):
            u = units.setdefault(str(b["key"]), {"id": str(b["key"]), "name": "", "alerts": 0})
            u.setdefault("events", 0)
            u[what] = int(b["doc_count"])
            names = (b.get("name") or {}).get("buckets") or []
            u["name"] = u["name"] or (str(names[0]["key"]) if names else "")
    recent = search(
        ctx,
        index=ctx.names.events_pattern,
        query={"bool": {"filter": filters}},
        size=RECENT_EVENTS,
        sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
        ignore_unavailable=True,
        allow_no_indices=True,
    )
    events = []
    for h in recent["hits"]["hits"]:
        doc = dict(h.get("_source") or {})
        doc["_id"], doc["_index"] = h["_id"], h.get("_index")
        events.append(doc)
    return {
        "kind": kind,
        "value": value,
        "first_seen": min(firsts) if firsts else None,
        "last_seen": max(lasts) if lasts else None,
        "alerts": int(a["hits"]["total"]["value"]),
        "events": int(e["hits"]["total"]["value"]),
        "units": sorted(units.values(), key=lambda u: u["id"]),
        "recent_events": events,
    }
