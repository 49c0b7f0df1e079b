"""Exceptions as data: detections they match are counted, not alerted.

An exception (document in ``<prefix>-exceptions``) has a scope (``global``, ``unit`` with an
``organization.id``, or ``rule`` with a ``rule_id`` and optionally an ``organization.id``),
conditions on fields (all must hold), a reason, an owner and an optional expiry. A detection is
suppressed when it is in scope and every one of its matched events satisfies every condition
(values from the detection's group-by take precedence over the event's).

``preview`` answers "how many past alerts would this have suppressed?" with the same matcher,
applied to each alert's embedded sample events (or, without samples, the alert's own entity
fields), before the exception is saved.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import uuid
from collections.abc import Iterable
from typing import Any, Literal

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socmon.alerting import model
from socmon.alerting.errors import ConcurrentUpdate, ExceptionNotFound, InvalidException
from socmon.indices import IndexNames
from socmon.optimistic import UpdateConflict, read_document, update_document
from socmon.rules.detection import Detection

log = logging.getLogger(__name__)

Op = Literal["equals", "not_equals", "contains", "startswith", "endswith", "cidr", "exists"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(..., min_length=1)
    op: Op = "equals"
    # One value or a list (any of them). Not needed for ``exists``.
    value: Any = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.op != "exists" and self.value is None:
            raise ValueError(f"condition on {self.field}: op {self.op} needs a value")
        if self.op == "cidr":
            for v in _as_list(self.value):
                try:
                    ipaddress.ip_network(str(v), strict=False)
                except ValueError:
                    raise ValueError(f"condition on {self.field}: bad CIDR {v!r}") from None
        return self

    def matches(self, value: Any) -> bool:
        if self.op == "exists":
            want = True if self.value is None else bool(self.value)
            return (value not in (None, "", [])) == want
        values = value if isinstance(value, list) else [value]
        values = [v for v in values if v is not None]
        if self.op == "not_equals":
            targets = {str(t) for t in _as_list(self.value)}
            return all(str(v) not in targets for v in values)
        return any(self._one(v, t) for v in values for t in _as_list(self.value))

    def _one(self, v: Any, t: Any) -> bool:
        sv, st = str(v), str(t)
        if self.op == "equals":
            return sv == st
        if self.op == "contains":
            return st in sv
        if self.op == "startswith":
            return sv.startswith(st)
        if self.op == "endswith":
            return sv.endswith(st)
        if self.op == "cidr":
            try:
                return ipaddress.ip_address(sv) in ipaddress.ip_network(st, strict=False)
            except ValueError:
                return False
        return False


class ExceptionSpec(BaseModel):
    """What an exception says (the stored document adds id, timestamps and hit counts)."""

    model_config = ConfigDict(extra="forbid")

    scope: Literal["global", "unit", "rule"]
    organization_id: str | None = None
    rule_id: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    reason: str = Field(..., min_length=1)
    owner: str = Field(..., min_length=1)
    expires: dt.datetime | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _scope(self) -> ExceptionSpec:
        if self.scope == "unit" and not self.organization_id:
            raise ValueError("scope unit needs organization_id")
        if self.scope == "rule" and not self.rule_id:
            raise ValueError("scope rule needs rule_id")
        if self.scope == "global" and not self.conditions:
            raise ValueError("a global exception needs at least one condition")
        if self.expires is not None and self.expires.tzinfo is None:
            self.expires = self.expires.replace(tzinfo=dt.UTC)
        return self

    # -------------------------------------------------------------- matching

    def active(self, now: dt.datetime) -> bool:
        return self.enabled and (self.expires is None or now < self.expires)

    def in_scope(self, rule_id: str, unit: str | None) -> bool:
        if self.scope == "rule" and rule_id != self.rule_id:
            return False
        return not (self.organization_id and unit != self.organization_id)

    def matches_subjects(self, subjects: list[dict[str, Any]], overrides: dict[str, Any]) -> bool:
        """True when every subject (event) satisfies every condition."""
        if not self.conditions:
            return True
        if not subjects:
            subjects = [{}]
        for s in subjects:
            for c in self.conditions:
                v = overrides[c.field] if c.field in overrides else model.get_path(s, c.field)
                if not c.matches(v):
                    return False
        return True

    def matches_detection(self, d: Detection, now: dt.datetime) -> bool:
        if not self.active(now):
            return False
        unit = _unit_of(d)
        if not self.in_scope(d.rule_id, unit):
            return False
        return self.matches_subjects([m.event for m in d.events], d.group_by)

    # -------------------------------------------------------------- storage

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "scope": self.scope,
            "rule_id": self.rule_id,
            "organization": {"id": self.organization_id} if self.organization_id else None,
            "conditions": [c.model_dump() for c in self.conditions],
            "reason": self.reason,
            "owner": self.owner,
            "expires": model.iso(self.expires) if self.expires else None,
            "enabled": self.enabled,
        }
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ExceptionSpec:
        org = doc.get("organization") or {}
        return cls(
            scope=doc["scope"],
            organization_id=org.get("id") if isinstance(org, dict) else None,
            rule_id=doc.get("rule_id"),
            conditions=doc.get("conditions") or [],
            reason=doc.get("reason") or "",
            owner=doc.get("owner") or "",
            expires=doc.get("expires"),
            enabled=doc.get("enabled", True),
        )


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list | tuple | set) else [v]


def _unit_of(d: Detection) -> str | None:
    v = d.group_by.get("organization.id")
    if v:
        return str(v)
    for m in d.events:
        u = model.get_path(m.event, "organization.id")
        if u:
            return str(u)
    return None


def parse_spec(data: dict[str, Any] | ExceptionSpec) -> ExceptionSpec:
    """Validate user input (dict with the ExceptionSpec fields) or raise InvalidException."""
    if isinstance(data, ExceptionSpec):
        return data
    try:
        return ExceptionSpec.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in e.errors()
        )
        raise InvalidException(problems) from None


# ------------------------------------------------------------------ CRUD


def create(
    client: Elasticsearch,
    names: IndexNames,
    data: dict[str, Any] | ExceptionSpec,
    actor: str,
    exception_id: str | None = None,
    refresh: bool | str = "wait_for",
) -> dict[str, Any]:
    """Save a new exception; returns the stored document with ``id``."""
    spec = parse_spec(data)
    now = model.iso(model.utcnow())
    doc = spec.to_doc()
    doc.update({"@timestamp": now, "updated": now, "created_by": actor, "hits": 0})
    eid = exception_id or uuid.uuid4().hex
    try:
        client.create(index=names.exceptions, id=eid, document=doc, refresh=refresh)
    except ConflictError:
        raise InvalidException(f"exception {eid} already exists") from None
    doc["id"] = eid
    return doc


def get(client: Elasticsearch, names: IndexNames, exception_id: str) -> dict[str, Any]:
    doc = read_document(client, names.exceptions, exception_id)
    if doc is None:
        raise ExceptionNotFound(exception_id)
    return doc


def update(
    client: Elasticsearch,
    names: IndexNames,
    exception_id: str,
    changes: dict[str, Any],
    actor: str,
    refresh: bool | str = "wait_for",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change fields of an exception (ExceptionSpec field names); returns (before, after)."""

    def apply(doc: dict[str, Any]) -> None:
        current = ExceptionSpec.from_doc(doc).model_dump()
        current.update(changes)
        doc.update(parse_spec(current).to_doc())
        doc["updated"] = model.iso(model.utcnow())
        doc["updated_by"] = actor

    try:
        before, after = update_document(client, names.exceptions, exception_id, apply, refresh)
    except NotFoundError:
        raise ExceptionNotFound(exception_id) from None
    except UpdateConflict:
        raise ConcurrentUpdate(exception_id) from None
    before["id"] = after["id"] = exception_id
    return before, after


def delete(
    client: Elasticsearch, names: IndexNames, exception_id: str, refresh: bool | str = "wait_for"
) -> dict[str, Any]:
    """Delete an exception; returns what it was."""
    doc = get(client, names, exception_id)
    try:
        client.delete(index=names.exceptions, id=exception_id, refresh=refresh)
    except NotFoundError:
        raise ExceptionNotFound(exception_id) from None
    return doc


def list_exceptions(
    client: Elasticsearch,
    names: IndexNames,
    include_expired: bool = True,
    size: int = 1000,
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"match_all": {}}
    if not include_expired:
        now = model.iso(model.utcnow())
        query = {
            "bool": {
                "filter": [{"term": {"enabled": True}}],
                "should": [
                    {"bool": {"must_not": {"exists": {"field": "expires"}}}},
                    {"range": {"expires": {"gt": now}}},
                ],
                "minimum_should_match": 1,
            }
        }
    resp = client.search(
        index=names.exceptions, query=query, size=size, sort=[{"@timestamp": "desc"}]
    )
    out = []
    for hit in resp["hits"]["hits"]:
        doc = dict(hit["_source"])
        doc["id"] = hit["_id"]
        out.append(doc)
    return out


def load_active(
    client: Elasticsearch, names: IndexNames, now: dt.datetime | None = None
) -> list[tuple[str, ExceptionSpec]]:
    """Enabled, unexpired exceptions as (id, spec); invalid stored ones are logged, skipped."""
    now = now or model.utcnow()
    out = []
    for doc in list_exceptions(client, names, include_expired=True, size=10_000):
        try:
            spec = ExceptionSpec.from_doc(doc)
        except (ValidationError, KeyError) as e:
            log.warning(
                "stored exception is invalid; ignored",
                extra={"exception_id": doc.get("id"), "reason": str(e)[:500]},
            )
            continue
        if spec.active(now):
            out.append((doc["id"], spec))
    return out


# ------------------------------------------------------------------ preview


def _alert_subjects(alert: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    samples = [e for e in alert.get("events") or [] if isinstance(e, dict)]
    return samples, {}


def alert_matches(spec: ExceptionSpec, alert: dict[str, Any]) -> bool:
    """Would ``spec`` (ignoring expiry) have suppressed this alert's detections?"""
    rule_id = (alert.get("rule") or {}).get("id", "")
    unit = (alert.get("organization") or {}).get("id")
    if not spec.in_scope(rule_id, unit):
        return False
    samples, overrides = _alert_subjects(alert)
    if samples:
        return spec.matches_subjects(samples, overrides)
    return spec.matches_subjects([alert], overrides)


def preview_details(
    client: Elasticsearch,
    names: IndexNames,
    data: dict[str, Any] | ExceptionSpec,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    """Past alerts (detection alerts, any status) the exception would have suppressed:
    ``{"alerts": n, "events": sum of their event_count, "examined": m, "sample_ids": [...]}``."""
    spec = parse_spec(data)
    filters: list[dict[str, Any]] = [{"term": {"kind": model.KIND_DETECTION}}]
    if spec.rule_id and spec.scope == "rule":
        filters.append({"term": {"rule.id": spec.rule_id}})
    if spec.organization_id:
        filters.append({"term": {"organization.id": spec.organization_id}})
    if since is not None:
        filters.append({"range": {"last_seen": {"gte": model.iso(since)}}})
    matched = events = examined = 0
    sample_ids: list[str] = []
    for hit in _scan(client, names.alerts, {"bool": {"filter": filters}}):
        examined += 1
        alert = hit["_source"]
        if alert_matches(spec, alert):
            matched += 1
            events += int(alert.get("event_count", 0) or 0)
            if len(sample_ids) < 20:
                sample_ids.append(hit["_id"])
    return {"alerts": matched, "events": events, "examined": examined, "sample_ids": sample_ids}


def preview(
    client: Elasticsearch,
    names: IndexNames,
    data: dict[str, Any] | ExceptionSpec,
    since: dt.datetime | None = None,
) -> int:
    """How many past alerts the exception would have suppressed."""
    return int(preview_details(client, names, data, since)["alerts"])


def _scan(
    client: Elasticsearch, index: str, query: dict[str, Any], page: int = 500
) -> Iterable[dict[str, Any]]:
    """Every hit of ``query``, paged with a point in time and search_after."""
    try:
        pit = client.open_point_in_time(index=index, keep_alive="1m")["id"]
    except NotFoundError:
        return
    after: list[Any] | None = None
    try:
        while True:
            kw: dict[str, Any] = {}
            if after is not None:
                kw["search_after"] = after
            resp = client.search(
                query=query,
                size=page,
                sort=[{"_shard_doc": "asc"}],
                pit={"id": pit, "keep_alive": "1m"},
                **kw,
            )
            pit = resp.get("pit_id", pit)
            hits = resp["hits"]["hits"]
            yield from hits
            if len(hits) < page:
                return
            after = hits[-1]["sort"]
    finally:
        try:
            client.close_point_in_time(id=pit)
        except Exception:
            log.debug("point in time already closed", extra={"index": index})


# ------------------------------------------------------------------ suppression records


def suppressed(
    client: Elasticsearch, names: IndexNames, exception_id: str, size: int = 100
) -> dict[str, Any]:
    """What an exception suppressed: total detections and the latest records."""
    resp = client.search(
        index=names.state,
        query={
            "bool": {
                "filter": [
                    {"term": {"kind": "alert_suppressed"}},
                    {"term": {"exception_id": exception_id}},
                ]
            }
        },
        size=size,
        sort=[{"@timestamp": "desc"}],
        track_total_hits=True,
    )
    return {
        "total": resp["hits"]["total"]["value"],
        "records": [h["_source"] for h in resp["hits"]["hits"]],
    }
