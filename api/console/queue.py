"""The alert queue's filter, shared by the queue (``pages/alerts.py``) and its saved views
(``pages/views.py``): parsing it from a query string, the query string of its pages, and
the units and rules its lists offer."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from socmon.alerting import model
from socmon.api.auth import Principal, unit_filter
from socmon.api.console.scoped_cache import ScopedCache
from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError
from socmon.api.routes import alerts as api_alerts
from socmon.api.routes.common import search

ACTIVE = [model.OPEN, model.ACKNOWLEDGED, model.IN_PROGRESS]


def parse_filter(qp: QueryParams) -> tuple[api_alerts.AlertFilter, dict[str, Any]]:
    """The queue's filter from its query string (``f=1`` marks a submitted form: without it
    the queue shows the active statuses) and the values the form shows back."""
    submitted = qp.get("f") == "1"
    status = qp.getlist("status") if submitted else list(ACTIVE)
    form: dict[str, Any] = {
        "status": status,
        "severity": qp.getlist("severity"),
        "unit": [u for u in qp.getlist("unit") if u],
        "rule": qp.get("rule", "").strip(),
        "assignee": qp.get("assignee", "").strip(),
        "start": qp.get("start", ""),
        "q": qp.get("q", "").strip(),
        "sort": qp.get("sort", "@timestamp"),
        "order": qp.get("order", "desc"),
    }
    try:
        f = api_alerts.AlertFilter.model_validate(
            {
                "status": status or None,
                "severity": form["severity"] or None,
                "unit": form["unit"] or None,
                "rule": [form["rule"]] if form["rule"] else None,
                "assignee": form["assignee"] or None,
                "start": form["start"] or None,
                "q": form["q"] or None,
            }
        )
    except ValidationError as e:
        fields = ", ".join(str(err["loc"][0]) for err in e.errors())
        raise ProblemError(422, f"filter not valid: {fields}") from None
    return f, form


CHOICES_TTL = 60.0  # seconds the filter's unit and rule lists are reused


_CHOICES_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Options:
    """The ``<option>`` elements of a filter list, escaped once when the list is computed
    (a minute per scope) instead of on every page: a hundred rules and units were a quarter
    of the queue page's rendering."""

    items: tuple[tuple[str, str, str], ...]  # (value, element, element marked selected)

    @classmethod
    def of(cls, choices: list[dict[str, Any]]) -> Options:
        items = []
        for c in choices:
            value, label = escape(c["id"]), escape(c["name"])
            items.append(
                (
                    str(c["id"]),
                    f'<option value="{value}">{label}</option>',
                    f'<option value="{value}" selected>{label}</option>',
                )
            )
        return cls(tuple(items))

    def html(self, chosen: Collection[str]) -> Markup:
        return Markup("".join(sel if v in chosen else plain for v, plain, sel in self.items))


@dataclass(frozen=True, slots=True)
class Choices:
    """The units of the principal's alerts ({"id", "name"} each, also for the reports' unit
    picker) and the options of the queue's unit and rule lists."""

    units: list[dict[str, Any]]
    unit_options: Options
    rule_options: Options


def choices(ctx: ApiContext, p: Principal) -> Choices:
    """Units and rules present in the principal's alerts, for the filter's lists: an
    aggregation over every alert, kept a minute per scope, refreshed by one request at a
    time while the others keep the previous lists (``ScopedCache``)."""
    with _CHOICES_LOCK:
        cache: ScopedCache[Choices] = ctx.extras.setdefault(
            "console_choices", ScopedCache(CHOICES_TTL, serve_stale=True)
        )
    return cache.get(p.units, lambda: _aggregate_choices(ctx, p))


def _aggregate_choices(ctx: ApiContext, p: Principal) -> Choices:
    resp = search(
        ctx,
        index=ctx.names.alerts,
        query={"bool": {"filter": unit_filter(p)}},
        size=0,
        aggs={
            "units": {
                "terms": {"field": "organization.id", "size": 500},
                "aggs": {"name": {"terms": {"field": "organization.name", "size": 1}}},
            },
            "rules": {
                "terms": {"field": "rule.id", "size": 500},
                "aggs": {"name": {"terms": {"field": "rule.name", "size": 1}}},
            },
        },
    )
    aggs = resp.get("aggregations") or {}

    def items(name: str) -> list[dict[str, Any]]:
        out = []
        for b in (aggs.get(name) or {}).get("buckets", []):
            label = ((b.get("name") or {}).get("buckets") or [{}])[0].get("key", b["key"])
            out.append({"id": b["key"], "name": label})
        return out

    units = items("units")
    return Choices(units, Options.of(units), Options.of(items("rules")))


def query_string(qp: QueryParams, **changes: str | None) -> str:
    items = [(k, v) for k, v in qp.multi_items() if k not in changes]
    items.extend((k, v) for k, v in changes.items() if v is not None)
    return urlencode(items)
