"""bench/console.py runs end to end with tiny sizes (the real run is 1M alerts, 50 clients):
every path answers 200 for console and API, and the last line is the JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.es, pytest.mark.slow]


def test_console_bench_smoke(es_url: str, index_prefix: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "console.py"),
            "--alerts=300",
            "--clients=3",
            "--requests=6",
            "--repeats=1",
            f"--es-url={es_url}",
            f"--prefix={index_prefix}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")},
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["alerts"] == 300 and out["clients"] == 3
    for path in ("overview", "queue", "alert"):
        for mode in ("console", "api"):
            assert out[f"{path}_{mode}_errors"] == 0, (path, mode, r.stdout[-2000:])
            assert 0 < out[f"{path}_{mode}_p50_ms"] <= out[f"{path}_{mode}_p99_ms"]
    w = out["queue_page_bytes"]
    # htmx.min.js alone is over 40 kB; our CSS is a few kB
    assert w["js"] > 40_000 and w["css"] > 1_000 and w["total"] == w["html"] + w["js"] + w["css"]
