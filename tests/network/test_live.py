"""Live capture on the loopback interface, the no-privilege message, drop counters, and the
services `socmon run` starts (live capture, pcap directory watcher)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from socmon.collectors.network import services
from socmon.collectors.network.live import LiveCapture
from socmon.pipeline import ListSink
from socmon.settings import PROJECT_ROOT, load_settings
from socmon.settings.network import NetworkSettings
from tests.network.helpers import write_pcap

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="live capture tests need root (CAP_NET_RAW)"
)


def _send_udp(port: int, n: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(n):
        s.sendto(b"hello", ("127.0.0.1", port))
    s.close()


@needs_root
def test_live_capture_on_loopback_with_bpf_filter() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    settings = NetworkSettings(bpf_filter="udp port 39871")
    cap = LiveCapture(settings, "lo", lambda i, e: got.append((i, e)))
    cap.start()
    try:
        time.sleep(0.3)
        _send_udp(39871, 5)
        _send_udp(39872, 5)  # filtered out by BPF
        time.sleep(0.5)
    finally:
        cap.stop()
    flows = [e for _, e in got if e["event"]["dataset"] == "network.flow"]
    assert len(flows) == 1
    assert flows[0]["destination"]["port"] == 39871
    assert flows[0]["network"]["packets"] == 5  # loopback's outgoing copies are skipped
    assert flows[0]["observer"]["name"] == "lo"
    assert cap.captured == 5


@needs_root
def test_parser_never_stalls_the_socket_drops_are_counted() -> None:
    got: list[Any] = []
    settings = NetworkSettings(bpf_filter="udp port 39873", capture_queue=100)
    cap = LiveCapture(settings, "lo", lambda i, e: got.append(e))
    slow_run = cap.processor.run

    def slow(batch: Any) -> None:
        time.sleep(0.3)
        slow_run(batch)

    cap.processor.run = slow  # type: ignore[method-assign]
    cap.start()
    try:
        time.sleep(0.2)
        _send_udp(39873, 3000)
        time.sleep(1.5)
    finally:
        cap.stop()
    assert cap.queue_drops > 0
    assert cap.captured + cap.kernel_drops >= 3000 - 100  # nothing lost silently
    (flow,) = [e for e in got if e["event"]["dataset"] == "network.flow"]
    assert flow["network"]["packets"] == cap.captured - cap.queue_drops


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_without_cap_net_raw_a_clear_message_not_a_traceback() -> None:
    cmd = ["setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-net_raw,-net_admin"]
    cmd += [sys.executable, "-c", "from socmon.cli import main; main()"]
    cmd += ["capture", "-i", "lo", "-d", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert r.returncode == 1
    assert "needs root or the CAP_NET_RAW capability" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_interface_is_reported(tmp_path: Path) -> None:
    ctx = SimpleNamespace(
        settings=load_settings(var_dir=tmp_path, network={"interfaces": ["nosuchif0"]}),
        events=ListSink(),
    )
    (svc,) = services.build(ctx)
    svc.start()
    svc.stop()
    assert svc.error and ("nosuchif0" in svc.error or "CAP_NET_RAW" in svc.error)


def test_pcap_directory_service_reads_each_file_once(tmp_path: Path) -> None:
    d = tmp_path / "drop"
    d.mkdir()
    pkts = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80, flags="S")
        for i in range(10)
    ]
    write_pcap(d / "a.pcap", pkts)
    (d / "notes.txt").write_text("not a capture")
    sink = ListSink()
    ctx = SimpleNamespace(
        settings=load_settings(
            var_dir=tmp_path / "var", network={"pcap_dirs": [d], "pcap_poll_interval": 0.1}
        ),
        events=sink,
    )
    (svc,) = services.build(ctx)
    assert isinstance(svc, services.PcapDirService)
    future = time.time() + 10
    assert svc.scan_once(now=future) == 1
    assert len([e for _, e in sink.events if e["event"]["dataset"] == "network.flow"]) == 10
    assert svc.scan_once(now=future + 10) == 0
    # a restart remembers the file (by content identity, even if renamed)
    (d / "a.pcap").rename(d / "b.pcap")
    svc2 = services.PcapDirService(ctx)
    assert svc2.scan_once(now=future + 20) == 0
    assert len(sink.events) == 10
