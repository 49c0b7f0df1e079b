"""Detections -> grouped alerts: one alert per rule and group key within a window.

How a batch of detections is applied (every step is idempotent, so a crash anywhere followed by
a replay of the same detections converges to the same alerts and counts):

1. Exceptions: suppressed detections are recorded (deterministic suppression records in the
   state index, counted on the exception) and not alerted.
2. Each detection gets its group key (``organization.id`` + the rule's group-by fields).
3. Markers: for each matched event, the state document
   ``marker_id(rule, group key, event id)`` says "this event was counted, in alert X". A
   realtime multi-get of the batch's markers separates new events from replayed ones.
   Replayed events change nothing; their alerts are *reconciled* (counts recomputed from the
   markers), which also repairs a crash between writing markers and writing the alert.
4. New events pick their alert: the current generation of (rule, group key) from its head
   document; a new generation is started when there is none, when the match comes more than
   the window after ``last_seen``, when the alert is a false positive, or when it was resolved
   more than ``reopen_within`` ago. A resolved alert matched sooner is reopened (history kept).
5. Writes, in this order: the notifications of new/reopened alerts to the outbox, heads,
   markers (``create``), alerts (optimistic concurrency: ``if_seq_no``/``if_primary_term``;
   a conflict means a reconcile from the markers).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import ConflictError, NotFoundError

from socmon.alerting import exceptions as exc_mod
from socmon.alerting import metrics, model
from socmon.alerting.notify.message import NEW, REOPENED
from socmon.alerting.writer import SYSTEM, AlertWriter
from socmon.ids import doc_id
from socmon.rules.detection import Detection, MatchedEvent

log = logging.getLogger(__name__)

TACTIC_IDS = {
    "reconnaissance": "TA0043",
    "resource_development": "TA0042",
    "initial_access": "TA0001",
    "execution": "TA0002",
    "persistence": "TA0003",
    "privilege_escalation": "TA0004",
    "defense_evasion": "TA0005",
    "credential_access": "TA0006",
    "discovery": "TA0007",
    "lateral_movement": "TA0008",
    "collection": "TA0009",
    "exfiltration": "TA0010",
    "command_and_control": "TA0011",
    "impact": "TA0040",
}

ENTITY_FIELDS = ("host.name", "user.name", "source.ip", "destination.ip")
MAX_SAMPLE_BYTES = 16_384
_HEAD_RETRIES = 5
_Doc = tuple[dict[str, Any], tuple[int, int]]  # source, (seq_no, primary_term)


@dataclass(slots=True)
class HandleResult:
    """What happened to one detection."""

    action: str  # created | updated | reopened | duplicate | suppressed | invalid
    alert_id: str | None = None
    new_events: int = 0
    exception_id: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Prepared:
    index: int
    d: Detection
    det_id: str
    t: dt.datetime
    severity: str
    unit: str
    unit_name: str | None
    fields: list[str]
    values: dict[str, str]
    key: str


@dataclass(slots=True)
class _Working:
    """An alert being changed in this batch."""

    alert_id: str
    doc: dict[str, Any]
    seq: tuple[int, int] | None  # (seq_no, primary_term) when read; None: to be created
    new_events: int = 0
    notify: str | None = None  # NEW | REOPENED
    latencies: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Head:
    generation: int
    alert_id: str
    seq: tuple[int, int] | None
    dirty: bool = False


class AlertManager(AlertWriter):
    """Turns detections into grouped alerts in ``names.alerts``.

    ``handle`` / ``handle_many`` are synchronous (they return once Elasticsearch has the
    result); ``socmon run`` calls them from a queue worker (alerting.services) so detection
    never waits for Elasticsearch.
    """

    def _post_init(self) -> None:
        self._exceptions: list[tuple[str, exc_mod.ExceptionSpec]] = []
        self._exceptions_loaded = 0.0
        self._lock = threading.Lock()  # one batch at a time per manager

    # ------------------------------------------------------------------ public

    def handle(self, detection: Detection) -> HandleResult:
        return self.handle_many([detection])[0]

    def handle_many(self, detections: list[Detection]) -> list[HandleResult]:
        with self._lock:
            return self._handle_many(detections)

    def reload_exceptions(self) -> None:
        """Reload exceptions now (also done every ``exceptions_refresh`` seconds)."""
        self._exceptions = exc_mod.load_active(self.client, self.names, self.clock())
        self._exceptions_loaded = time.monotonic()

    # ------------------------------------------------------------------ batch

    def _handle_many(self, detections: list[Detection]) -> list[HandleResult]:
        now = self.clock()
        if time.monotonic() - self._exceptions_loaded > self.settings.exceptions_refresh:
            self.reload_exceptions()
        results: list[HandleResult | None] = [None] * len(detections)
        prepared: list[_Prepared] = []
        suppressed: list[tuple[_Prepared, str]] = []
        for i, d in enumerate(detections):
            p = self._prepare(i, d, now)
            if isinstance(p, HandleResult):
                results[i] = p
                continue
            eid = self._exception_for(d, now)
            if eid is not None:
                suppressed.append((p, eid))
                results[i] = HandleResult("suppressed", exception_id=eid)
            else:
                prepared.append(p)
        if suppressed:
            self._record_suppressed(suppressed, now)
        if prepared:
            applied = None
            for attempt in range(_HEAD_RETRIES):
                try:
                    applied = self._apply(prepared, now)
                    break
                except _HeadConflict:
                    # Another writer started a generation of one of these groups first;
                    # nothing of this batch is written yet: decide again from fresh state.
                    log.info("alert head changed concurrently; retrying the batch")
                    time.sleep(0.01 * (attempt + 1))
            if applied is None:
                raise RuntimeError("alert heads kept changing concurrently; batch not applied")
            for p, r in zip(prepared, applied, strict=True):
                results[p.index] = r
        return [r if r is not None else HandleResult("invalid") for r in results]

    # ------------------------------------------------------------------ preparation

    def _prepare(self, i: int, d: Detection, now: dt.datetime) -> _Prepared | HandleResult:
        if not isinstance(d, Detection) or not d.rule_id:
            metrics.BAD_DETECTIONS.labels("no_rule_id").inc()
            log.warning(
                "detection without rule id; not alerted", extra={"detection": repr(d)[:500]}
            )
            return HandleResult("invalid", reason="no rule id")
        t = model.parse_ts(d.timestamp)
        if t is None:
            metrics.BAD_DETECTIONS.labels("bad_timestamp").inc()
            times = [model.parse_ts(model.get_path(m.event, "@timestamp")) for m in d.events]
            good = [x for x in times if x is not None]
            t = max(good) if good else now
            log.warning(
                "detection timestamp unparseable; using its latest event's (or now)",
                extra={"rule_id": d.rule_id, "timestamp": str(d.timestamp)[:100], "used": str(t)},
            )
        det_id = d.id or doc_id("detection", d.rule_id, *[m.id for m in d.events])
        if any(not m.id for m in d.events):  # ids are the dedup key: derive from content
            metrics.BAD_DETECTIONS.labels("no_event_id").inc()
            log.warning(
                "matched event without id; id derived from its content",
                extra={"rule_id": d.rule_id, "detection_id": det_id},
            )
            d = dataclasses.replace(
                d,
                events=[
                    m
                    if m.id
                    else MatchedEvent(
                        doc_id(
                            "event", orjson.dumps(m.event, default=str, option=orjson.OPT_SORT_KEYS)
                        ),
                        m.index,
                        m.event,
                    )
                    for m in d.events
                ],
            )
        if not d.events:  # aggregate-only detection: the detection itself is the one "event"
            d = dataclasses.replace(
                d, events=[MatchedEvent(f"detection:{det_id}", None, {"@timestamp": d.timestamp})]
            )
        severity = self._severity(d)
        unit, unit_name = self._unit(d)
        fields = self._group_fields(d)
        values = {f: self._value(d, f) for f in fields}
        key = "|".join([f"organization.id={unit}"] + [f"{f}={values[f]}" for f in fields])
        return _Prepared(i, d, det_id, t, severity, unit, unit_name, fields, values, key)

    def _severity(self, d: Detection) -> str:
        s = self.settings.severity_overrides.get(d.rule_id) or d.custom.get("severity")
        if isinstance(s, str) and s.lower() in model.SEVERITY_RANK:
            return s.lower()
        level = model.normalise_level(d.level)
        if level != (d.level or "").lower():
            metrics.BAD_DETECTIONS.labels("unknown_level").inc()
        return level

    def _unit(self, d: Detection) -> tuple[str, str | None]:
        uid = d.group_by.get("organization.id")
        name = d.group_by.get("organization.name")
        for m in d.events:
            if uid is None:
                uid = model.get_path(m.event, "organization.id")
            if name is None:
                name = model.get_path(m.event, "organization.name")
            if uid is not None and name is not None:
                break
        return (str(uid) if uid not in (None, "") else model.NO_UNIT), (str(name) if name else None)

    def _group_fields(self, d: Detection) -> list[str]:
        fields: Any = self.settings.rule_group_by.get(d.rule_id)
        if fields is None:
            fields = d.custom.get("group_by") or d.custom.get("socmon_group_by")
            if isinstance(fields, str):
                fields = [f.strip() for f in fields.split(",") if f.strip()]
        if not fields and d.group_by:
            fields = [f for f in d.group_by if f not in ("organization.id", "organization.name")]
        if not fields:
            fields = self.settings.group_by
        return [str(f) for f in fields if f != "organization.id"]

    @staticmethod
    def _value(d: Detection, f: str) -> str:
        v = d.group_by.get(f)
        if v is None:
            for m in d.events:
                v = model.get_path(m.event, f)
                if v is not None:
                    break
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        return "" if v is None else str(v)

    def _exception_for(self, d: Detection, now: dt.datetime) -> str | None:
        for eid, spec in self._exceptions:
            try:
                if spec.matches_detection(d, now):
                    return eid
            except Exception:
                log.exception("exception evaluation failed", extra={"exception_id": eid})
        return None

    # ------------------------------------------------------------------ suppression

    def _record_suppressed(self, items: list[tuple[_Prepared, str]], now: dt.datetime) -> None:
        ops: list[dict[str, Any]] = []
        for p, eid in items:
            ops.append(
                {"create": {"_index": self.names.state, "_id": doc_id("supp", eid, p.det_id)}}
            )
            ops.append(
                {
                    "@timestamp": model.iso(now),
                    "kind": "alert_suppressed",
                    "exception_id": eid,
                    "detection_id": p.det_id,
                    "rule_id": p.d.rule_id,
                    "rule_title": p.d.rule_title,
                    "severity": p.severity,
                    "organization_id": p.unit,
                    "group_key": p.key,
                    "event_ids": [m.id for m in p.d.events][:20],
                    "event_count": len(p.d.events),
                    "detection_timestamp": p.d.timestamp,
                }
            )
        resp = self.client.bulk(operations=ops)
        new_by_exc: dict[str, int] = {}
        for (p, eid), item in zip(items, resp["items"], strict=True):
            status = item["create"]["status"]
            if status == 201:
                new_by_exc[eid] = new_by_exc.get(eid, 0) + 1
                metrics.SUPPRESSED.labels(p.severity, p.unit).inc()
            elif status != 409:
                raise RuntimeError(f"suppression record not written: {item['create']}")
        for eid, n in new_by_exc.items():
            self._bump_exception(eid, n, now)

    def _bump_exception(self, eid: str, n: int, now: dt.datetime) -> None:
        for _ in range(5):
            try:
                resp = self.client.get(index=self.names.exceptions, id=eid)
            except NotFoundError:
                return
            doc = dict(resp["_source"])
            doc["hits"] = int(doc.get("hits", 0) or 0) + n
            doc["last_hit"] = model.iso(now)
            try:
                self.client.index(
                    index=self.names.exceptions,
                    id=eid,
                    document=doc,
                    if_seq_no=resp["_seq_no"],
                    if_primary_term=resp["_primary_term"],
                )
                return
            except ConflictError:
                continue
        log.warning("exception hit count not updated (conflicts)", extra={"exception_id": eid})

    # ------------------------------------------------------------------ grouping

    def _apply(self, prepared: list[_Prepared], now: dt.datetime) -> list[HandleResult]:
        results: dict[int, HandleResult] = {}
        # 1. markers: which events are new?
        marker_ids: dict[str, tuple[_Prepared, Any]] = {}
        for p in prepared:
            for m in p.d.events:
                mid = model.marker_id(p.d.rule_id, p.key, m.id)
                marker_ids.setdefault(mid, (p, m))
        existing = self._mget(self.names.state, list(marker_ids))
        reconcile: set[str] = set()
        for src, _seq in existing.values():
            if src.get("alert_id"):
                reconcile.add(src["alert_id"])
        if existing:
            metrics.DUPLICATE_EVENTS.inc(len(existing))
        # 2. heads and current alerts of the groups
        keys = sorted({(p.d.rule_id, p.key) for p in prepared})
        heads = self._load_heads(keys)
        alerts = self._load_alerts([h.alert_id for h in heads.values()])
        working: dict[str, _Working] = {}
        markers_to_write: list[tuple[str, dict[str, Any]]] = []
        seen_in_batch: set[str] = set()
        dup_templates: dict[str, tuple[_Prepared, int]] = {}
        for p in sorted(prepared, key=lambda x: (x.t, x.index)):
            new = []
            dup_alert: str | None = None
            dup_gen = 0
            for m in p.d.events:
                mid = model.marker_id(p.d.rule_id, p.key, m.id)
                if mid in existing:
                    src = existing[mid][0]
                    if dup_alert is None:
                        dup_alert, dup_gen = src.get("alert_id"), int(src.get("generation", 0))
                    continue
                if mid in seen_in_batch:
                    continue
                seen_in_batch.add(mid)
                new.append((mid, m))
            if not new:
                results[p.index] = HandleResult("duplicate", alert_id=dup_alert)
                if dup_alert and dup_alert not in dup_templates:
                    dup_templates[dup_alert] = (p, dup_gen)
                continue
            head = heads[(p.d.rule_id, p.key)]
            w = self._target(p, head, alerts, working, now)
            self._add_events(w, p, new, now)
            for mid, m in new:
                markers_to_write.append(
                    (mid, self._marker(w.alert_id, int(w.doc.get("generation", 0)), p, m, now))
                )
            action = "updated"
            if w.notify == NEW and w.new_events == len(new):
                action = "created"
            elif w.notify == REOPENED:
                action = "reopened"
            results[p.index] = HandleResult(action, alert_id=w.alert_id, new_events=len(new))
        # 3. writes: notifications (outbox: a crash after the markers must not lose them, the
        # replay would find the markers and not notify again), heads, markers, alerts
        self._persist_ahead([(w.notify, w.doc) for w in working.values() if w.notify])
        self._write_heads(heads)
        raced = self._write_markers(markers_to_write)
        for aid in raced:
            reconcile.add(aid)
        to_write = [w for w in working.values() if w.alert_id not in raced]
        conflicts = self._write_alerts(to_write)
        for w in to_write:
            if w.alert_id in conflicts:
                reconcile.add(w.alert_id)
            else:
                self._after_write(w)
        for aid in reconcile:
            template = working[aid].doc if aid in working else None
            if template is None and aid in dup_templates:
                tp, gen = dup_templates[aid]
                template = self._new_doc(tp, gen, now)
                template["event_refs"] = [{"id": m.id, "index": m.index} for m in tp.d.events][
                    : self.settings.max_event_refs
                ]
                template["events"] = [_sample(m.event) for m in tp.d.events][
                    : self.settings.max_samples
                ]
            self.reconcile(aid, template)
            if aid in working and aid in raced:
                self._after_write(working[aid])
        return [results[p.index] for p in prepared]

    def _target(
        self,
        p: _Prepared,
        head: _Head,
        alerts: dict[str, _Doc],
        working: dict[str, _Working],
        now: dt.datetime,
    ) -> _Working:
        """The alert this detection's new events go to (created or reopened as needed)."""
        w = working.get(head.alert_id)
        if w is None and head.alert_id in alerts:
            doc, seq = alerts[head.alert_id]
            w = _Working(head.alert_id, doc, seq)  # freshly parsed: ours to change
            working[head.alert_id] = w
        if w is not None:
            decision = self._decide(w.doc, p, now)
            if decision == "append":
                return w
            if decision == "reopen":
                self._reopen(w, now)
                return w
            head.generation += 1
            head.alert_id = model.alert_id(p.d.rule_id, p.key, head.generation)
            head.dirty = True
        elif head.seq is None and not head.dirty:
            head.dirty = True  # first alert of this group: write its head
        w = _Working(head.alert_id, self._new_doc(p, head.generation, now), None, notify=NEW)
        working[head.alert_id] = w
        return w

    def _decide(self, doc: dict[str, Any], p: _Prepared, now: dt.datetime) -> str:
        status = doc.get("status", model.OPEN)
        window = self.settings.rule_windows.get(p.d.rule_id, self.settings.window)
        if status in model.ACTIVE_STATUSES:
            last = model.parse_ts(doc.get("last_seen"))
            if last is None or p.t <= last + dt.timedelta(seconds=window):
                return "append"
            return "new"
        if status == model.RESOLVED:
            resolved = model.parse_ts(doc.get("resolved_at"))
            if resolved is not None and now - resolved <= dt.timedelta(
                seconds=self.settings.reopen_within
            ):
                return "reopen"
        return "new"

    def _reopen(self, w: _Working, now: dt.datetime) -> None:
        from socmon.alerting.lifecycle import apply_status

        apply_status(w.doc, model.OPEN, SYSTEM, "matched again", now)
        w.doc["sla_due"] = model.iso(now + self._sla(w.doc.get("severity", "medium")))
        w.doc["sla_breached"] = False
        w.notify = REOPENED

    def _sla(self, severity: str) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.sla_seconds(severity))

    def _new_doc(self, p: _Prepared, generation: int, now: dt.datetime) -> dict[str, Any]:
        d = p.d
        aid = model.alert_id(d.rule_id, p.key, generation)
        stamp = model.iso(now)
        tactics = d.attack_tactics
        risk = d.custom.get("risk_score")
        if not isinstance(risk, int | float):
            risk = self.settings.risk_score(p.severity)
        doc: dict[str, Any] = {
            "id": aid,
            "kind": model.KIND_DETECTION,
            "@timestamp": stamp,
            "created": stamp,
            "updated": stamp,
            "message": d.rule_title,
            "rule": {
                "id": d.rule_id,
                "name": d.rule_title,
                "level": d.level,
                "status": d.status,
                "tags": list(d.tags),
                "description": d.rule_description,
                "references": list(d.references)[:20],
            },
            "threat": {
                "tactic": {
                    "name": tactics,
                    "id": [TACTIC_IDS[t] for t in tactics if t in TACTIC_IDS],
                },
                "technique": {"id": d.attack_techniques},
            },
            "severity": p.severity,
            "risk_score": float(risk),
            "organization": {"id": p.unit, "name": p.unit_name},
            "group_key": p.key,
            "group": [{"field": f, "value": p.values[f]} for f in p.fields],
            "generation": generation,
            "detection_mode": d.mode,
            **self._open_state(now, self._sla(p.severity), None),
        }
        for f in ENTITY_FIELDS:
            v = p.values.get(f) or self._value(d, f)
            if f.endswith(".ip") and v:
                ip = model.valid_ip(v)
                if ip is None:
                    metrics.BAD_DETECTIONS.labels("bad_ip").inc()
                    log.warning(
                        "entity is not an IP address; left out of the alert",
                        extra={"rule_id": d.rule_id, "field": f, "value": v[:100]},
                    )
                v = ip or ""
            if v:
                top, sub = f.split(".", 1)
                doc.setdefault(top, {})[sub] = v
        return doc

    def _add_events(
        self, w: _Working, p: _Prepared, new: list[tuple[str, Any]], now: dt.datetime
    ) -> None:
        doc = w.doc
        times = []
        for _mid, m in new:
            et = model.parse_ts(model.get_path(m.event, "@timestamp")) or p.t
            times.append(et)
            w.latencies.append(max(0.0, (now - et).total_seconds()))
            refs = doc.setdefault("event_refs", [])
            if len(refs) < self.settings.max_event_refs:
                refs.append({"id": m.id, "index": m.index})
            samples = doc.setdefault("events", [])
            if len(samples) < self.settings.max_samples:
                samples.append(_sample(m.event))
        lo = min(times)
        hi = max(times)
        fs, ls = model.parse_ts(doc.get("first_seen")), model.parse_ts(doc.get("last_seen"))
        doc["first_seen"] = model.iso(lo if fs is None else min(fs, lo))
        doc["last_seen"] = model.iso(hi if ls is None else max(ls, hi))
        doc["event_count"] = int(doc.get("event_count", 0) or 0) + len(new)
        w.new_events += len(new)

    def _marker(
        self, alert_id: str, generation: int, p: _Prepared, m: Any, now: dt.datetime
    ) -> dict[str, Any]:
        et = model.parse_ts(model.get_path(m.event, "@timestamp")) or p.t
        return {
            "@timestamp": model.iso(et),
            "kind": "alert_event",
            "alert_id": alert_id,
            "generation": generation,
            "rule_id": p.d.rule_id,
            "group_key": p.key,
            "event_id": m.id,
            "event_index": m.index,
            "detection_id": p.det_id,
            "updated": model.iso(now),
        }

    # ------------------------------------------------------------------ storage

    def _mget(self, index: str, ids: list[str]) -> dict[str, _Doc]:
        out: dict[str, _Doc] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            resp = self.client.mget(index=index, ids=chunk, realtime=True)
            for doc in resp["docs"]:
                if doc.get("found"):
                    out[doc["_id"]] = (doc["_source"], (doc["_seq_no"], doc["_primary_term"]))
        return out

    def _load_heads(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Head]:
        ids = {model.head_id(r, k): (r, k) for r, k in keys}
        got = self._mget(self.names.state, list(ids))
        heads = {}
        for hid, (r, k) in ids.items():
            if hid in got:
                src, seq = got[hid]
                gen = int(src.get("generation", 0))
                heads[(r, k)] = _Head(gen, src.get("alert_id") or model.alert_id(r, k, gen), seq)
            else:
                heads[(r, k)] = _Head(0, model.alert_id(r, k, 0), None)
        return heads

    def _load_alerts(self, ids: list[str]) -> dict[str, _Doc]:
        return self._mget(self.names.alerts, ids)

    def _write_heads(self, heads: dict[tuple[str, str], _Head]) -> None:
        """Write new/advanced heads in one bulk request (create, or index guarded by
        if_seq_no/if_primary_term); any conflict raises _HeadConflict (batch starts over)."""
        ops: list[dict[str, Any]] = []
        for (rule_id, key), h in heads.items():
            if not h.dirty:
                continue
            hid = model.head_id(rule_id, key)
            meta: dict[str, Any] = {"_index": self.names.state, "_id": hid}
            if h.seq is None:
                ops.append({"create": meta})
            else:
                meta.update(if_seq_no=h.seq[0], if_primary_term=h.seq[1])
                ops.append({"index": meta})
            ops.append(
                {
                    "@timestamp": model.iso(self.clock()),
                    "kind": "alert_head",
                    "rule_id": rule_id,
                    "group_key": key,
                    "generation": h.generation,
                    "alert_id": h.alert_id,
                }
            )
        if not ops:
            return
        resp = self.client.bulk(operations=ops)
        if not resp.get("errors"):
            return
        for item in resp["items"]:
            res = next(iter(item.values()))
            if res["status"] == 409:
                raise _HeadConflict(res["_id"])
            if res["status"] >= 300:
                raise RuntimeError(f"alert head not written: {res}")

    def _write_alerts(self, ws: list[_Working]) -> set[str]:
        """Write alerts in bulk under optimistic concurrency; returns the ids that hit a
        conflict (the caller reconciles them)."""
        conflicts: set[str] = set()
        for start in range(0, len(ws), 500):
            chunk = ws[start : start + 500]
            ops: list[dict[str, Any]] = []
            stamp = model.iso(self.clock())
            for w in chunk:
                w.doc["updated"] = stamp
                meta: dict[str, Any] = {"_index": self.names.alerts, "_id": w.alert_id}
                if w.seq is None:
                    ops.append({"create": meta})
                else:
                    meta.update(if_seq_no=w.seq[0], if_primary_term=w.seq[1])
                    ops.append({"index": meta})
                ops.append(w.doc)
            resp = self.client.bulk(operations=ops)
            if not resp.get("errors"):
                continue
            for w, item in zip(chunk, resp["items"], strict=True):
                res = next(iter(item.values()))
                if res["status"] == 409:
                    conflicts.add(w.alert_id)
                elif res["status"] >= 300:
                    raise RuntimeError(f"alert not written: {res}")
        return conflicts

    def _write_markers(self, markers: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """Create the markers; returns alert ids whose markers partly existed (a race)."""
        raced: set[str] = set()
        for start in range(0, len(markers), 2000):
            chunk = markers[start : start + 2000]
            ops: list[dict[str, Any]] = []
            for mid, body in chunk:
                ops.append({"create": {"_index": self.names.state, "_id": mid}})
                ops.append(body)
            resp = self.client.bulk(operations=ops)
            if not resp.get("errors"):
                continue
            for (_mid, body), item in zip(chunk, resp["items"], strict=True):
                status = item["create"]["status"]
                if status == 409:
                    raced.add(body["alert_id"])
                elif status >= 300:
                    raise RuntimeError(f"alert marker not written: {item['create']}")
        return raced

    def _write_alert(self, w: _Working) -> bool:
        """Write the alert; False on a concurrency conflict (the caller reconciles)."""
        w.doc["updated"] = model.iso(self.clock())
        try:
            if w.seq is None:
                self.client.create(index=self.names.alerts, id=w.alert_id, document=w.doc)
            else:
                self.client.index(
                    index=self.names.alerts,
                    id=w.alert_id,
                    document=w.doc,
                    if_seq_no=w.seq[0],
                    if_primary_term=w.seq[1],
                )
        except ConflictError:
            return False
        return True

    def _after_write(self, w: _Working) -> None:
        sev = str(w.doc.get("severity", "medium"))
        unit = str((w.doc.get("organization") or {}).get("id") or model.NO_UNIT)
        if w.notify == NEW:
            metrics.CREATED.labels(sev, unit).inc()
        else:
            metrics.UPDATED.labels(sev, unit).inc()
            if w.notify == REOPENED:
                metrics.REOPENED.labels(sev, unit).inc()
        for lat in w.latencies:
            metrics.EVENT_TO_ALERT.observe(lat)
        if w.notify:
            self._emit(w.notify, dict(w.doc), w.alert_id)

    def reconcile(self, alert_id: str, template: dict[str, Any] | None = None) -> None:
        """Recompute an alert's event_count / first_seen / last_seen from its markers.

        Used when replayed events point at it, after a write conflict and after a race.
        If the alert document is missing (crash between markers and alert), ``template``
        (the document this process meant to write) is used to create it.
        """
        self.client.indices.refresh(index=self.names.state)
        resp = self.client.search(
            index=self.names.state,
            size=0,
            query={
                "bool": {
                    "filter": [
                        {"term": {"kind": "alert_event"}},
                        {"term": {"alert_id": alert_id}},
                    ]
                }
            },
            aggs={"lo": {"min": {"field": "@timestamp"}}, "hi": {"max": {"field": "@timestamp"}}},
            track_total_hits=True,
        )
        count = int(resp["hits"]["total"]["value"])
        lo = resp["aggregations"]["lo"].get("value_as_string")
        hi = resp["aggregations"]["hi"].get("value_as_string")
        for _ in range(10):
            try:
                got = self.client.get(index=self.names.alerts, id=alert_id)
                doc, seq = dict(got["_source"]), (got["_seq_no"], got["_primary_term"])
            except NotFoundError:
                if template is None or count == 0:
                    log.warning("alert to reconcile is missing", extra={"alert_id": alert_id})
                    return
                doc, seq = copy.deepcopy(template), None
            changed = doc.get("event_count") != count
            if count:
                doc["event_count"] = count
                lo_t, hi_t = model.parse_ts(lo), model.parse_ts(hi)
                if lo_t is not None:
                    doc["first_seen"] = model.iso(lo_t)
                if hi_t is not None:
                    doc["last_seen"] = model.iso(hi_t)
            if not changed and seq is not None:
                return
            w = _Working(alert_id, doc, seq)
            if self._write_alert(w):
                log.info(
                    "alert reconciled from markers",
                    extra={"alert_id": alert_id, "event_count": count},
                )
                return
        log.warning("alert reconcile gave up (conflicts)", extra={"alert_id": alert_id})


class _HeadConflict(Exception):
    """A head document changed under us (another writer)."""


def _sample(event: dict[str, Any]) -> dict[str, Any]:
    """The event as embedded in the alert; very large events lose event.original."""
    try:
        size = len(orjson.dumps(event, default=str))
    except Exception:
        return {"_unserialisable": True}
    if size <= MAX_SAMPLE_BYTES:
        return event
    slim = copy.deepcopy(event)
    ev = slim.get("event")
    if isinstance(ev, dict) and "original" in ev:
        ev["original"] = str(ev["original"])[:2000] + "...(truncated)"
    slim.pop("message", None)
    return slim
