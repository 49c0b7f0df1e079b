"""The rule store in Elasticsearch (``<prefix>-rules``): admins' rules, with versions.

Documents:
- current rule: ``_id = <rule id>``, ``kind: "current"``, fields ``rule_id``, ``title``,
  ``yaml`` (the Sigma YAML text), ``enabled``, ``version`` (1, 2, ...), ``status``, ``level``,
  ``tags``, ``logsource`` (product/category/service), ``author``, ``description``,
  ``updated`` (ISO time of the last change), ``updated_by``.
- each version: ``_id = <rule id>@<version>``, ``kind: "version"``, ``rule_id``, ``version``,
  ``yaml``, ``enabled``, ``updated``, ``updated_by``, ``change`` (created|updated|enabled|
  disabled|deleted|rollback).
A deleted rule keeps its versions; its current document is removed.

The API writes through ``save_rule``/``set_enabled``/``delete_rule``; the detection engine reads
``enabled_rules`` and watches ``store_revision`` to reload without a restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import yaml
from elasticsearch import Elasticsearch, NotFoundError

from socmon.indices import IndexNames


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule_id: str
    yaml: str
    enabled: bool
    version: int
    updated: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary_fields(rule_yaml: str) -> dict[str, Any]:
    """The searchable fields of a rule, read from its YAML (validation is the engine's job)."""
    try:
        doc = yaml.safe_load(rule_yaml)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        return {}
    raw_ls = doc.get("logsource")
    ls: dict[str, Any] = raw_ls if isinstance(raw_ls, dict) else {}
    return {
        "title": str(doc.get("title", "")),
        "status": str(doc.get("status", "")),
        "level": str(doc.get("level", "")),
        "tags": [str(t) for t in doc.get("tags", []) or []],
        "author": str(doc.get("author", "")),
        "description": str(doc.get("description", "")),
        "logsource": {k: str(ls.get(k)) for k in ("product", "category", "service") if ls.get(k)},
    }


def get_rule(client: Elasticsearch, names: IndexNames, rule_id: str) -> dict[str, Any] | None:
    try:
        doc = client.get(index=names.rules, id=rule_id)
    except NotFoundError:
        return None
    src: dict[str, Any] = doc["_source"]
    return src if src.get("kind") == "current" else None


def save_rule(
    client: Elasticsearch,
    names: IndexNames,
    rule_id: str,
    rule_yaml: str,
    actor: str,
    enabled: bool | None = None,
    change: str | None = None,
) -> dict[str, Any]:
    """Create or update a rule (a new version each time); returns the current document."""
    current = get_rule(client, names, rule_id)
    version = (current["version"] + 1) if current else 1
    if enabled is None:
        enabled = current["enabled"] if current else False
    now = _now()
    doc: dict[str, Any] = {
        "kind": "current",
        "rule_id": rule_id,
        "yaml": rule_yaml,
        "enabled": enabled,
        "version": version,
        "updated": now,
        "@timestamp": now,
        "updated_by": actor,
        **summary_fields(rule_yaml),
    }
    client.index(
        index=names.rules,
        id=f"{rule_id}@{version}",
        document={
            "kind": "version",
            "rule_id": rule_id,
            "version": version,
            "yaml": rule_yaml,
            "enabled": enabled,
            "updated": now,
            "@timestamp": now,
            "updated_by": actor,
            "change": change or ("updated" if current else "created"),
        },
    )
    client.index(index=names.rules, id=rule_id, document=doc, refresh="wait_for")
    return doc


def set_enabled(
    client: Elasticsearch, names: IndexNames, rule_id: str, enabled: bool, actor: str
) -> dict[str, Any] | None:
    current = get_rule(client, names, rule_id)
    if current is None:
        return None
    return save_rule(
        client,
        names,
        rule_id,
        current["yaml"],
        actor,
        enabled=enabled,
        change="enabled" if enabled else "disabled",
    )


def delete_rule(client: Elasticsearch, names: IndexNames, rule_id: str, actor: str) -> bool:
    current = get_rule(client, names, rule_id)
    if current is None:
        return False
    save_rule(client, names, rule_id, current["yaml"], actor, enabled=False, change="deleted")
    client.delete(index=names.rules, id=rule_id, refresh="wait_for")
    return True


def versions(client: Elasticsearch, names: IndexNames, rule_id: str) -> list[dict[str, Any]]:
    resp = client.search(
        index=names.rules,
        query={"bool": {"filter": [{"term": {"kind": "version"}}, {"term": {"rule_id": rule_id}}]}},
        sort=[{"version": "asc"}],
        size=1000,
    )
    return [h["_source"] for h in resp["hits"]["hits"]]


def enabled_rules(client: Elasticsearch, names: IndexNames) -> list[StoredRule]:
    """Every enabled current rule (what the detection engine loads)."""
    out: list[StoredRule] = []
    resp = client.search(
        index=names.rules,
        query={"bool": {"filter": [{"term": {"kind": "current"}}, {"term": {"enabled": True}}]}},
        size=10_000,
        sort=[{"rule_id": "asc"}],
    )
    for h in resp["hits"]["hits"]:
        s = h["_source"]
        out.append(StoredRule(s["rule_id"], s["yaml"], s["enabled"], s["version"], s["updated"]))
    return out


def store_revision(client: Elasticsearch, names: IndexNames) -> tuple[int, str]:
    """(number of version documents, latest update time): changes whenever any rule changes,
    so the engine can poll it cheaply and reload only then."""
    resp = client.search(
        index=names.rules,
        query={"term": {"kind": "version"}},
        size=0,
        track_total_hits=True,
        aggs={"latest": {"max": {"field": "updated"}}},
    )
    latest = resp["aggregations"]["latest"].get("value_as_string") or ""
    return int(resp["hits"]["total"]["value"]), latest
