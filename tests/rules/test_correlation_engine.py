"""Correlation rules: windows, conditions, group-by, aliases, bounded memory (no ES needed)."""

from __future__ import annotations

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from socmon.rules.correlation import EVICTIONS, CorrelationEngine
from socmon.rules.detection import Detection
from tests.rules.correlation_helpers import (
    ADMIN_ADDED,
    CHAIN,
    CONN,
    EXFIL,
    LOGON_FAILED,
    LOGON_OK,
    PORT_SCAN,
    QUIET,
    SSH_BRUTE,
    SSH_FAILED,
    SSH_SPRAY,
    UPLOAD,
    engine,
    feed,
    match,
)


def ssh_fail(at: float, ip: str = "203.0.113.7", user: str = "root") -> Detection:
    return match(SSH_FAILED, at, {"source": {"ip": ip}, "user": {"name": user}})


def test_ssh_brute_force_fires_once_with_every_event() -> None:
    e = engine(SSH_BRUTE)
    out = feed(e, [ssh_fail(i * 10) for i in range(4)])
    assert out == []
    out = feed(e, [ssh_fail(40)])
    assert len(out) == 1
    d = out[0]
    assert d.mode == "correlation"
    assert d.rule_id == SSH_BRUTE and d.level == "high"
    assert d.group_by == {"source.ip": "203.0.113.7"}
    assert len(d.events) == 5
    assert d.first_timestamp.endswith("10:00:00.000Z") and d.timestamp.endswith("10:00:40.000Z")
    assert "T1110.001" in d.attack_techniques
    assert d.id  # deterministic
    # the group starts afresh: the 6th failure alone does not fire again
    assert feed(e, [ssh_fail(50)]) == []


def test_ssh_brute_force_needs_the_failures_inside_the_window() -> None:
    e = engine(SSH_BRUTE)
    # 5 failures, but 100 s apart: never 5 within 5 minutes
    assert feed(e, [ssh_fail(i * 100) for i in range(5)]) == []
    # different sources are different groups
    e = engine(SSH_BRUTE)
    assert feed(e, [ssh_fail(i, ip=f"198.51.100.{i}") for i in range(10)]) == []


def test_same_event_counted_once() -> None:
    e = engine(SSH_BRUTE)
    m = ssh_fail(1)
    assert feed(e, [m, m, m, m, m, m]) == []


def test_deterministic_detection_id() -> None:
    ids = []
    for _ in range(2):
        e = engine(SSH_BRUTE)
        ids.append(feed(e, [ssh_fail(i) for i in range(5)])[0].id)
    assert ids[0] == ids[1]


def test_password_spraying_counts_distinct_users() -> None:
    e = engine(SSH_SPRAY)
    same_user = [ssh_fail(i, user="admin") for i in range(10)]
    assert feed(e, same_user) == []
    users = [ssh_fail(100 + i, user=u) for i, u in enumerate(["alice", "bob"])]
    assert feed(e, users) == []
    out = feed(e, [ssh_fail(200, user="carol")])
    assert len(out) == 1
    assert len(out[0].events) == 13  # every contributing failure, repeated users included
    assert {ev.event["user"]["name"] for ev in out[0].events} == {"admin", "alice", "bob", "carol"}


def conn(at: float, port: int, ip: str = "10.1.2.3") -> Detection:
    return match(
        CONN,
        at,
        {"source": {"ip": ip}, "destination": {"port": port}, "network": {"transport": "tcp"}},
    )


def test_port_scan_value_count_of_destination_port() -> None:
    e = engine(PORT_SCAN)
    # many connections to the same 3 ports: normal traffic
    assert feed(e, [conn(i * 0.5, 80 + i % 3) for i in range(100)]) == []
    out = feed(e, [conn(60 + i * 0.1, 1000 + i, ip="10.9.9.9") for i in range(25)])
    assert len(out) == 1
    assert out[0].group_by == {"source.ip": "10.9.9.9"}
    assert len({ev.event["destination"]["port"] for ev in out[0].events}) == 20
    # slow scan: one port every 10 s never reaches 20 distinct ports in a minute
    e = engine(PORT_SCAN)
    assert feed(e, [conn(i * 10, 2000 + i) for i in range(50)]) == []


def chain_events(order: list[str], host: str = "ws-01", user: str = "bob") -> list[Detection]:
    out: list[Detection] = []
    t = 0.0
    for step in order:
        t += 30
        if step == "fail":
            out.append(match(LOGON_FAILED, t, {"host": {"name": host}, "user": {"name": user}}))
        elif step == "ok":
            out.append(match(LOGON_OK, t, {"host": {"name": host}, "user": {"name": user}}))
        else:
            out.append(
                match(
                    ADMIN_ADDED,
                    t,
                    {
                        "host": {"name": host},
                        "user": {"name": "new-admin"},
                        "winlog": {"event_data": {"SubjectUserName": user}},
                    },
                )
            )
    return out


def test_temporal_ordered_chain_with_aliases() -> None:
    e = engine(CHAIN)
    out = feed(e, chain_events(["fail", "fail", "fail", "ok", "admin"]))
    assert len(out) == 1
    d = out[0]
    assert d.group_by == {"host.name": "ws-01", "account": "bob"}
    assert len(d.events) == 5 and d.level == "critical"


def test_temporal_ordered_rejects_wrong_order_and_other_groups() -> None:
    assert feed(engine(CHAIN), chain_events(["admin", "ok", "fail"])) == []
    assert feed(engine(CHAIN), chain_events(["ok", "fail", "admin"])) == []
    # the admin was added by another account: different group (alias)
    evs = chain_events(["fail", "ok"]) + chain_events(["admin"], user="carol")
    assert feed(engine(CHAIN), evs) == []


def test_temporal_ordered_outside_timespan() -> None:
    e = engine(CHAIN)
    evs = chain_events(["fail", "ok"])
    late = match(
        ADMIN_ADDED,
        3600,
        {
            "host": {"name": "ws-01"},
            "user": {"name": "x"},
            "winlog": {"event_data": {"SubjectUserName": "bob"}},
        },
    )
    assert feed(e, [*evs, late]) == []


def test_value_sum() -> None:
    e = engine(EXFIL)
    ups = [
        match(UPLOAD, i, {"source": {"ip": "10.0.0.5"}, "http": {"request": {"bytes": 300_000}}})
        for i in range(3)
    ]
    assert feed(e, ups) == []
    out = feed(
        e,
        [
            match(
                UPLOAD, 5, {"source": {"ip": "10.0.0.5"}, "http": {"request": {"bytes": "200000"}}}
            )
        ],
    )
    assert len(out) == 1 and len(out[0].events) == 4


def test_closing_window_condition_lt() -> None:
    e = engine(QUIET)
    # source A: one failure; source B: three failures
    assert feed(e, [ssh_fail(0, ip="192.0.2.1")]) == []
    assert feed(e, [ssh_fail(i, ip="192.0.2.2") for i in range(3)]) == []
    assert e.flush(now=None) and True
    # after flush everything is closed
    e = engine(QUIET)
    feed(e, [ssh_fail(0, ip="192.0.2.1")])
    feed(e, [ssh_fail(i, ip="192.0.2.2") for i in range(3)])
    out = e.flush(now=None)
    assert [d.group_by["source.ip"] for d in out] == ["192.0.2.1"]
    # a later event of the group closes its window too
    e = engine(QUIET)
    feed(e, [ssh_fail(0, ip="192.0.2.9")])
    out = feed(e, [ssh_fail(1000, ip="192.0.2.9")])
    assert len(out) == 1 and len(out[0].events) == 1


def test_missing_group_field_is_skipped_not_grouped() -> None:
    e = engine(SSH_BRUTE)
    evs = [match(SSH_FAILED, i, {"user": {"name": "root"}}) for i in range(10)]
    assert feed(e, evs) == []


def test_bad_timestamp_is_counted() -> None:
    e = engine(SSH_BRUTE)
    m = ssh_fail(0)
    m.events[0].event["@timestamp"] = "not a time"
    assert feed(e, [m]) == []


def test_bounded_groups_and_events() -> None:
    before_g = EVICTIONS.labels("groups")._value.get()
    before_e = EVICTIONS.labels("events")._value.get()
    e = engine(SSH_SPRAY, max_groups=3, max_events_per_group=4)
    feed(e, [ssh_fail(i, ip=f"192.0.2.{i}") for i in range(10)])
    assert len(e.correlations[0].groups) == 3
    assert EVICTIONS.labels("groups")._value.get() - before_g == 7
    feed(e, [ssh_fail(20 + i, ip="192.0.2.200", user="root") for i in range(10)])
    group = e.correlations[0].groups[("192.0.2.200",)]
    assert len(group.entries) == 4
    assert EVICTIONS.labels("events")._value.get() - before_e == 6


def test_flush_drops_stale_groups() -> None:
    e = engine(SSH_BRUTE)
    feed(e, [ssh_fail(0)])
    assert e.flush(now=e.correlations[0].watermark + 10_000) == []
    assert not e.correlations[0].groups


def test_generate_and_suppressed_base_rules() -> None:
    e = engine(SSH_BRUTE, PORT_SCAN)
    from tests.rules.correlation_helpers import CONN as C
    from tests.rules.correlation_helpers import SSH_FAILED as S

    assert e.suppressed_base_rules() == {C, S}


def test_unusable_correlations_are_reported() -> None:
    text = """
title: c1
id: 5e0c9d0a-0000-4000-8000-000000000001
correlation:
  type: event_count
  rules: does_not_exist
  group-by: source.ip
  timespan: 5m
  condition:
    gte: 5
---
title: c2
id: 5e0c9d0a-0000-4000-8000-000000000002
correlation:
  type: value_percentile
  rules: base
  group-by: source.ip
  timespan: 5m
  condition:
    gte: 5
    field: x
    percentile: 50
---
title: base
name: base
id: 5e0c9d0a-0000-4000-8000-000000000003
logsource:
  product: linux
detection:
  sel:
    a: b
  condition: sel
"""
    rules: list[SigmaRule | SigmaCorrelationRule] = []
    for doc in yaml.safe_load_all(text):
        if "correlation" in doc:
            rules.append(SigmaCorrelationRule.from_dict(doc))
        else:
            rules.append(SigmaRule.from_dict(doc))
    e = CorrelationEngine.from_rules(rules)
    reasons = sorted(p.reason for p in e.problems)
    assert len(reasons) == 2
    assert any("does_not_exist" in r for r in reasons)
    assert any("value_percentile" in r for r in reasons)
    assert e.correlations == []
