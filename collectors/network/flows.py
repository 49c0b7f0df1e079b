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
    """One bidirectional flow. ``a``/``b`` are the canonical endpoints (lower address first);
    ``odir`` says which one is the originator (0: a, 1: b)."""

    __slots__ = (
        "a",
        "ap",
        "app",
        "b",
        "bp",
        "cid",
        "closed",
        "first",
        "icmp",
        "last",
        "oby",
        "odir",
        "ofl",
        "opk",
        "opl",
        "pkt_no",
        "proto",
        "rby",
        "rfl",
        "rpk",
        "rpl",
        "v6",
        "vlan",
    )

    def __init__(
        self,
        a: int,
        b: int,
        ap: int,
        bp: int,
        proto: int,
        v6: bool,
        odir: int,
        ts: float,
        pkt_no: int,
    ) -> None:
        self.a = a
        self.b = b
        self.ap = ap
        self.bp = bp
        self.proto = proto
        self.v6 = v6
        self.odir = odir
        self.first = ts
        self.last = ts
        self.opk = self.oby = self.opl = self.ofl = 0
        self.rpk = self.rby = self.rpl = self.rfl = 0
        self.pkt_no = pkt_no
        self.closed = False
        self.cid: str | None = None
        self.app: Any = None  # protocol inspector state (None: nothing to inspect)
        self.icmp: Any = None  # (type, code) of an ICMP flow, or list of ICMP errors received
        self.vlan: int | None = None

    # originator / responder views
    def orig(self) -> tuple[int, int]:
        return (self.a, self.ap) if self.odir == 0 else (self.b, self.bp)

    def resp(self) -> tuple[int, int]:
        return (self.b, self.bp) if self.odir == 0 else (self.a, self.ap)

    def half_open(self) -> bool:
        """A TCP attempt the originator never completed (SYN without its own ACK)."""
        return self.proto == 6 and bool(self.ofl & SYN) and not self.ofl & ACK

    def no_payload(self) -> bool:
        return self.opl == 0 and self.rpl == 0

    def is_probe(self) -> bool:
        """A connection attempt that exchanged nothing: what a scanner leaves behind."""
        if self.proto == 6:
            return bool(self.ofl & SYN) and self.no_payload()
        if self.proto == 17:
            return self.rpk == 0 or bool(self.icmp)
        return False

    def conn_state(self) -> str:
        """Zeek's conn_state, from the flags each side sent."""
        o, r = self.ofl, self.rfl
        if self.proto != 6:
            if self.rpk == 0:
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
        if self.cid is None:
            oa, op = self.orig()
            ra, rp = self.resp()
            self.cid = community_id(
                ip_bytes(oa, self.v6), ip_bytes(ra, self.v6), self.proto, op, rp
            )
        return self.cid


def flow_event(f: Flow, factory: EventFactory, reason: str) -> tuple[str, dict[str, Any]]:
    oa, op = f.orig()
    ra, rp = f.resp()
    sip, dip = ip_str(oa, f.v6), ip_str(ra, f.v6)
    ports = f.proto in (6, 17)
    ev = factory.base("network.flow", f.last, ["network"], ["connection", "end"])
    ev["event"]["action"] = "network_flow"
    ev["event"]["reason"] = reason
    ev["event"]["start"] = iso(f.first)
    ev["event"]["end"] = iso(f.last)
    # microsecond resolution (floats of epoch seconds carry no more)
    ev["event"]["duration"] = max(0, round((f.last - f.first) * 1e6) * 1000)
    endpoints(ev, sip, op if ports else None, dip, rp if ports else None)
    ev["source"]["bytes"] = f.oby
    ev["source"]["packets"] = f.opk
    ev["destination"]["bytes"] = f.rby
    ev["destination"]["packets"] = f.rpk
    cid = f.community_id()
    net: dict[str, Any] = {
        "transport": TRANSPORTS.get(f.proto, str(f.proto)),
        "iana_number": str(f.proto),
        "type": "ipv6" if f.v6 else "ipv4",
        "community_id": cid,
        "bytes": f.oby + f.rby,
        "packets": f.opk + f.rpk,
    }
    if f.vlan is not None:
        net["vlan"] = {"id": str(f.vlan)}
    ev["network"] = net
    flow: dict[str, Any] = {
        "state": f.conn_state(),
        "final": reason != "active_timeout",
        "source_payload_bytes": f.opl,
        "destination_payload_bytes": f.rpl,
    }
    if f.proto == 6:
        flow["tcp_flags"] = list(_FLAG_LISTS[(f.ofl | f.rfl) & 255])
        flow["source_tcp_flags"] = list(_FLAG_LISTS[f.ofl & 255])
        flow["destination_tcp_flags"] = list(_FLAG_LISTS[f.rfl & 255])
    ev["flow"] = flow
    if f.proto in (1, 58) and isinstance(f.icmp, tuple):
        ev["icmp"] = {"type": f.icmp[0], "code": f.icmp[1]}
    elif isinstance(f.icmp, list):
        # ICMP errors (unreachable, time exceeded...) that concerned this flow.
        flow["icmp_errors"] = [{"type": t, "code": c} for t, c in f.icmp[:10]]
    return factory.id("flow", cid, f.first, f.pkt_no), ev
