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
    assert out["console_errors"] == 0 and out["api_errors"] == 0, r.stdout[-2000:]
    for mode in ("console", "api"):
        for kind in ("overview", "queue", "alert"):
            assert 0 < out[f"{mode}_{kind}_p50_ms"] <= out[f"{mode}_{kind}_p99_ms"]
    # htmx.min.js alone is over 40 kB; the page, our CSS and JS add more
    assert out["queue_page_bytes"] > 50_000 and out["queue_page_files"] >= 4
    assert 0 < out["queue_page_gzip_bytes"] < out["queue_page_bytes"]
