"""Indices other shippers write (``detection.external_sources``: Winlogbeat, Elastic Agent
straight to Elasticsearch): how scheduled detection queries them and which organisation
unit their documents belong to, decided at query time since socmon did not write them.

- field mapping: the rules are converted with ``socmon_pipeline``'s options for the source
  (``windows_event_data``, ``field_map``), see ``rules.scheduled_convert.convert``;
- organisation unit: a field of the documents (``unit_field``), else the collectors' mapping
  rules (``collectors.organization_units``: hosts globs on ``host.name``, then agents globs on
  ``agent.name``, first match wins; the default unit otherwise), as the Beats input applies
  them to the events it stores. ``unit_of`` gives a document's unit (alerts carry it);
  ``unit_query`` is the same rule as an Elasticsearch query (the API's unit scoping), with
  case-insensitive ``wildcard`` queries (globs: ``*`` and ``?``).
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

from socmon.collectors.enrich import OrgMapper
from socmon.settings import Settings
from socmon.settings.detection import ExternalSource


def _get(doc: dict[str, Any], dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        if dotted in cur:  # a flat dotted key at this level
            return cur[dotted]
        cur = cur.get(part)
    return cur


def _any_glob(field: str, globs: list[str]) -> dict[str, Any] | None:
    if not globs:
        return None
    should = [{"wildcard": {field: {"value": g, "case_insensitive": True}}} for g in globs]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _all(clauses: list[dict[str, Any]], negated: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"filter": clauses} if clauses else {"filter": [{"match_all": {}}]}
    if negated:
        body["must_not"] = negated
    return {"bool": body}


class External:
    """One external source with the unit rules of the settings."""

    def __init__(self, src: ExternalSource, settings: Settings) -> None:
        self.src = src
        self.name = src.name
        self.patterns = [p.strip() for p in src.index.split(",") if p.strip()]
        self.index = ",".join(self.patterns)
        cs = settings.collectors
        self.orgs = OrgMapper(cs)
        self.names = {u.id: u.name for u in cs.organization_units}
        self.default = (cs.default_org_id, cs.default_org_name)
        self.hosts = [(u.id, list(u.hosts)) for u in cs.organization_units]
        self.agents = [(u.id, list(u.agents)) for u in cs.organization_units]

    @property
    def convert_options(self) -> dict[str, Any]:
        return {"windows_event_data": self.src.windows_event_data, "field_map": self.src.field_map}

    def holds(self, index: str) -> bool:
        """Whether a document of ``index`` belongs to this source."""
        return any(fnmatch.fnmatchcase(index, p) for p in self.patterns)

    # ------------------------------------------------------------------ units

    def unit_of(self, doc: dict[str, Any]) -> tuple[str, str]:
        if self.src.unit_field:
            v = _get(doc, self.src.unit_field)
            if isinstance(v, str) and v:
                return v, self.names.get(v, v)
            return self.default
        host, agent = _get(doc, "host.name"), _get(doc, "agent.name")
        return self.orgs.resolve(
            host=host if isinstance(host, str) else None,
            agent=agent if isinstance(agent, str) else None,
        )

    def annotate(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``doc`` with the unit it belongs to and where it came from."""
        out = copy.copy(doc)
        uid, name = self.unit_of(doc)
        out["organization"] = {"id": uid, "name": name}
        sm = out.get("socmon")
        out["socmon"] = {**(sm if isinstance(sm, dict) else {}), "external_source": self.name}
        return out

    def unit_query(self, units: list[str]) -> dict[str, Any]:
        """Documents of this source whose unit (``unit_of``) is one of ``units``."""
        if self.src.unit_field:
            wanted = list(units)
            clauses: list[dict[str, Any]] = [{"terms": {self.src.unit_field: wanted}}]
            if self.default[0] in units:
                clauses.append(_all([], [{"exists": {"field": self.src.unit_field}}]))
            return {"bool": {"should": clauses, "minimum_should_match": 1}}
        if not self.hosts:  # no unit configured: everything is the default unit
            return {"match_all": {}} if self.default[0] in units else {"match_none": {}}
        host_q = [_any_glob("host.name", g) for _, g in self.hosts]
        agent_q = [_any_glob("agent.name", g) for _, g in self.agents]
        any_host = [q for q in host_q if q]
        any_agent = [q for q in agent_q if q]
        should: list[dict[str, Any]] = []
        for k, (uid, _) in enumerate(self.hosts):
            if uid not in units:
                continue
            hq, aq = host_q[k], agent_q[k]
            if hq:
                should.append(_all([hq], [q for q in host_q[:k] if q]))
            if aq:
                should.append(_all([aq], any_host + [q for q in agent_q[:k] if q]))
        if self.default[0] in units:
            should.append(_all([], any_host + any_agent))
        if not should:
            return {"match_none": {}}
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def index_query(self) -> dict[str, Any]:
        """Documents of this source's indices (for a search over several sources)."""
        should = [{"wildcard": {"_index": {"value": p}}} for p in self.patterns]
        return {"bool": {"should": should, "minimum_should_match": 1}}


def externals(settings: Settings) -> list[External]:
    return [External(s, settings) for s in settings.detection.external_sources]
