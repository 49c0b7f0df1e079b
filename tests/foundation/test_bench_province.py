"""bench/province.py runs end to end on the test node (a few sites, a few seconds) and ends
with one JSON line whose counts add up: every line sent is stored once, every burst alerts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from socmon.settings import PROJECT_ROOT

pytestmark = [pytest.mark.es, pytest.mark.slow]


def test_bench_province_small(es_url: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "province.py"),
            *("--es", es_url, "--sites", "6", "--rate", "120", "--duration", "8"),
            *("--bursts", "2", "--interval", "2", "--no-baseline"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=True,
    )
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "province" and last["sites"] == 6
    # the generator's tallies: every kind of the mix was sent, and all of it stored
    assert all(n > 0 for n in last["sent_by_kind"].values())
    assert last["stored"] == last["sent"] == sum(last["sent_by_kind"].values())
    assert last["alerts_found"] == last["bursts"] == 2
    assert 0 < last["latency_p50_s"] <= last["latency_p95_s"]
    assert last["es_bytes_per_event_primary"] > 0
