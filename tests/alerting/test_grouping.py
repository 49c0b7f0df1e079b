"""Grouping, idempotent replays, reopening and generations against the real node."""

from __future__ import annotations

import datetime as dt

from socmon.alerting import lifecycle, model
from socmon.alerting.grouping import AlertManager
from socmon.settings.alerting import AlertingSettings

from .helpers import detection, event


def _mgr(es_client, names, clock=None, **kw):
    s = AlertingSettings(**kw)
    notes: list = []
    m = AlertManager(es_client, names, s, notify=notes.append, clock=clock or model.utcnow)
    return m, notes


def _alerts(es_client, names):
    es_client.indices.refresh(index=names.alerts)
    r = es_client.search(index=names.alerts, size=100, query={"match_all": {}})
    return {h["_id"]: h["_source"] for h in r["hits"]["hits"]}


def test_same_group_one_alert_and_replay_changes_nothing(es_client, names):
    m, notes = _mgr(es_client, names)
    dets = [detection([event(i)]) for i in range(50)]
    res = m.handle_many(dets[:20]) + m.handle_many(dets[20:])
    assert res[0].action == "created"
    assert {r.action for r in res[1:]} == {"updated"}
    alerts = _alerts(es_client, names)
    assert len(alerts) == 1
    (a,) = alerts.values()
    assert a["event_count"] == 50
    assert a["first_seen"] == "2026-11-24T10:00:00.000Z"
    assert a["last_seen"] == "2026-11-24T10:00:49.000Z"
    assert a["severity"] == "high" and a["risk_score"] == 75.0
    assert a["threat"]["technique"]["id"] == ["T1110.001"]
    assert a["threat"]["tactic"]["id"] == ["TA0006"]
    assert a["organization"] == {"id": "so-tttt", "name": "SO-TTTT"}
    assert a["source"]["ip"] == "203.0.113.7" and a["host"]["name"] == "web-01"
    assert len(a["events"]) == 5 and len(a["event_refs"]) == 50
    assert len(notes) == 1 and notes[0].kind == "new"
    before = _alerts(es_client, names)
    # replay (a fresh manager, as after a restart)
    m2, notes2 = _mgr(es_client, names)
    res2 = m2.handle_many(dets)
    assert {r.action for r in res2} == {"duplicate"}
    after = _alerts(es_client, names)
    assert after.keys() == before.keys()
    (b,) = after.values()
    assert b["event_count"] == 50 and b["history"] == a["history"]
    assert notes2 == []


def test_different_attackers_and_window(es_client, names):
    m, _ = _mgr(es_client, names, window=600)
    m.handle(detection([event(1, src="198.51.100.1")]))
    m.handle(detection([event(2, src="198.51.100.2")]))
    m.handle(detection([event(3, at=300, src="198.51.100.1")]))
    # beyond the window after last_seen (300 + 600): a new generation
    r = m.handle(detection([event(4, at=1000, src="198.51.100.1")]))
    assert r.action == "created"
    alerts = _alerts(es_client, names)
    assert len(alerts) == 3
    gens = sorted(
        (a["generation"], a["event_count"])
        for a in alerts.values()
        if a["source"]["ip"] == "198.51.100.1"
    )
    assert gens == [(0, 2), (1, 1)]


def test_resolved_alert_reopens_then_new_generation(es_client, names):
    offset = [dt.timedelta(0)]
    m, notes = _mgr(es_client, names, clock=lambda: model.utcnow() + offset[0], reopen_within=3600)
    r1 = m.handle(detection([event(1)]))
    lifecycle.change_status(es_client, names, r1.alert_id, "resolved", "alice", note="blocked")
    r2 = m.handle(detection([event(2)]))
    assert r2.action == "reopened" and r2.alert_id == r1.alert_id
    doc = lifecycle.get_alert(es_client, names, r1.alert_id)
    assert doc["status"] == "open" and doc["event_count"] == 2
    assert [h["action"] for h in doc["history"]] == ["create", "status", "reopen"]
    assert [n.kind for n in notes] == ["new", "reopened"]
    lifecycle.change_status(es_client, names, r1.alert_id, "resolved", "alice")
    offset[0] = dt.timedelta(hours=2)  # past reopen_within
    r3 = m.handle(detection([event(3)]))
    assert r3.action == "created" and r3.alert_id != r1.alert_id
    assert lifecycle.get_alert(es_client, names, r1.alert_id)["status"] == "resolved"


def test_crash_between_markers_and_alert_is_repaired_on_replay(es_client, names):
    m, _ = _mgr(es_client, names)
    dets = [detection([event(i)]) for i in range(10)]
    m.handle_many(dets)
    (aid,) = _alerts(es_client, names)
    # simulate the crash: the alert document never got written
    es_client.delete(index=names.alerts, id=aid, refresh=True)
    m2, _ = _mgr(es_client, names)
    m2.handle_many(dets)
    (a,) = _alerts(es_client, names).values()
    assert a["event_count"] == 10


def test_two_writers_at_once_count_every_event_once(es_client, names):
    """Two managers (as two processes) apply overlapping detections concurrently: optimistic
    concurrency + markers give one alert with each event counted once."""
    import threading

    dets = [detection([event(i, at=i * 0.1)]) for i in range(1200)]
    errors: list = []

    def run(order):
        m, _ = _mgr(es_client, names)
        try:
            for start in range(0, len(order), 100):
                m.handle_many(order[start : start + 100])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(dets[:900],)),
        threading.Thread(target=run, args=(list(reversed(dets[300:])),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (a,) = _alerts(es_client, names).values()
    assert a["event_count"] == 1200
    assert a["first_seen"] == "2026-11-24T10:00:00.000Z"
    assert a["last_seen"] == "2026-11-24T10:01:59.900Z"


def test_analyst_change_during_grouping_keeps_both(es_client, names):
    m, _ = _mgr(es_client, names)
    aid = m.handle(detection([event(0)])).alert_id
    import threading

    def analyst():
        for to in ("acknowledged", "in_progress", "acknowledged", "in_progress"):
            lifecycle.change_status(es_client, names, aid, to, "alice")

    t = threading.Thread(target=analyst)
    t.start()
    for start in range(1, 301, 20):
        m.handle_many([detection([event(i)]) for i in range(start, start + 20)])
    t.join()
    doc = lifecycle.get_alert(es_client, names, aid)
    assert doc["event_count"] == 301 and doc["status"] == "in_progress"
    assert [h["action"] for h in doc["history"]].count("status") == 4


def test_prune_state_keeps_recent_markers(es_client, names):
    from socmon.alerting.housekeeping import prune_state

    m, _ = _mgr(es_client, names)
    m.handle_many([detection([event(i)]) for i in range(30)])
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    assert prune_state(es_client, names, 1, now=now) == 0
    later = now + dt.timedelta(days=2)
    assert prune_state(es_client, names, 1, now=later, page=7) == 30
    es_client.indices.refresh(index=names.state)
    left = es_client.count(index=names.state, query={"term": {"kind": "alert_event"}})
    assert left["count"] == 0
    assert es_client.count(index=names.state, query={"term": {"kind": "alert_head"}})["count"] == 1


def test_bad_detections_are_counted_not_fatal(es_client, names):
    from socmon.rules.detection import Detection, MatchedEvent

    m, _ = _mgr(es_client, names)
    ok = detection([event(1)])
    no_rule = detection([event(2)], rule_id="")
    bad_ts = detection([event(3)])
    bad_ts.timestamp = "not a time"
    no_ids = Detection(
        rule_id="rule-x",
        rule_title="X",
        level="weird",
        status="test",
        tags=[],
        events=[MatchedEvent("", None, event(4)), MatchedEvent("", None, event(5))],
        timestamp="2026-11-24T10:00:05.000Z",
        first_timestamp="2026-11-24T10:00:04.000Z",
    )
    res = m.handle_many([ok, no_rule, bad_ts, no_ids])
    assert [r.action for r in res] == ["created", "invalid", "updated", "created"]
    doc = lifecycle.get_alert(es_client, names, res[3].alert_id)
    assert doc["event_count"] == 2 and doc["severity"] == "medium"
    assert m.handle(no_ids).action == "duplicate"
