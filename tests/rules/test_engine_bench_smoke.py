"""bench/sigma_engine.py runs (small input) and ends with one JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.datasets


def test_engine_bench_quick(datasets: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, str(root / "bench" / "sigma_engine.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"SOCMON_DATASETS": str(datasets), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "sigma_engine" and last["events_per_s"] > 0
    assert last["ratio_vs_naive"] > 1
    # distinct events of the three origins, cold caches, and the naive baseline's match sets
    # equal to the engine's on every event (the bench exits 1 otherwise)
    assert all(n > 0 for n in last["events_by_origin"].values()), last["events_by_origin"]
    assert last["events"] == sum(last["events_by_origin"].values())
    assert last["match_sets_equal"] is True and last["naive_events"] == last["events"]
    assert last["caches"].startswith("cold")
