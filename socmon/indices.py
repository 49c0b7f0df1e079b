"""Index names, index templates and retention.

Events are append-only daily indices ``<prefix>-events-YYYY.MM.DD`` (this distribution has no
data-streams module and no ILM, so retention is a job that deletes whole daily indices).
Alerts, rules, exceptions, audit, dead letters and engine state are updatable single indices.
Templates live as JSON in ``socmon/templates/`` and are applied idempotently; their shards and
replicas come from settings (``es.number_of_shards``, ``es.number_of_replicas``) or, for the
replicas left unset, from the cluster's data nodes when ``socmon setup`` runs (``IndexLayout``).
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

from socmon.settings import ElasticsearchSettings

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
    "oidc-logins",
)
TEMPLATE_PRIORITY = 500
TEMPLATE_VERSION = 2  # 2: shards and replicas from settings (IndexLayout)


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


@dataclass(frozen=True)
class IndexLayout:
    """Shards and replicas of every index socmon creates, and why the replicas are what
    they are (logged)."""

    shards: int = 1
    replicas: int = 0
    reason: str = "default"

    def settings(self) -> dict[str, Any]:
        return {"number_of_shards": self.shards, "number_of_replicas": self.replicas}


def replicas_for(data_nodes: int) -> int:
    """What Elastic operators run: one replica as soon as a second data node can hold it
    (a node's loss keeps every shard), none on a single node (a replica there can never be
    assigned and the cluster would stay yellow)."""
    return 1 if data_nodes >= 2 else 0


def stored_replicas(client: Elasticsearch, names: IndexNames) -> int | None:
    """The replicas socmon's events template carries (the last decision), if any."""
    got = client.options(ignore_status=404).indices.get_index_template(
        name=f"{names.prefix}-events"
    )
    body: dict[str, Any] = dict(got.body) if got else {}
    for t in body.get("index_templates", []):
        value = t["index_template"].get("template", {}).get("settings", {}).get("index", {})
        if "number_of_replicas" in value:
            return int(value["number_of_replicas"])
    return None


def decide_layout(
    client: Elasticsearch,
    names: IndexNames,
    es: ElasticsearchSettings | None = None,
    redecide: bool = False,
) -> IndexLayout:
    """The layout to write: ``es.number_of_replicas`` when set; else the decision stored in
    the events template (kept by every start, so a restart while a node is down does not
    lower the replicas); else, or with ``redecide`` (``socmon setup``), one from the
    cluster's data nodes now."""
    shards = es.number_of_shards if es is not None else 1
    if es is not None and es.number_of_replicas is not None:
        return IndexLayout(shards, es.number_of_replicas, "es.number_of_replicas")
    if not redecide:
        kept = stored_replicas(client, names)
        if kept is not None:
            return IndexLayout(shards, kept, "kept from the last socmon setup")
    data = int(client.cluster.health()["number_of_data_nodes"])
    return IndexLayout(shards, replicas_for(data), f"{data} data node(s)")


def index_template(
    names: IndexNames, kind: str, layout: IndexLayout | None = None
) -> dict[str, Any]:
    pattern = names.events_pattern if kind == "events" else f"{names.prefix}-{kind}*"
    template = load_template(kind)
    index = {**template["settings"]["index"], **(layout or IndexLayout()).settings()}
    return {
        "index_patterns": [pattern],
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "template": {**template, "settings": {**template["settings"], "index": index}},
        "_meta": {"managed_by": "socmon", "kind": kind},
    }


def apply_templates(
    client: Elasticsearch,
    names: IndexNames,
    es: ElasticsearchSettings | None = None,
    redecide: bool = False,
) -> list[str]:
    """Put every index template and create the updatable indices; safe to repeat.

    Returns the names of the templates written. Existing updatable indices get any new
    mappings merged in (``put_mapping``), so an upgrade adds fields without a reindex.
    Shards and replicas: ``decide_layout``; with ``redecide`` (``socmon setup``) the
    replicas of socmon's existing indices follow the decision too (a dynamic setting), so
    a cluster grown from one node to three gets its replicas by running setup again.
    """
    layout = decide_layout(client, names, es, redecide)
    log.info(
        "index layout",
        extra={"shards": layout.shards, "replicas": layout.replicas, "reason": layout.reason},
    )
    written = []
    for kind in template_kinds():
        name = f"{names.prefix}-{kind}"
        body = index_template(names, kind, layout)
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
    if redecide:
        existing = [names.events_pattern, *(f"{names.prefix}-{k}" for k in UPDATABLE)]
        client.indices.put_settings(
            index=",".join(existing),
            settings={
                "index": {"number_of_replicas": layout.replicas, "auto_expand_replicas": "false"}
            },
            allow_no_indices=True,
            ignore_unavailable=True,
        )
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
        template=index_template(names, "events", decide_layout(client, names))["template"],
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
