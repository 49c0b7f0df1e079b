"""SSH authentication outcomes inferred from the session shape (collectors/network/ssh.py),
checked against Zeek's own ssh.log of a public capture and on crafted sessions, and the
password-guessing correlation rule end to end: pcap -> events -> streaming engine -> alert."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from socmon.rules.evaluate import evaluate_events
from socmon.settings import PROJECT_ROOT
from tests.network.helpers import ZEEK, events, of, write_pcap
from tests.network.ssh_sessions import ssh_session

RULE = PROJECT_ROOT / "rules" / "sigma" / "network" / "ssh_password_guessing.yml"
NETWORK_RULES = PROJECT_ROOT / "rules" / "sigma" / "network"
GUESSING = "SSH password guessing seen on the network"
T0 = 1_760_000_000.0

# Zeek's ssh.log for Traces/ssh/ssh.pcap (zeek/zeek testing/btest/Baseline/
# scripts.base.protocols.ssh.basic/ssh.log, the version with auth_attempts, 2018):
# (orig_h, orig_p) -> (auth_success, auth_attempts); None: unset. The SSH 1 sessions
# (eight from 192.168.2.1, auth unset) are not listed: nothing is inferred for SSH 1 and
# none of them gives an event. The session to the paramiko server (55179 -> 2200) is unset
# in that baseline and T/1 in a later Zeek's ssh.log of the same trace (uid
# CUM0KZ3MLUfNB0cl11, 2022), after Zeek learnt to count encrypted bytes that share a
# segment with NEWKEYS, as socmon does.
ZEEK_SSH_LOG = {
    ("192.168.1.79", 51880): (None, 0),  # zlib@openssh.com compression: not inferred
    ("10.0.0.18", 40184): (True, 1),
    ("192.168.2.1", 57189): (True, 3),
    ("192.168.2.1", 55179): (True, 1),
    ("192.168.2.1", 59246): (True, 2),
    ("192.168.1.32", 41164): (True, 5),
    ("192.168.1.32", 33910): (True, 1),
    ("192.168.1.32", 41268): (False, 6),
    ("192.168.1.31", 52294): (True, 2),
    ("192.168.1.31", 51489): (True, 3),
    ("192.168.1.32", 58641): (False, 1),
    ("192.168.1.32", 58646): (True, 1),
    ("192.168.1.32", 58649): (True, 1),
}


# One session each: Zeek's ssh.log Baselines scripts.base.protocols.ssh.<test> (2024-2025).
ZEEK_ONE_SESSION = {
    "ssh_kex_curve25519.pcap": ("192.168.1.100", 60906, True, 2),  # curve25519_kex
    "ssh_kex_mlkem.pcap": ("10.211.55.16", 49046, True, 1),  # mlkem_kex (port 2299)
    "ssh_version_199.pcap": ("10.0.0.1", 59139, True, 1),  # ssh_version_199
    "server-pre-banner-data.pcap": ("10.0.2.1", 55343, None, 0),  # pre-banner: zlib
    "reverse-ssh.pcap": ("10.0.0.1", 48020, None, 0),  # ssh-reverse-connection: zlib
    "ssh_kex_dh_group18.pcap": ("192.168.249.1", 54468, None, 0),  # dh_group18_kex: zlib
}


def by_session(evs: list[dict]) -> dict[tuple[str, int], list[dict]]:
    seen: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for e in of(evs, "network.ssh"):
        seen[(e["source"]["ip"], e["source"]["port"])].append(e)
    return seen


def check_against_zeek(
    seen: dict[tuple[str, int], list[dict]],
    table: dict[tuple[str, int], tuple[bool | None, int]],
) -> None:
    assert set(seen) == {k for k, (ok, _) in table.items() if ok is not None}
    for key, (ok, attempts) in table.items():
        got = seen.get(key, [])
        if ok is None:
            continue
        outcomes = [e["event"]["outcome"] for e in got]
        # Zeek's auth_attempts counts the failures after the first (the answer to the
        # client's "none" probe) and the success; each is one socmon event.
        assert len(got) == attempts, (key, outcomes)
        want_last = "success" if ok else "failure"
        assert outcomes == ["failure"] * (attempts - 1) + [want_last], (key, outcomes)
        assert [e["ssh"]["auth"]["attempt"] for e in got] == list(range(1, attempts + 1))


def test_outcomes_match_zeeks_ssh_log(traces: Path) -> None:
    evs, proc = events(traces / "ssh" / "ssh.pcap")
    seen = by_session(evs)
    check_against_zeek(seen, ZEEK_SSH_LOG)
    e = seen[("192.168.1.32", 41268)][0]
    assert e["event"]["category"] == ["authentication", "network"]
    assert e["network"]["protocol"] == "ssh" and e["destination"]["port"] == 22
    assert e["destination"]["ip"] == "128.2.10.238"
    assert e["ssh"]["auth"]["inferred_from"] == "packet_sizes"
    assert e["ssh"]["client"] == "SSH-2.0-OpenSSH_6.6"
    assert proc.stats.get("inspector_error", 0) == 0
    for name, (ip, port, ok, attempts) in ZEEK_ONE_SESSION.items():
        evs, proc = events(traces / "ssh" / name)
        check_against_zeek(by_session(evs), {(ip, port): (ok, attempts)})
        assert proc.stats.get("inspector_error", 0) == 0, name


@pytest.fixture(scope="module")
def traces(datasets: Path) -> Path:
    return datasets / ZEEK / "Traces"


def crafted(tmp_path: Path, name: str, pkts: list) -> list[dict]:
    evs, proc = events(write_pcap(tmp_path / f"{name}.pcap", pkts))
    assert proc.stats.get("inspector_error", 0) == 0
    return evs


def outcomes(evs: list[dict]) -> list[tuple[str, str, int]]:
    return [
        (e["source"]["ip"], e["event"]["outcome"], e["ssh"]["auth"]["attempt"])
        for e in of(evs, "network.ssh")
    ]


def test_crafted_success_failure_and_compression(tmp_path: Path) -> None:
    ok = ssh_session("10.0.0.1", "10.0.0.22", 40001, T0, ["success"])
    typo = ssh_session("10.0.0.2", "10.0.0.22", 40002, T0 + 10, ["failure", "success"])
    bad = ssh_session("10.0.0.3", "10.0.0.22", 40003, T0 + 20, ["failure"] * 3)
    zlib = ssh_session("10.0.0.4", "10.0.0.22", 40004, T0 + 30, ["failure"] * 3, "zlib")
    other_port = ssh_session("10.0.0.5", "10.0.0.23", 40005, T0 + 40, ["failure"], dport=2222)
    resent = ssh_session("10.0.0.6", "10.0.0.22", 40006, T0 + 50, ["failure"] * 2, retransmit=True)
    evs = crafted(tmp_path, "mix", ok + typo + bad + zlib + other_port + resent)
    assert outcomes(evs) == [
        ("10.0.0.1", "success", 1),
        ("10.0.0.2", "failure", 1),
        ("10.0.0.2", "success", 2),
        ("10.0.0.3", "failure", 1),
        ("10.0.0.3", "failure", 2),
        ("10.0.0.3", "failure", 3),
        ("10.0.0.5", "failure", 1),
        ("10.0.0.6", "failure", 1),  # each failure retransmitted: still counted once
        ("10.0.0.6", "failure", 2),
    ]
    assert not of(evs, "network.bruteforce")


def guesser(sessions: int, per_session: int = 3, gap: float = 20.0) -> list:
    pkts: list = []
    for i in range(sessions):
        pkts += ssh_session(
            "203.0.113.9", "10.0.0.22", 50000 + i, T0 + i * gap, ["failure"] * per_session
        )
    return pkts


def test_password_guessing_end_to_end_gives_one_alert(tmp_path: Path) -> None:
    """Five sessions of three wrong passwords (15 failures in 100 s) -> one alert of the
    correlation rule, run by the streaming engine over every shipped network rule."""
    evs = crafted(tmp_path, "guess", guesser(5))
    assert len([e for e in of(evs, "network.ssh") if e["event"]["outcome"] == "failure"]) == 15
    dets = evaluate_events([NETWORK_RULES], evs)
    assert [d.rule_title for d in dets] == [GUESSING]
    (d,) = dets
    assert {ev.event["source"]["ip"] for ev in d.events} == {"203.0.113.9"}
    assert len(d.events) == 10  # the threshold: the tenth failure completes it


def test_normal_logins_do_not_page(tmp_path: Path) -> None:
    """A user logging in 6 times in ten minutes, mistyping once in three of them (3
    failures), and another with a single wrong session (3 failures): below 10."""
    pkts: list = []
    for i in range(6):
        outcome = ["failure", "success"] if i % 2 else ["success"]
        pkts += ssh_session("10.0.0.10", "10.0.0.22", 41000 + i, T0 + i * 60, outcome)
    pkts += ssh_session("10.0.0.11", "10.0.0.22", 42000, T0 + 30, ["failure"] * 3)
    evs = crafted(tmp_path, "normal", pkts)
    assert len(of(evs, "network.ssh")) == 6 + 3 + 3
    assert evaluate_events([NETWORK_RULES], evs) == []


def test_slow_guessing_outside_the_window_does_not_page(tmp_path: Path) -> None:
    """9 failures in any 10 minutes (three sessions of three, 5 minutes apart) stay
    under the threshold; a fourth session within the window completes it."""
    evs = crafted(tmp_path, "slow", guesser(3, gap=300.0))
    assert evaluate_events([RULE], evs) == []
    evs = crafted(tmp_path, "slow4", guesser(4, gap=150.0))
    assert [d.rule_title for d in evaluate_events([RULE], evs)] == [GUESSING]


def test_guessing_capture_becomes_one_alert_in_elasticsearch(
    tmp_path: Path, es_client, names
) -> None:
    """pcap -> network.ssh events -> streaming engine with the correlation -> alerting: one
    alert, holding the ten failures that completed it; the same capture read again (another
    engine, as after a restart with no correlation state) adds no alert and no event."""
    from socmon.alerting.grouping import AlertManager
    from socmon.rules.evaluate import build_engine, run_events
    from socmon.settings.alerting import AlertingSettings

    pkts = guesser(5)
    for i in range(3):  # normal logins of someone else on the same server meanwhile
        pkts += ssh_session("10.0.0.10", "10.0.0.22", 41000 + i, T0 + 5 + i * 30, ["success"])
    path = write_pcap(tmp_path / "guess.pcap", pkts)
    manager = AlertManager(es_client, names, AlertingSettings())
    results = []
    for _ in range(2):
        evs, _ = events(path)
        dets = run_events(build_engine([NETWORK_RULES]), evs)
        assert [d.rule_title for d in dets] == [GUESSING]
        results += manager.handle_many(dets)
    assert [r.action for r in results] == ["created", "duplicate"], results
    es_client.indices.refresh(index=names.alerts)
    hits = es_client.search(index=names.alerts, size=10)["hits"]["hits"]
    assert len(hits) == 1
    alert = hits[0]["_source"]
    assert alert["rule"]["name"] == GUESSING and alert["detection_mode"] == "correlation"
    assert alert["event_count"] == 10 and len(alert["event_refs"]) == 10
    assert {g["field"]: g["value"] for g in alert["group"]} == {
        "source.ip": "203.0.113.9",
        "destination.ip": "10.0.0.22",
    }


def test_guessing_in_scheduled_mode(tmp_path: Path, es_client, names, settings) -> None:
    """The same rule as an Elasticsearch aggregation (scheduled mode, e.g. over another
    site's stored events): the guesser's failures stored in ES give one correlation
    detection, the normal logins none."""
    import datetime as dt

    from socmon.rules.loader import finish, load_paths
    from socmon.rules.scheduled_convert import convert
    from tests.rules.test_scheduled_mode import NOW, index_events, iso, runner

    converted = convert(finish(load_paths([RULE])))
    assert not converted.problems, converted.problems
    pkts = guesser(5)
    for i in range(3):
        pkts += ssh_session("10.0.0.10", "10.0.0.22", 41000 + i, T0 + 5 + i * 30, ["success"])
    evs = of(crafted(tmp_path, "sched", pkts), "network.ssh")
    for e in evs:  # the capture's times moved into the runner's last ten minutes
        t = dt.datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")).timestamp()
        e["@timestamp"] = iso(NOW - 500 + (t - T0))
    index_events(es_client, names, evs)
    sink: list = []
    keys = {c.key for c in converted.correlations}
    r = runner(es_client, names, settings, converted, keys, sink, scheduled_lookback=600.0)
    r.run_once()
    assert [(d.rule_title, d.mode) for d in sink] == [(GUESSING, "correlation")]
    assert sink[0].group_by == {"source.ip": "203.0.113.9", "destination.ip": "10.0.0.22"}
    assert len(sink[0].events) == 10
