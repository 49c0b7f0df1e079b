"""The benchmark script runs (small input, no Elasticsearch) and ends with one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys

from socmon.settings import PROJECT_ROOT


def test_bench_collect_quick() -> None:
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "collect.py"), "--quick", "--es", ""],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["syslog_parser_lines_per_s"] > 0 and last["nginx_handler_lines_per_s"] > 0


def test_bench_relp_small() -> None:
    script = str(PROJECT_ROOT / "bench" / "relp.py")
    r = subprocess.run(
        [sys.executable, script, "--messages", "2000", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "relp" and last["relp_messages_per_s"] > 0
    assert last["tcp_messages_per_s"] > 0


def test_bench_beats_small() -> None:
    script = str(PROJECT_ROOT / "bench" / "beats.py")
    r = subprocess.run(
        [sys.executable, script, "--events", "3000", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "beats" and last["beats_events_per_s"] > 0
    assert last["relp_events_per_s"] > 0
