"""bench/hunt.py runs (--quick: 20,000 records, the rules of the regression samples) and
ends with one JSON line: both tools ran, and their detections overlap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.datasets


def test_hunt_bench_quick(datasets: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-m", "bench.hunt", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env={**os.environ, "SOCMON_DATASETS": str(datasets)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "hunt" and last["records"] >= 20_000
    assert last["cold_equals_warm"] is True
    assert last["socmon_warm"]["detections"] > 0 and last["zircolite_method"]["detections"] > 0
    assert last["overlap"]["both"] > 0
