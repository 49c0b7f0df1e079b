"""Lifecycle transitions and exceptions (scope, expiry, preview) against the real node."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from socmon.alerting import exceptions, lifecycle, model
from socmon.alerting.errors import AlertNotFound, InvalidException, InvalidTransition
from socmon.alerting.grouping import AlertManager
from socmon.settings.alerting import AlertingSettings

from .helpers import detection, event


def test_transitions_history_and_notes(es_client, names):
    m = AlertManager(es_client, names, AlertingSettings())
    aid = m.handle(detection([event(1)])).alert_id
    assert aid
    before, after = lifecycle.change_status(es_client, names, aid, "acknowledged", "bob")
    assert before["status"] == "open" and after["status"] == "acknowledged"
    with pytest.raises(InvalidTransition):
        lifecycle.change_status(es_client, names, aid, "bogus", "bob")
    lifecycle.assign(es_client, names, aid, "carol", "bob")
    lifecycle.add_note(es_client, names, aid, "looking at it", "carol")
    lifecycle.change_status(es_client, names, aid, "in_progress", "carol")
    lifecycle.change_status(es_client, names, aid, "false_positive", "carol", note="scanner")
    with pytest.raises(InvalidTransition):
        lifecycle.change_status(es_client, names, aid, "in_progress", "carol")
    _, doc = lifecycle.change_status(es_client, names, aid, "open", "dave", note="not a scanner")
    hist = [(h["action"], h.get("from"), h.get("to"), h["by"]) for h in doc["history"]]
    assert hist == [
        ("create", None, "open", "system"),
        ("status", "open", "acknowledged", "bob"),
        ("assign", None, "carol", "bob"),
        ("note", None, None, "carol"),
        ("status", "acknowledged", "in_progress", "carol"),
        ("status", "in_progress", "false_positive", "carol"),
        ("reopen", "false_positive", "open", "dave"),
    ]
    assert doc["assignee"] == "carol" and doc["reopened_count"] == 1
    assert [n["text"] for n in doc["notes"]] == ["looking at it", "scanner", "not a scanner"]
    with pytest.raises(AlertNotFound):
        lifecycle.change_status(es_client, names, "nope", "resolved", "x")


def test_exception_validation():
    with pytest.raises(InvalidException):
        exceptions.parse_spec({"scope": "global", "reason": "r", "owner": "o"})
    with pytest.raises(InvalidException):
        exceptions.parse_spec({"scope": "unit", "reason": "r", "owner": "o"})
    with pytest.raises(InvalidException):
        exceptions.parse_spec(
            {
                "scope": "rule",
                "rule_id": "x",
                "reason": "r",
                "owner": "o",
                "conditions": [{"field": "source.ip", "op": "cidr", "value": "not-a-net"}],
            }
        )


def test_exceptions_scope_expiry_and_preview(es_client, names):
    m = AlertManager(es_client, names, AlertingSettings())
    # history: 3 alerts from the scanner 10.0.0.5 in unit A (2 rules) + 1 in unit B, 1 other ip
    m.handle_many(
        [
            detection([event(1, src="10.0.0.5", unit="A")]),
            detection([event(2, src="10.0.0.5", unit="A")], rule_id="rule-portscan"),
            detection([event(3, src="10.0.0.5", unit="B")]),
            detection([event(4, src="192.0.2.9", unit="A")]),
        ]
    )
    es_client.indices.refresh(index=names.alerts)
    scanner = [{"field": "source.ip", "op": "cidr", "value": "10.0.0.0/24"}]
    unit_a = {"scope": "unit", "organization_id": "A", "conditions": scanner}
    base = {"reason": "vulnerability scanner", "owner": "soc"}
    assert exceptions.preview(es_client, names, {**unit_a, **base}) == 2
    rule_only = {"scope": "rule", "rule_id": "rule-ssh-brute", "conditions": scanner, **base}
    assert exceptions.preview(es_client, names, rule_only) == 2  # units A and B
    glob = {"scope": "global", "conditions": scanner, **base}
    assert exceptions.preview(es_client, names, glob) == 3

    expires = model.utcnow() + dt.timedelta(seconds=3)
    exc = exceptions.create(es_client, names, {**unit_a, **base, "expires": expires}, "alice")
    m.reload_exceptions()
    r = m.handle_many(
        [
            detection([event(10, src="10.0.0.5", unit="A")]),  # suppressed
            detection([event(11, src="10.0.0.5", unit="A")], rule_id="rule-portscan"),  # too
            detection([event(12, src="10.0.0.5", unit="B")]),  # other unit: alerted
            detection([event(13, src="192.0.2.9", unit="A")]),  # other ip: alerted
        ]
    )
    assert [x.action for x in r] == ["suppressed", "suppressed", "updated", "updated"]
    assert r[0].exception_id == exc["id"]
    # replaying the suppressed detections does not count them twice
    m.handle_many([detection([event(10, src="10.0.0.5", unit="A")])])
    es_client.indices.refresh(index=names.state)
    assert exceptions.suppressed(es_client, names, exc["id"])["total"] == 2
    assert exceptions.get(es_client, names, exc["id"])["hits"] == 2
    # after expiry the same detection is alerted
    time.sleep(max(0.0, (expires - model.utcnow()).total_seconds()) + 0.1)
    m.reload_exceptions()
    r2 = m.handle(detection([event(20, src="10.0.0.5", unit="A")]))
    assert r2.action == "updated"
    # update and delete
    _, after = exceptions.update(es_client, names, exc["id"], {"reason": "scanner v2"}, "bob")
    assert after["reason"] == "scanner v2" and after["updated_by"] == "bob"
    assert [e["id"] for e in exceptions.list_exceptions(es_client, names)] == [exc["id"]]
    assert exceptions.list_exceptions(es_client, names, include_expired=False) == []
    exceptions.delete(es_client, names, exc["id"])
    assert exceptions.list_exceptions(es_client, names) == []
