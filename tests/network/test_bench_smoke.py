"""bench/pcap.py runs on a small input (--quick) and ends with one JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys

from socmon.settings import PROJECT_ROOT


def test_bench_pcap_quick() -> None:
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "pcap.py"), "--quick", "--no-tshark"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    assert figures["packets"] >= 20_000
    assert figures["socmon_pps"] > 0 and figures["scapy_pps"] > 0
    assert figures["concurrent_flows"] == 20_000 and figures["peak_rss_mb"] > 0
