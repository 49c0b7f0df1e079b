"""ARP: the packets as events, the IP-to-MAC bindings seen on the wire, and the anomalies ARP
spoofing leaves: an IP address that changes its MAC, a MAC that claims many addresses (or the
gateway's)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from socmon.collectors.network.ecs import EventFactory, mac_str

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


class ArpEvents:
    """Each Ethernet/IPv4 ARP packet as a ``network.arp`` event, and the anomalies the
    tracker finds in requests and replies as ``network.arp_anomaly`` alerts, into ``out``."""

    def __init__(
        self,
        tracker: ArpTracker,
        factory: EventFactory,
        out: list[tuple[str, dict[str, Any]]],
        bad: Callable[[str, str], None],
    ) -> None:
        self.tracker = tracker
        self.factory = factory
        self.out = out
        self.bad = bad

    def packet(self, ts: float, data: bytes, off: int, vlan: int | None, pkt_no: int) -> None:
        a = parse_arp(data, off)
        if a is None:
            self.bad("arp_malformed", "not Ethernet/IPv4 ARP or short")
            return
        sip, dip = socket.inet_ntoa(a["spa"]), socket.inet_ntoa(a["tpa"])
        ev = self.factory.base("network.arp", ts, ["network"], ["protocol"])
        op = OPS.get(a["op"], str(a["op"]))
        ev["event"]["action"] = f"arp-{op}"
        ev["source"] = {"ip": sip, "mac": mac_str(a["sha"])}
        ev["destination"] = {"ip": dip, "mac": mac_str(a["tha"])}
        ev["related"] = {"ip": [sip] if sip == dip else [sip, dip]}
        ev["network"] = {"protocol": "arp", "type": "ipv4"}
        if vlan is not None:
            ev["network"]["vlan"] = {"id": str(vlan)}
        ev["arp"] = {"operation": op, "gratuitous": sip == dip}
        self.out.append((self.factory.id("arp", ts, pkt_no), ev))
        if a["op"] not in (1, 2):
            return
        for anomaly in self.tracker.observe(a["sha"], a["spa"]):
            self._anomaly(anomaly, ts, pkt_no)

    def _anomaly(self, anomaly: dict[str, Any], ts: float, pkt_no: int) -> None:
        out = self.factory.alert_base("network.arp_anomaly", ts, anomaly["action"])
        out["source"] = {"ip": anomaly["ip"], "mac": anomaly["mac"]}
        out["related"] = {"ip": [anomaly["ip"]]}
        out["network"] = {"protocol": "arp", "type": "ipv4"}
        arp: dict[str, Any] = {"gateway": anomaly["gateway"]}
        if "previous_mac" in anomaly:
            arp["previous_mac"] = anomaly["previous_mac"]
            out["message"] = (
                f"{anomaly['ip']} moved from {anomaly['previous_mac']} to {anomaly['mac']}"
            )
        if "ips" in anomaly:
            arp["claimed_ips"] = anomaly["ips"]
            arp["claimed_ip_count"] = len(anomaly["ips"])
            out["message"] = f"{anomaly['mac']} claims {len(anomaly['ips'])} IPv4 addresses"
        out["arp"] = arp
        self.out.append((self.factory.id("arp_anomaly", anomaly["action"], ts, pkt_no), out))
