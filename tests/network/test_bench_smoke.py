"""bench/pcap.py runs on a small input (--quick) and ends with one JSON line of figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from socmon.settings import PROJECT_ROOT


def run_quick(*extra: str) -> dict:
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "pcap.py"), "--quick", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
    )
    assert r.returncode == 0, r.stderr
    figures: dict = json.loads(r.stdout.strip().splitlines()[-1])
    return figures


def test_bench_pcap_quick() -> None:
    figures = run_quick("--no-tshark")
    assert figures["packets"] >= 20_000
    assert figures["socmon_pps"] > 0 and figures["scapy_pps"] > 0
    assert figures["concurrent_flows"] == 20_000 and figures["peak_rss_mb"] > 0
    assert figures["tshark_pps"] is None


def test_bench_pcap_tshark_quick() -> None:
    """The tshark baseline (the bench installs Debian's tshark when it runs as root): the
    same fields extracted, one line a packet, start-up measured and taken off."""
    figures = run_quick()
    if figures["tshark_pps"] is None:
        assert shutil.which("tshark") is None
        pytest.skip(f"tshark: {figures['tshark']}")
    assert figures["tshark_pps"] > 0 and figures["tshark_startup_cpu_s"] > 0
    assert figures["tshark_fields"] >= 30
