"""Replaying the same log file twice yields the same alerts with the same counts: the log is
read by the collectors' parsers and matched by the shipped Sigma rules (``rules.hunt``)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from socmon.alerting.grouping import AlertManager
from socmon.rules.hunt import hunt
from socmon.settings import PROJECT_ROOT
from socmon.settings.alerting import AlertingSettings
from tests.conftest import REQUIRE_DATASETS

RULES = PROJECT_ROOT / "rules" / "sigma"
AUTH_LOG = PROJECT_ROOT / "tests" / "fixtures" / "alerting" / "auth.log"


def _snapshot(es_client, names):
    es_client.indices.refresh(index=names.alerts)
    hits = es_client.search(index=names.alerts, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {
        h["_id"]: (
            h["_source"]["rule"]["id"],
            h["_source"]["group_key"],
            h["_source"]["event_count"],
            h["_source"]["first_seen"],
            h["_source"]["last_seen"],
            h["_source"]["status"],
            len(h["_source"]["history"]),
        )
        for h in hits
    }


def _replay_twice(es_client, names, path: Path):
    first = hunt([RULES], [path]).detections
    # every file replayed here holds sshd failures the shipped rules are written for: nothing
    # found is a failure of the rules or the parsers, not a reason to skip
    assert first, f"the shipped rules raise no detection on {path.name}"
    m = AlertManager(es_client, names, AlertingSettings())
    res = m.handle_many(first)
    assert {r.action for r in res} <= {"created", "updated"}
    once = _snapshot(es_client, names)
    # expected: distinct events per (rule, group-by values)
    expected = defaultdict(set)
    for d in first:
        expected[(d.rule_id, tuple(sorted(d.group_by.items())))].update(ev.id for ev in d.events)
    assert sorted(v[2] for v in once.values()) == sorted(len(s) for s in expected.values())
    # the same file again, through a fresh engine and a fresh manager (as after a restart),
    # once as a batch and once detection by detection
    second = hunt([RULES], [path]).detections
    assert [d.id for d in second] == [d.id for d in first]
    m2 = AlertManager(es_client, names, AlertingSettings())
    assert {r.action for r in m2.handle_many(second)} == {"duplicate"}
    assert {m2.handle(d).action for d in second} == {"duplicate"}
    assert _snapshot(es_client, names) == once
    return once


def test_replaying_the_same_log_file_twice(es_client, names):
    once = _replay_twice(es_client, names, AUTH_LOG)
    # two attackers x (brute force, password spraying)
    assert len(once) == 4


def test_replaying_a_public_sshd_log_twice(es_client, names, datasets):
    path = datasets / "fail2ban" / "fail2ban" / "tests" / "files" / "logs" / "sshd-journal"
    if not path.is_file():
        msg = f"{path} missing from the corpora"
        if REQUIRE_DATASETS:
            pytest.fail(msg + "; SOCMON_REQUIRE_DATASETS is set")
        pytest.skip(msg)
    _replay_twice(es_client, names, path)
