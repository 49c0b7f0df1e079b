"""ARP: the IP-to-MAC bindings seen on the wire, and the anomalies ARP spoofing leaves:
an IP address that changes its MAC, a MAC that claims many addresses (or the gateway's)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from socmon.collectors.network.ecs import mac_str

OPS = {1: "request", 2: "reply", 3: "rarp_request", 4: "rarp_reply"}


def parse_arp(data: bytes, off: int) -> dict[str, Any] | None:
    """Ethernet/IPv4 ARP fields, or None when it is another hardware/protocol pair or short."""
    if len(data) < off + 28:
        return None
    _htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data, off)
    if hlen != 6 or plen != 4 or ptype != 0x0800:
        return None
    p = off + 8
    return {
        "op": op,
        "sha": data[p : p + 6],
        "spa": data[p + 6 : p + 10],
        "tha": data[p + 10 : p + 16],
        "tpa": data[p + 16 : p + 20],
    }


class ArpTracker:
    """Bounded IP->MAC and MAC->IPs tables; ``observe`` returns anomalies to emit."""

    def __init__(self, gateways: set[str], multi_ip_threshold: int, max_entries: int = 100_000):
        self.gateways = gateways
        self.threshold = multi_ip_threshold
        self.max_entries = max_entries
        self.ip_mac: dict[bytes, bytes] = {}
        self.mac_ips: dict[bytes, set[bytes]] = {}
        self.multi_reported: set[bytes] = set()

    def observe(self, sha: bytes, spa: bytes) -> list[dict[str, Any]]:
        """The sender's claim 'spa is at sha' (requests and replies both claim it)."""
        if spa == b"\x00\x00\x00\x00" or sha in (b"\x00" * 6, b"\xff" * 6):
            return []  # ARP probes (RFC 5227) claim nothing
        out: list[dict[str, Any]] = []
        ip = socket.inet_ntoa(spa)
        old = self.ip_mac.get(spa)
        if old is not None and old != sha:
            out.append(
                {
                    "action": "ip-mac-changed",
                    "ip": ip,
                    "mac": mac_str(sha),
                    "previous_mac": mac_str(old),
                    "gateway": ip in self.gateways,
                }
            )
        if old != sha:
            if len(self.ip_mac) >= self.max_entries:
                self.ip_mac.clear()
            self.ip_mac[spa] = sha
        ips = self.mac_ips.get(sha)
        if ips is None:
            if len(self.mac_ips) >= self.max_entries:
                self.mac_ips.clear()
            ips = self.mac_ips[sha] = set()
        if spa not in ips and len(ips) < 1024:
            ips.add(spa)
            if len(ips) >= self.threshold and sha not in self.multi_reported:
                self.multi_reported.add(sha)
                out.append(
                    {
                        "action": "mac-multiple-ips",
                        "ip": ip,
                        "mac": mac_str(sha),
                        "ips": sorted(socket.inet_ntoa(x) for x in ips)[:50],
                        "gateway": any(socket.inet_ntoa(x) in self.gateways for x in ips),
                    }
                )
        return out
