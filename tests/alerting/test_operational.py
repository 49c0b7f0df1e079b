"""The whole path in `socmon run` shape (queue -> manager -> notifier -> real receiver),
10,000 events from one attacker, silent sources and SLA escalation against the real node."""

from __future__ import annotations

import datetime as dt

from socmon.alerting import lifecycle, metrics, model
from socmon.alerting.grouping import AlertManager
from socmon.alerting.notify.dispatcher import Notifier
from socmon.alerting.operational import OperationalChecks
from socmon.alerting.services import DetectionQueue
from socmon.metrics import REGISTRY
from socmon.settings.alerting import AlertingSettings

from .helpers import detection, event
from .receivers import HttpReceiver


def _settings(url: str, **kw) -> AlertingSettings:
    return AlertingSettings.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": url, "secret": "k"}},
            "routes": [{"name": "soc", "channels": ["hook"]}],
            "retry_initial": 0.05,
            **kw,
        }
    )


def test_ten_thousand_events_one_alert_one_notification(es_client, names):
    with HttpReceiver() as rx:
        s = _settings(rx.url)
        notifier = Notifier(s, es_client, names)
        manager = AlertManager(es_client, names, s, notify=notifier.submit)
        q = DetectionQueue(manager, s)
        notifier.start()
        q.start()
        dets = [detection([event(i, at=i * 0.01)]) for i in range(10_000)]
        for d in dets:
            q(d)
        assert q.flush(240)
        # replay everything (as after a crash): nothing changes, nothing is re-sent
        for d in dets[:3000]:
            q(d)
        assert q.flush(120)
        q.stop()
        assert notifier.flush(20)
        notifier.stop()
        es_client.indices.refresh(index=names.alerts)
        hits = es_client.search(index=names.alerts, query={"match_all": {}})["hits"]["hits"]
        assert len(hits) == 1
        a = hits[0]["_source"]
        assert a["event_count"] == 10_000
        assert len(a["event_refs"]) == s.max_event_refs and len(a["events"]) == s.max_samples
        bodies = rx.json_bodies()
        assert len(bodies) == 1 and bodies[0]["alert"]["id"] == hits[0]["_id"]


def _put_events(es_client, names, docs):
    ops = []
    for i, d in enumerate(docs):
        day = model.parse_ts(d["@timestamp"]).date()
        ops.append({"create": {"_index": names.events(day), "_id": f"ev{i}-{d['@timestamp']}"}})
        ops.append(d)
    r = es_client.bulk(operations=ops, refresh=True)
    assert not r["errors"]


def _ev(unit: str, t: dt.datetime) -> dict:
    return {
        "@timestamp": model.iso(t),
        "organization": {"id": unit},
        "event": {"dataset": "fortigate.traffic", "kind": "event"},
        "observer": {"name": f"fw-{unit}"},
    }


def test_silent_source_fires_and_clears(es_client, names):
    now = [model.utcnow()]
    notes: list = []
    s = AlertingSettings.model_validate(
        {
            "silent_sources": [
                {"field": "organization.id", "threshold": 3600, "expected": ["unit-c"]},
                {"field": "observer.name", "threshold": 10_000},
            ]
        }
    )
    checks = OperationalChecks(es_client, names, s, notify=notes.append, clock=lambda: now[0])
    _put_events(
        es_client,
        names,
        [
            _ev("unit-a", now[0] - dt.timedelta(hours=2)),
            _ev("unit-b", now[0] - dt.timedelta(minutes=10)),
        ],
    )
    r = checks.check_silent_sources()
    assert sorted(r["silent"]) == ["organization.id=unit-a", "organization.id=unit-c"]
    assert r["recovered"] == []
    assert [n.kind for n in notes] == ["silent", "silent"]
    assert (
        REGISTRY.get_sample_value("socmon_alerting_silent_sources", {"field": "organization.id"})
        == 2
    )
    # checking again raises nothing new
    assert checks.check_silent_sources() == {"silent": [], "recovered": []}
    es_client.indices.refresh(index=names.alerts)
    found = es_client.search(index=names.alerts, query={"term": {"kind": "silent_source"}})
    (a_alert,) = [
        h for h in found["hits"]["hits"] if h["_source"]["silent_source"]["value"] == "unit-a"
    ]
    assert a_alert["_source"]["organization"]["id"] == "unit-a"
    assert a_alert["_source"]["status"] == "open"
    # unit-a sends again: its alert resolves itself
    _put_events(es_client, names, [_ev("unit-a", now[0])])
    r = checks.check_silent_sources()
    assert r == {"silent": [], "recovered": ["organization.id=unit-a"]}
    doc = lifecycle.get_alert(es_client, names, a_alert["_id"])
    assert doc["status"] == "resolved" and doc["history"][-1]["action"] == "auto_resolve"
    assert notes[-1].kind == "recovered"
    # silent again later: a new alert (new generation), the old one stays resolved
    now[0] += dt.timedelta(hours=3)
    r = checks.check_silent_sources()
    assert "organization.id=unit-a" in r["silent"]
    assert lifecycle.get_alert(es_client, names, a_alert["_id"])["status"] == "resolved"
    assert "observer.name=fw-unit-a" in r["silent"]


def test_sla_breach_escalates_once_and_clears(es_client, names):
    now = [model.utcnow()]
    notes: list = []
    s = AlertingSettings()
    m = AlertManager(es_client, names, s)
    aid = m.handle(detection([event(1)], level="critical")).alert_id
    checks = OperationalChecks(es_client, names, s, notify=notes.append, clock=lambda: now[0])
    es_client.indices.refresh(index=names.alerts)
    assert checks.check_sla() == []  # critical: 15 minutes
    now[0] += dt.timedelta(minutes=16)
    assert checks.check_sla() == [aid]
    assert [n.kind for n in notes] == ["sla_breach"]
    doc = lifecycle.get_alert(es_client, names, aid)
    assert doc["sla_breached"] and doc["history"][-1]["action"] == "sla_breach"
    es_client.indices.refresh(index=names.alerts)
    assert checks.check_sla() == []  # escalated once
    checks.update_gauges()
    assert metrics.SLA_BREACHED._value.get() == 1
    assert (
        REGISTRY.get_sample_value(
            "socmon_alerting_open_alerts", {"status": "open", "severity": "critical"}
        )
        == 1
    )
    lifecycle.change_status(es_client, names, aid, "acknowledged", "alice", refresh="wait_for")
    checks.update_gauges()
    assert metrics.SLA_BREACHED._value.get() == 0
    assert (
        REGISTRY.get_sample_value(
            "socmon_alerting_open_alerts", {"status": "acknowledged", "severity": "critical"}
        )
        == 1
    )


def test_partial_sla_map_keeps_the_other_levels_for_every_kind_of_alert(es_client, names):
    """A site that sets only {"critical": 600} keeps the shipped SLA of the other levels, for
    detection alerts and silent-source alerts alike (they used to fall back to 4 h and 1 h)."""
    s = AlertingSettings.model_validate(
        {
            "sla": {"critical": 600},
            "risk_scores": {"low": 30},
            "silent_sources": [
                {"field": "organization.id", "threshold": 60, "expected": ["unit-q"]}
            ],
        }
    )
    assert s.sla["critical"] == 600 and s.sla["high"] == 3600 and s.sla["medium"] == 4 * 3600
    assert s.risk_scores["low"] == 30 and s.risk_scores["high"] == 75
    now = model.utcnow()
    m = AlertManager(es_client, names, s, clock=lambda: now)
    det = lifecycle.get_alert(
        es_client, names, m.handle(detection([event(1)], level="high")).alert_id
    )
    checks = OperationalChecks(es_client, names, s, clock=lambda: now)
    checks.check_silent_sources()
    es_client.indices.refresh(index=names.alerts)
    (silent,) = [
        h["_source"]
        for h in es_client.search(index=names.alerts, query={"term": {"kind": "silent_source"}})[
            "hits"
        ]["hits"]
    ]
    assert det["severity"] == silent["severity"] == "high"
    for a in (det, silent):
        due = model.parse_ts(a["sla_due"]) - model.parse_ts(a["history"][0]["at"])
        assert due == dt.timedelta(hours=1)
        assert a["risk_score"] == 75
