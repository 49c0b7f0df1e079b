"""Index names, index templates and retention.

Events are append-only daily indices ``<prefix>-events-YYYY.MM.DD`` (this distribution has no
data-streams module and no ILM, so retention is a job that deletes whole daily indices).
Alerts, rules, exceptions, audit, dead letters and engine state are updatable single indices.
Templates live as JSON in ``socmon/templates/`` and are applied idempotently.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

log = logging.getLogger(__name__)

# Templates whose indices are single, updatable indices (created by `setup`).
UPDATABLE = (
    "alerts",
    "rules",
    "exceptions",
    "audit",
    "deadletter",
    "state",
    "apikeys",
    "users",
    "sessions",
    "views",
)
TEMPLATE_PRIORITY = 500
TEMPLATE_VERSION = 1


@dataclass(frozen=True)
class IndexNames:
    """Every index name socmon uses, derived from one prefix."""

    prefix: str = "socmon"

    @property
    def events_pattern(self) -> str:
        return f"{self.prefix}-events-*"

    def events(self, day: dt.date) -> str:
        return f"{self.prefix}-events-{day:%Y.%m.%d}"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def rules(self) -> str:
        return f"{self.prefix}-rules"

    @property
    def exceptions(self) -> str:
        return f"{self.prefix}-exceptions"

    @property
    def audit(self) -> str:
        return f"{self.prefix}-audit"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}-deadletter"

    @property
    def state(self) -> str:
        return f"{self.prefix}-state"

    @property
    def all_pattern(self) -> str:
        return f"{self.prefix}-*"


def events_index_for(names: IndexNames, timestamp: str | None) -> str:
    """The daily index of an event from its ``@timestamp`` (ISO 8601).

    Deterministic: the same event always goes to the same index, so a replay cannot duplicate
    it in another day's index. An unparseable timestamp goes to the epoch-day index
    ``<prefix>-events-1970.01.01`` (visible, and removed by retention) rather than being lost.
    """
    if timestamp and len(timestamp) >= 10 and timestamp[4] == "-" and timestamp[7] == "-":
        y, m, d = timestamp[0:4], timestamp[5:7], timestamp[8:10]
        if y.isdigit() and m.isdigit() and d.isdigit():
            return f"{names.prefix}-events-{y}.{m}.{d}"
    return f"{names.prefix}-events-1970.01.01"


@cache
def load_template(kind: str) -> dict[str, Any]:
    text = resources.files("socmon.templates").joinpath(f"{kind}.json").read_text("utf-8")
    body: dict[str, Any] = json.loads(text)
    return body


def template_kinds() -> list[str]:
    return ["events", *UPDATABLE]


def index_template(names: IndexNames, kind: str) -> dict[str, Any]:
    pattern = names.events_pattern if kind == "events" else f"{names.prefix}-{kind}*"
    return {
        "index_patterns": [pattern],
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "template": load_template(kind),
        "_meta": {"managed_by": "socmon", "kind": kind},
    }


def apply_templates(client: Elasticsearch, names: IndexNames) -> list[str]:
    """Put every index template and create the updatable indices; safe to repeat.

    Returns the names of the templates written. Existing updatable indices get any new
    mappings merged in (``put_mapping``), so an upgrade adds fields without a reindex.
    """
    written = []
    for kind in template_kinds():
        name = f"{names.prefix}-{kind}"
        body = index_template(names, kind)
        client.indices.put_index_template(
            name=name,
            index_patterns=body["index_patterns"],
            priority=body["priority"],
            version=body["version"],
            template=body["template"],
            meta=body["_meta"],
        )
        written.append(name)
        if kind in UPDATABLE:
            index = f"{names.prefix}-{kind}"
            if not client.indices.exists(index=index):
                try:
                    client.indices.create(index=index)
                except Exception as e:  # created concurrently by another process
                    if "resource_already_exists" not in str(e):
                        raise
            else:
                client.indices.put_mapping(index=index, **_mapping_args(body["template"]))
    client.cluster.health(index=f"{names.prefix}-*", wait_for_status="yellow", timeout="30s")
    log.info("index templates applied", extra={"templates": written})
    return written


def _mapping_args(template: dict[str, Any]) -> dict[str, Any]:
    m = template.get("mappings", {})
    args: dict[str, Any] = {"properties": m.get("properties", {})}
    if "dynamic_templates" in m:
        args["dynamic_templates"] = m["dynamic_templates"]
    return args


def install_external_template(
    client: Elasticsearch, names: IndexNames, source: str, patterns: list[str]
) -> str:
    """socmon's events mapping as an index template for another shipper's indices
    (``detection.external_sources[].install_template``): the Sigma-matched fields
    lowercase-normalised, so scheduled detection matches them case-insensitively. Only
    indices created afterwards get it."""
    name = f"{names.prefix}-external-{source}"
    client.indices.put_index_template(
        name=name,
        index_patterns=patterns,
        priority=TEMPLATE_PRIORITY,
        version=TEMPLATE_VERSION,
        template=load_template("events"),
        meta={"managed_by": "socmon", "kind": "external", "source": source},
    )
    return name


def templates_applied(client: Elasticsearch, names: IndexNames) -> bool:
    """True when every template exists at the current version (used by readiness checks)."""
    try:
        got = client.indices.get_index_template(name=f"{names.prefix}-*")
    except NotFoundError:
        return False
    versions = {t["name"]: t["index_template"].get("version") for t in got["index_templates"]}
    return all(versions.get(f"{names.prefix}-{k}") == TEMPLATE_VERSION for k in template_kinds())


def delete_expired_event_indices(
    client: Elasticsearch, names: IndexNames, retention_days: int, today: dt.date | None = None
) -> list[str]:
    """Delete daily event indices older than the retention; returns what was deleted."""
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = today - dt.timedelta(days=retention_days)
    try:
        existing = client.indices.get(index=names.events_pattern, expand_wildcards="open,closed")
    except NotFoundError:
        return []
    doomed = []
    for index in existing:
        suffix = index.rsplit("-", 1)[-1]
        try:
            day = dt.datetime.strptime(suffix, "%Y.%m.%d").date()
        except ValueError:
            continue
        if day < cutoff:
            doomed.append(index)
    for index in sorted(doomed):
        client.indices.delete(index=index)
        log.info("retention: deleted index", extra={"index": index, "cutoff": str(cutoff)})
    return sorted(doomed)
