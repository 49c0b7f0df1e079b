"""The rule store in Elasticsearch (``<prefix>-rules``): admins' rules, with versions.

Documents:
- current rule: ``_id = <rule id>``, ``kind: "current"``, fields ``rule_id``, ``title``,
  ``yaml`` (the Sigma YAML text), ``enabled``, ``version`` (1, 2, ...), ``status``, ``level``,
  ``tags``, ``logsource`` (product/category/service), ``author``, ``description``,
  ``updated`` (ISO time of the last change), ``updated_by``; a rule from a pack also has
  ``import`` (``sha256`` of the YAML as imported, ``source``, ``path``): kept by later changes,
  so a re-import can tell a rule edited in socmon from one it imported
  (``rules.packs``, ``import_rules`` below).
- each version: ``_id = <rule id>@<version>``, ``kind: "version"``, ``rule_id``, ``version``,
  ``yaml``, ``enabled``, ``updated``, ``updated_by``, ``change`` (created|updated|enabled|
  disabled|deleted|rollback).
A deleted rule keeps its versions; its current document is removed.

The API writes through ``save_rule``/``set_enabled``/``delete_rule``; the detection engine reads
``enabled_rules`` and watches ``store_revision`` to reload without a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import yaml
from elasticsearch import Elasticsearch, NotFoundError, helpers

from socmon.indices import IndexNames
from socmon.timestamps import now_iso


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule_id: str
    yaml: str
    enabled: bool
    version: int
    updated: str


def summary_fields(rule_yaml: str) -> dict[str, Any]:
    """The searchable fields of a rule, read from its YAML (validation is the engine's job)."""
    try:
        doc = yaml.load(rule_yaml, Loader=yaml.CSafeLoader)  # libyaml: required by the layer
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
    now = now_iso()
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
    if current and "import" in current:
        doc["import"] = current["import"]
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


# ---------------------------------------------------------------- rule packs (bulk)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A rule of a pack to store: its id, YAML text, and where it came from."""

    rule_id: str
    yaml: str
    source: str  # the pack (path or URL)
    path: str  # the file inside the pack


@dataclass
class ImportResult:
    """What ``import_rules`` did, per rule id. ``changes`` holds (rule id, before, after) of
    every created or updated rule, for the audit trail."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = field(default_factory=list)


def yaml_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_docs(
    client: Elasticsearch, names: IndexNames, ids: list[str], chunk: int = 1000
) -> dict[str, dict[str, Any]]:
    """Rule id -> current document of those of ``ids`` the store holds."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), chunk):
        resp = client.mget(index=names.rules, ids=ids[i : i + chunk])
        for d in resp["docs"]:
            src = d.get("_source")
            if d.get("found") and src and src.get("kind") == "current":
                out[d["_id"]] = src
    return out


def _versioned_ids(client: Elasticsearch, names: IndexNames, ids: list[str]) -> set[str]:
    """Which of ``ids`` have version documents (deleted rules among those without a current)."""
    out: set[str] = set()
    for i in range(0, len(ids), 1000):
        part = ids[i : i + 1000]
        resp = client.search(
            index=names.rules,
            size=0,
            query={
                "bool": {"filter": [{"term": {"kind": "version"}}, {"terms": {"rule_id": part}}]}
            },
            aggs={"r": {"terms": {"field": "rule_id", "size": len(part)}}},
        )
        out |= {b["key"] for b in resp["aggregations"]["r"]["buckets"]}
    return out


def _local_change(current: dict[str, Any] | None, versioned: bool) -> str | None:
    """Why a pack must not replace this rule without ``overwrite`` (None: it may)."""
    if current is None:
        return "deleted in socmon" if versioned else None
    imported = current.get("import")
    if not imported:
        return "a rule with this id exists and was not imported"
    if imported.get("sha256") != yaml_sha256(current["yaml"]):
        return "edited in socmon since it was imported"
    return None


def import_rules(
    client: Elasticsearch,
    names: IndexNames,
    incoming: list[Incoming],
    actor: str = "import",
    enable_new: bool = False,
    overwrite: bool = False,
    chunk_size: int = 500,
    current: dict[str, dict[str, Any]] | None = None,
) -> ImportResult:
    """Store a pack's rules with bulk requests: a new rule gets version 1 (disabled unless
    ``enable_new``), a changed one a new version (its enabled state kept), the same text
    nothing at all. A rule created, edited or deleted in socmon is not replaced unless
    ``overwrite`` (a conflict instead). Version documents are written before the current
    ones; a rule whose version could not be written keeps its current document.
    ``current``: the current documents of these ids if the caller read them already."""
    result = ImportResult()
    ids = [r.rule_id for r in incoming]
    if current is None:
        current = current_docs(client, names, ids)
    versioned = _versioned_ids(client, names, [i for i in ids if i not in current])
    next_version: dict[str, int] = {}
    if overwrite and versioned:
        for rid in versioned:
            vs = versions(client, names, rid)
            next_version[rid] = max((v["version"] for v in vs), default=0) + 1
    now = now_iso()
    planned: list[tuple[Incoming, dict[str, Any], dict[str, Any]]] = []
    for r in incoming:
        cur = current.get(r.rule_id)
        if cur is not None and cur["yaml"] == r.yaml:
            result.unchanged.append(r.rule_id)
            continue
        why = _local_change(cur, r.rule_id in versioned)
        if why and not overwrite:
            result.conflicts.append((r.rule_id, why))
            continue
        version = cur["version"] + 1 if cur else next_version.get(r.rule_id, 1)
        enabled = bool(cur["enabled"]) if cur else enable_new
        change = "updated" if cur else "created"
        stamp = {"updated": now, "@timestamp": now, "updated_by": actor}
        ver = {"kind": "version", "rule_id": r.rule_id, "version": version, "yaml": r.yaml}
        ver |= {"enabled": enabled, **stamp, "change": change}
        doc: dict[str, Any] = {"kind": "current", "rule_id": r.rule_id, "yaml": r.yaml}
        doc |= {"enabled": enabled, "version": version, **stamp, **summary_fields(r.yaml)}
        doc["import"] = {"sha256": yaml_sha256(r.yaml), "source": r.source, "path": r.path}
        planned.append((r, ver, doc))

    def bulk(actions: list[dict[str, Any]]) -> dict[str, str]:
        failed: dict[str, str] = {}
        for ok, item in helpers.streaming_bulk(
            client,
            actions,
            chunk_size=chunk_size,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=3,
        ):
            if not ok:
                info = next(iter(item.values()))
                failed[str(info.get("_id"))] = str(info.get("error") or info.get("status"))
        return failed

    ver_failed = bulk(
        [
            {"_index": names.rules, "_id": f"{r.rule_id}@{v['version']}", "_source": v}
            for r, v, _ in planned
        ]
    )
    written = [(r, d) for r, v, d in planned if f"{r.rule_id}@{v['version']}" not in ver_failed]
    for r, v, _ in planned:
        err = ver_failed.get(f"{r.rule_id}@{v['version']}")
        if err:
            result.errors.append((r.rule_id, f"version not written: {err}"))
    cur_failed = bulk([{"_index": names.rules, "_id": r.rule_id, "_source": d} for r, d in written])
    client.indices.refresh(index=names.rules)
    for r, d in written:
        if r.rule_id in cur_failed:
            result.errors.append((r.rule_id, f"rule not written: {cur_failed[r.rule_id]}"))
            continue
        before = current.get(r.rule_id)
        (result.updated if before else result.created).append(r.rule_id)
        result.changes.append((r.rule_id, before, d))
    return result
