"""Operational alerts: silent sources and SLA breaches, plus the open-alerts gauge.

**Silent source**: for each ``alerting.silent_sources`` rule, a terms aggregation over the
events indices (``<prefix>-events-*``, last ``lookback`` seconds) gives each source's latest
``@timestamp``; a source (or an ``expected`` one never seen) silent for longer than its
``threshold`` gets an alert (kind ``silent_source``, rule ``socmon-silent-source``, one per
field=value, notification ``silent``). When data returns, the alert resolves itself
(history: ``auto_resolve`` by ``system``; notification ``recovered``); a later silence starts a
new generation.

**SLA breach**: an alert still ``open`` past ``sla_due`` is marked ``sla_breached`` (history
``sla_breach``) and escalated once through the routes (notification ``sla_breach``). Leaving
``open`` (acknowledging it) clears the breach from the ``socmon_alerting_sla_breached_alerts``
gauge; reopening restarts the SLA.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from elasticsearch import ConflictError, NotFoundError

from socmon.alerting import lifecycle, metrics, model
from socmon.alerting.errors import AlertNotFound
from socmon.alerting.notify.message import RECOVERED, SILENT, SLA_BREACH
from socmon.alerting.writer import SYSTEM, AlertWriter
from socmon.settings.alerting import SilentSourceRule

log = logging.getLogger(__name__)


class OperationalChecks(AlertWriter):
    def _post_init(self) -> None:
        self._gauge_labels: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ silent sources

    def last_seen_by_source(self, rule: SilentSourceRule) -> dict[str, tuple[dt.datetime, str]]:
        """value -> (latest @timestamp, organization.id of that source)."""
        now = self.clock()
        since = now - dt.timedelta(seconds=rule.lookback)
        resp = self.client.search(
            index=self.names.events_pattern,
            size=0,
            query={"range": {"@timestamp": {"gte": model.iso(since)}}},
            aggs={
                "src": {
                    "terms": {"field": rule.field, "size": 10_000},
                    "aggs": {
                        "last": {"max": {"field": "@timestamp"}},
                        "unit": {"terms": {"field": "organization.id", "size": 1}},
                    },
                }
            },
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        out: dict[str, tuple[dt.datetime, str]] = {}
        for b in (resp.get("aggregations") or {}).get("src", {}).get("buckets", []):
            last = model.parse_ts(b["last"].get("value_as_string"))
            units = b.get("unit", {}).get("buckets", [])
            if last is not None:
                out[str(b["key"])] = (last, str(units[0]["key"]) if units else "")
        return out

    def check_silent_sources(self) -> dict[str, list[str]]:
        """Raise/clear silent-source alerts; returns {"silent": [...], "recovered": [...]}."""
        now = self.clock()
        result: dict[str, list[str]] = {"silent": [], "recovered": []}
        for rule in self.settings.silent_sources:
            try:
                seen = self.last_seen_by_source(rule)
            except Exception:
                log.exception("silent-source query failed", extra={"field": rule.field})
                continue
            values = set(seen) | set(rule.expected)
            values |= self._open_silent_values(rule.field)
            silent = 0
            for value in sorted(values):
                last, unit = seen.get(value, (None, ""))
                is_silent = last is None or (now - last).total_seconds() > rule.threshold
                if is_silent:
                    silent += 1
                    if self._raise_silent(rule, value, last, unit or value, now):
                        result["silent"].append(f"{rule.field}={value}")
                elif self._clear_silent(rule, value, last, now):
                    result["recovered"].append(f"{rule.field}={value}")
            metrics.SILENT_SOURCES.labels(rule.field).set(silent)
        return result

    def _open_silent_values(self, field: str) -> set[str]:
        """Values with an active silent-source alert (they may have left the lookback)."""
        try:
            resp = self.client.search(
                index=self.names.alerts,
                size=1000,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"kind": model.KIND_SILENT_SOURCE}},
                            {"term": {"silent_source.field": field}},
                            {"terms": {"status": sorted(model.ACTIVE_STATUSES)}},
                        ]
                    }
                },
                source_includes=["silent_source.value"],
            )
        except NotFoundError:
            return set()
        return {
            str(h["_source"]["silent_source"]["value"])
            for h in resp["hits"]["hits"]
            if (h["_source"].get("silent_source") or {}).get("value") is not None
        }

    def _head(self, key: str) -> tuple[int, str, tuple[int, int] | None]:
        hid = model.head_id(model.SILENT_SOURCE_RULE_ID, key)
        try:
            got = self.client.get(index=self.names.state, id=hid)
        except NotFoundError:
            return 0, model.alert_id(model.SILENT_SOURCE_RULE_ID, key, 0), None
        gen = int(got["_source"].get("generation", 0))
        return gen, str(got["_source"]["alert_id"]), (got["_seq_no"], got["_primary_term"])

    def _current(self, key: str) -> tuple[int, str, tuple[int, int] | None, dict[str, Any] | None]:
        gen, aid, seq = self._head(key)
        try:
            doc = lifecycle.get_alert(self.client, self.names, aid)
        except AlertNotFound:
            doc = None
        return gen, aid, seq, doc

    def _raise_silent(
        self,
        rule: SilentSourceRule,
        value: str,
        last: dt.datetime | None,
        unit: str,
        now: dt.datetime,
    ) -> bool:
        key = f"{rule.field}={value}"
        gen, aid, seq, doc = self._current(key)
        if doc is not None and doc.get("status") in model.ACTIVE_STATUSES:
            return False
        if doc is not None:  # the previous silence was resolved: a new generation
            gen += 1
            aid = model.alert_id(model.SILENT_SOURCE_RULE_ID, key, gen)
        head = {
            "@timestamp": model.iso(now),
            "kind": "alert_head",
            "rule_id": model.SILENT_SOURCE_RULE_ID,
            "group_key": key,
            "generation": gen,
            "alert_id": aid,
        }
        hid = model.head_id(model.SILENT_SOURCE_RULE_ID, key)
        if seq is None:
            self.client.index(index=self.names.state, id=hid, document=head)
        else:
            self.client.index(
                index=self.names.state,
                id=hid,
                document=head,
                if_seq_no=seq[0],
                if_primary_term=seq[1],
            )
        stamp = model.iso(now)
        severity = rule.severity
        name = f"Silent source: {key}"
        alert: dict[str, Any] = {
            "id": aid,
            "kind": model.KIND_SILENT_SOURCE,
            "@timestamp": stamp,
            "created": stamp,
            "updated": stamp,
            "message": name,
            "rule": {
                "id": model.SILENT_SOURCE_RULE_ID,
                "name": name,
                "level": severity,
                "status": "stable",
                "tags": [],
                "description": f"No events with {rule.field}={value} for more than "
                f"{int(rule.threshold)} s.",
            },
            "severity": severity,
            "risk_score": self.settings.risk_score(severity),
            "organization": {"id": unit or model.NO_UNIT, "name": None},
            "silent_source": {
                "field": rule.field,
                "value": value,
                "last_event": model.iso(last) if last else None,
                "threshold": rule.threshold,
            },
            "group_key": key,
            "group": [{"field": rule.field, "value": value}],
            "generation": gen,
            **self._open_state(
                now, dt.timedelta(seconds=self.settings.sla_seconds(severity)), stamp
            ),
        }
        try:
            self.client.create(index=self.names.alerts, id=aid, document=alert)
        except ConflictError:
            return False  # raised concurrently
        metrics.CREATED.labels(severity, alert["organization"]["id"]).inc()
        log.warning("silent source", extra={"source": key, "last_event": alert["silent_source"]})
        self._emit(SILENT, alert)
        return True

    def _clear_silent(
        self, rule: SilentSourceRule, value: str, last: dt.datetime | None, now: dt.datetime
    ) -> bool:
        key = f"{rule.field}={value}"
        _gen, aid, _seq, doc = self._current(key)
        if doc is None or doc.get("status") not in model.ACTIVE_STATUSES:
            return False

        def mutate(d: dict[str, Any]) -> None:
            if d.get("status") not in model.ACTIVE_STATUSES:
                raise _AlreadyClosed
            prev = d["status"]
            d["status"] = model.RESOLVED
            d["resolved_at"] = model.iso(now)
            d["last_seen"] = model.iso(now)
            d.setdefault("silent_source", {})["recovered_at"] = model.iso(last or now)
            d.setdefault("history", []).append(
                model.history_entry(
                    SYSTEM, "auto_resolve", "status", prev, model.RESOLVED, "data returned", now
                )
            )

        try:
            _before, after = lifecycle.update_alert(self.client, self.names, aid, mutate)
        except (_AlreadyClosed, AlertNotFound):
            return False
        log.info("silent source sends again", extra={"source": key})
        self._emit(RECOVERED, after)
        return True

    # ------------------------------------------------------------------ SLA

    def check_sla(self) -> list[str]:
        """Escalate open alerts past their due time; returns the ids escalated now."""
        now = self.clock()
        try:
            resp = self.client.search(
                index=self.names.alerts,
                size=500,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"status": model.OPEN}},
                            {"range": {"sla_due": {"lt": model.iso(now)}}},
                        ],
                        "must_not": [{"term": {"sla_breached": True}}],
                    }
                },
                sort=[{"sla_due": "asc"}],
                source=False,
            )
        except NotFoundError:
            return []
        escalated = []
        for hit in resp["hits"]["hits"]:

            def mutate(d: dict[str, Any]) -> None:
                due = model.parse_ts(d.get("sla_due"))
                if d.get("status") != model.OPEN or d.get("sla_breached") or due is None:
                    raise _AlreadyClosed
                if due >= now:
                    raise _AlreadyClosed
                d["sla_breached"] = True
                d["sla_breached_at"] = model.iso(now)
                d.setdefault("history", []).append(
                    model.history_entry(
                        SYSTEM, "sla_breach", "sla_breached", False, True, "SLA due passed", now
                    )
                )

            try:
                _before, after = lifecycle.update_alert(self.client, self.names, hit["_id"], mutate)
            except (_AlreadyClosed, AlertNotFound):
                continue
            metrics.SLA_ESCALATIONS.labels(str(after.get("severity", ""))).inc()
            log.warning(
                "alert past its SLA: escalating",
                extra={"alert_id": hit["_id"], "sla_due": after.get("sla_due")},
            )
            self._emit(SLA_BREACH, after)
            escalated.append(hit["_id"])
        return escalated

    # ------------------------------------------------------------------ gauges

    def update_gauges(self) -> None:
        try:
            resp = self.client.search(
                index=self.names.alerts,
                size=0,
                query={"terms": {"status": sorted(model.ACTIVE_STATUSES)}},
                aggs={
                    "st": {
                        "terms": {"field": "status", "size": 10},
                        "aggs": {"sev": {"terms": {"field": "severity", "size": 10}}},
                    },
                    "breached": {
                        "filter": {
                            "bool": {
                                "filter": [
                                    {"term": {"status": model.OPEN}},
                                    {"term": {"sla_breached": True}},
                                ]
                            }
                        }
                    },
                },
            )
        except NotFoundError:
            return
        seen: set[tuple[str, str]] = set()
        for st in resp["aggregations"]["st"]["buckets"]:
            for sev in st["sev"]["buckets"]:
                labels = (str(st["key"]), str(sev["key"]))
                metrics.OPEN_ALERTS.labels(*labels).set(sev["doc_count"])
                seen.add(labels)
        for labels in self._gauge_labels - seen:
            metrics.OPEN_ALERTS.labels(*labels).set(0)
        self._gauge_labels = seen
        metrics.SLA_BREACHED.set(resp["aggregations"]["breached"]["doc_count"])


class _AlreadyClosed(Exception):
    """Nothing to do: the alert changed state meanwhile."""
