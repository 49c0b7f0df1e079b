"""SSH password guessing from a site's Zeek ssh.log (stock tab-separated form): the same
correlation as the network collector's inferred failures (rules/sigma/network/
ssh_password_guessing.yml: 10 failures from one source to one server within 10 minutes).
A record with ``auth_success`` F is one failed connection (Zeek's SSH analyser; its own
detect-bruteforcing policy counts them the same way); T or unset is not a failure."""

from __future__ import annotations

from pathlib import Path

from socmon.rules.evaluate import evaluate_events
from socmon.settings import PROJECT_ROOT
from tests.collectors.helpers import read_events

RULE = PROJECT_ROOT / "rules" / "sigma" / "network" / "ssh_password_guessing.yml"
TITLE = "SSH password guessing seen on the network"
HEAD = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tssh\n"
    "#open\t2026-12-05-01-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tauth_success\t"
    "auth_attempts\tdirection\tclient\tserver\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tcount\tbool\tcount\tenum\tstring\tstring\n"
)
T0 = 1_764_896_400.0


def record(t: float, src: str, port: int, dst: str, success: str, attempts: str) -> str:
    return (
        f"{t:.6f}\tC{port}{int(t)}\t{src}\t{port}\t{dst}\t22\t2\t{success}\t{attempts}\t"
        f"INBOUND\tSSH-2.0-libssh2_1.8.0\tSSH-2.0-OpenSSH_8.9p1"
    )


def test_zeek_ssh_failures_raise_one_alert_per_guesser(tmp_path: Path) -> None:
    lines = [
        # a guesser: 10 failed connections in 5 minutes -> one detection
        *(record(T0 + 30 * i, "203.0.113.9", 40000 + i, "10.0.0.22", "F", "3") for i in range(10)),
        # 9 failures from another source: under the threshold
        *(record(T0 + 20 * i, "198.51.100.7", 41000 + i, "10.0.0.22", "F", "1") for i in range(9)),
        # logins that succeeded, and connections whose outcome Zeek could not infer
        *(record(T0 + 10 * i, "10.0.0.50", 42000 + i, "10.0.0.22", "T", "1") for i in range(20)),
        *(record(T0 + 10 * i, "10.0.0.51", 43000 + i, "10.0.0.22", "-", "0") for i in range(20)),
    ]
    p = tmp_path / "ssh.log"
    p.write_text(HEAD + "\n".join(lines) + "\n#close\t2026-12-05-02-00-00\n")
    events = [e for _, e in read_events(p)]
    assert len(events) == len(lines)
    failures = [e for e in events if e["event"].get("outcome") == "failure"]
    assert len(failures) == 19
    assert all("authentication" in e["event"]["category"] for e in failures)
    dets = evaluate_events([RULE], events)
    assert [(d.rule_title, d.group_by) for d in dets] == [
        (TITLE, {"source.ip": "203.0.113.9", "destination.ip": "10.0.0.22"})
    ]
