"""The collector benchmarks run (small input) and end with one JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from socmon.settings import PROJECT_ROOT, StorageSettings


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


@pytest.mark.es
def test_bench_collect_end_to_end_tiny(es_url: str) -> None:
    """The end-to-end part against the raw bulk baseline (the client's parallel_bulk with the
    writer's thread count); every line must be stored once in both modes (the bench checks)."""
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "collect.py"), "--quick", "--es", es_url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "end-to-end skipped" not in r.stdout
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["raw_bulk_docs_per_s"] > 0 and last["e2e_docs_per_s"] > 0
    assert last["raw_bulk_threads"] == StorageSettings().senders


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
