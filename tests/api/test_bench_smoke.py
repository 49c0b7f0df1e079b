"""bench/api.py runs on a tiny alert index against the test node: the API (its own process)
and the direct Elasticsearch clients answer the same filters with the same alerts, under the
same bound on concurrent Elasticsearch calls, and the errors are counted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from socmon.settings import PROJECT_ROOT

pytestmark = [pytest.mark.es, pytest.mark.slow]


def test_bench_api_tiny(es_url: str, index_prefix: str) -> None:
    args = ["--alerts", "500", "--clients", "4", "--bound", "2", "--requests", "40"]
    args += ["--repeats", "1", "--prefix", index_prefix, "--es-url", es_url]
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "api.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "api" and last["alerts"] == 500
    assert last["answers_compared"] == 16 and last["es_calls_in_flight_bound"] == 2
    assert last["api_errors"] == 0 and last["es_errors"] == 0 and last["no_errors"] is True
    assert last["api_p99_ms"] > 0 and last["es_p99_ms"] > 0
    assert last["time_filter_start"].endswith("Z")
