"""The benchmark script runs (small input) and ends with one JSON line of figures."""

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
