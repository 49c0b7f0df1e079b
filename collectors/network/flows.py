"""Bidirectional flow records, Zeek-like connection states and the network.flow event."""

from __future__ import annotations

from typing import Any

from socmon.collectors.network.communityid import community_id
from socmon.collectors.network.ecs import TRANSPORTS, EventFactory, endpoints, ip_bytes, ip_str, iso

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128
FLAG_NAMES = ((SYN, "SYN"), (ACK, "ACK"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (URG, "URG"))
# flag byte -> names (precomputed: three lists per TCP flow event)
_FLAG_LISTS = [tuple(n for bit, n in FLAG_NAMES if v & bit) for v in range(256)]

# Flow-key layout: canonical (lower address first) so both directions share one dict entry.
V6_BIT = 1 << 300


class Flow:
    """One bidirectional flow. ``addr_a``/``port_a`` and ``addr_b``/``port_b`` are the
    canonical endpoints (lower address first, as in the flow key); ``orig_side`` says which
    one is the originator (0: a, 1: b). Per direction (originator ``orig_*``, responder
    ``resp_*``): packets, IP bytes, transport payload bytes and the OR of the TCP flags."""

    __slots__ = (
        "addr_a",
        "addr_b",
        "app",
        "cached_community_id",
        "closed",
        "first",
        "first_packet",
        "icmp",
        "last",
        "orig_bytes",
        "orig_flags",
        "orig_packets",
        "orig_payload",
        "orig_side",
        "port_a",
        "port_b",
        "proto",
        "resp_bytes",
        "resp_flags",
        "resp_packets",
        "resp_payload",
        "v6",
        "vlan",
    )

    def __init__(
        self,
        addr_a: int,
        addr_b: int,
        port_a: int,
        port_b: int,
        proto: int,
        v6: bool,
        orig_side: int,
        ts: float,
        first_packet: int,
    ) -> None:
        self.addr_a = addr_a
        self.addr_b = addr_b
        self.port_a = port_a
        self.port_b = port_b
        self.proto = proto
        self.v6 = v6
        self.orig_side = orig_side
        self.first = ts  # packet time of the first and the last packet
        self.last = ts
        self.orig_packets = self.orig_bytes = self.orig_payload = self.orig_flags = 0
        self.resp_packets = self.resp_bytes = self.resp_payload = self.resp_flags = 0
        self.first_packet = first_packet  # its number in the capture (event ids)
        self.closed = False
        self.cached_community_id: str | None = None
        self.app: Any = None  # protocol inspector state (None: nothing to inspect)
        self.icmp: Any = None  # (type, code) of an ICMP flow, or list of ICMP errors received
        self.vlan: int | None = None

    # originator / responder views
    def orig(self) -> tuple[int, int]:
        return (self.addr_a, self.port_a) if self.orig_side == 0 else (self.addr_b, self.port_b)

    def resp(self) -> tuple[int, int]:
        return (self.addr_b, self.port_b) if self.orig_side == 0 else (self.addr_a, self.port_a)

    def half_open(self) -> bool:
        """A TCP attempt the originator never completed (SYN without its own ACK)."""
        return self.proto == 6 and bool(self.orig_flags & SYN) and not self.orig_flags & ACK

    def no_payload(self) -> bool:
        return self.orig_payload == 0 and self.resp_payload == 0

    def is_probe(self) -> bool:
        """A connection attempt that exchanged nothing: what a scanner leaves behind."""
        if self.proto == 6:
            return bool(self.orig_flags & SYN) and self.no_payload()
        if self.proto == 17:
            return self.resp_packets == 0 or bool(self.icmp)
        return False

    def conn_state(self) -> str:
        """Zeek's conn_state, from the flags each side sent."""
        o, r = self.orig_flags, self.resp_flags
        if self.proto != 6:
            if self.resp_packets == 0:
                return "S0"
            return "SF"
        o_syn = bool(o & SYN)
        r_syn = bool(r & SYN)
        if r & RST:
            if o_syn and not r_syn:
                return "REJ"
            if r_syn and not o_syn:
                return "RSTRH"
            return "RSTR"
        if o & RST:
            if o_syn and not r_syn:
                return "RSTOS0"
            return "RSTO"
        if o_syn and r_syn:
            if o & FIN and r & FIN:
                return "SF"
            if o & FIN:
                return "S2"
            if r & FIN:
                return "S3"
            return "S1"
        if o_syn:
            return "SH" if o & FIN else "S0"
        if r_syn:
            return "SHR" if r & FIN else "OTH"
        return "OTH"

    def community_id(self) -> str:
        if self.cached_community_id is None:
            oa, op = self.orig()
            ra, rp = self.resp()
            self.cached_community_id = community_id(
                ip_bytes(oa, self.v6), ip_bytes(ra, self.v6), self.proto, op, rp
            )
        return self.cached_community_id


def flow_event(f: Flow, factory: EventFactory, reason: str) -> tuple[str, dict[str, Any]]:
    oa, op = f.orig()
    ra, rp = f.resp()
    sip, dip = ip_str(oa, f.v6), ip_str(ra, f.v6)
    ports = f.proto in (6, 17)
    ev = factory.base("network.flow", f.last, ["network"], ["connection", "end"])
    ev["event"]["action"] = "network_flow"
    ev["event"]["reason"] = reason
    if f.proto in (6, 17):
        # a connection attempt that exchanged nothing or was never completed: what the
        # scan / sweep / flood correlations count (rules/sigma/network/connection_scans.yml)
        ev["event"]["outcome"] = "failure" if f.is_probe() or f.half_open() else "success"
    ev["event"]["start"] = iso(f.first)
    ev["event"]["end"] = iso(f.last)
    # microsecond resolution (floats of epoch seconds carry no more)
    ev["event"]["duration"] = max(0, round((f.last - f.first) * 1e6) * 1000)
    endpoints(ev, sip, op if ports else None, dip, rp if ports else None)
    ev["source"]["bytes"] = f.orig_bytes
    ev["source"]["packets"] = f.orig_packets
    ev["destination"]["bytes"] = f.resp_bytes
    ev["destination"]["packets"] = f.resp_packets
    cid = f.community_id()
    net: dict[str, Any] = {
        "transport": TRANSPORTS.get(f.proto, str(f.proto)),
        "iana_number": str(f.proto),
        "type": "ipv6" if f.v6 else "ipv4",
        "community_id": cid,
        "bytes": f.orig_bytes + f.resp_bytes,
        "packets": f.orig_packets + f.resp_packets,
    }
    if f.vlan is not None:
        net["vlan"] = {"id": str(f.vlan)}
    ev["network"] = net
    flow: dict[str, Any] = {
        "state": f.conn_state(),
        "final": reason != "active_timeout",
        "source_payload_bytes": f.orig_payload,
        "destination_payload_bytes": f.resp_payload,
    }
    if f.proto == 6:
        flow["tcp_flags"] = list(_FLAG_LISTS[(f.orig_flags | f.resp_flags) & 255])
        flow["source_tcp_flags"] = list(_FLAG_LISTS[f.orig_flags & 255])
        flow["destination_tcp_flags"] = list(_FLAG_LISTS[f.resp_flags & 255])
    ev["flow"] = flow
    if f.proto in (1, 58) and isinstance(f.icmp, tuple):
        ev["icmp"] = {"type": f.icmp[0], "code": f.icmp[1]}
    elif isinstance(f.icmp, list):
        # ICMP errors (unreachable, time exceeded...) that concerned this flow.
        flow["icmp_errors"] = [{"type": t, "code": c} for t, c in f.icmp[:10]]
    return factory.id("flow", cid, f.first, f.first_packet), ev
