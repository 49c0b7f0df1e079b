"""Helpers of the network tests: write scapy packets to a pcap, read events back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scapy.utils import wrpcap

from socmon.collectors.network.engine import PacketProcessor
from socmon.collectors.network.reader import read_pcap_events
from socmon.settings.network import NetworkSettings

ZEEK = Path("zeek") / "testing" / "btest"


def write_pcap(path: Path, packets: Iterable[Any], start: float = 1_760_000_000.0, step=0.001):
    """Write packets with increasing timestamps (a packet's own ``time`` wins if set)."""
    pkts = list(packets)
    for i, p in enumerate(pkts):
        if not getattr(p, "_ts_set", False):
            p.time = start + i * step
    wrpcap(str(path), pkts)
    return path


def events(path: Path, **overrides: Any) -> tuple[list[dict[str, Any]], PacketProcessor]:
    settings = NetworkSettings(**overrides)
    proc = PacketProcessor(settings, str(path))
    evs = [e for _, e in read_pcap_events(path, settings, processor=proc)]
    return evs, proc


def of(evs: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["event"]["dataset"] == dataset]
