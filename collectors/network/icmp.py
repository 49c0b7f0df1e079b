"""ICMP errors (unreachable, time exceeded, ...) as ``network.icmp`` events, with the
connection they quote; the quoted flow, when open, records the error (``flow.icmp_errors``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socmon.collectors.network.communityid import community_id
from socmon.collectors.network.decode import inner_tuple
from socmon.collectors.network.ecs import TRANSPORTS, EventFactory, endpoints, ip_bytes, ip_str
from socmon.collectors.network.flowtable import FlowTable

ICMP4_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)
ICMP4_ACTIONS = {
    3: "destination-unreachable",
    4: "source-quench",
    5: "redirect",
    11: "time-exceeded",
    12: "parameter-problem",
}
ICMP6_ACTIONS = {
    1: "destination-unreachable",
    2: "packet-too-big",
    3: "time-exceeded",
    4: "parameter-problem",
}


def icmp_action(proto: int, itype: int) -> str:
    actions = ICMP4_ACTIONS if proto == 1 else ICMP6_ACTIONS
    return actions.get(itype, f"icmp-type-{itype}")


class IcmpErrors:
    def __init__(
        self,
        table: FlowTable,
        factory: EventFactory,
        out: list[tuple[str, dict[str, Any]]],
        bad: Callable[[str, str], None],
    ) -> None:
        self.table = table
        self.factory = factory
        self.out = out
        self.bad = bad

    def packet(
        self,
        ts: float,
        proto: int,
        itype: int,
        data: bytes,
        l4: int,
        end: int,
        addrs: tuple[int, int, bool],
        pkt_no: int,
    ) -> None:
        """An ICMP error at ``data[l4:end]``; ``addrs``: its source, destination, v6."""
        sa, da, v6 = addrs
        code = data[l4 + 1]
        inner = l4 + 8  # type, code, checksum, 4 unused/MTU bytes
        ev = self.factory.base("network.icmp", ts, ["network"], ["info"])
        sip, dip = ip_str(sa, v6), ip_str(da, v6)
        endpoints(ev, sip, None, dip, None)
        ev["network"] = {
            "transport": TRANSPORTS[proto],
            "iana_number": str(proto),
            "type": "ipv6" if v6 else "ipv4",
            "community_id": community_id(ip_bytes(sa, v6), ip_bytes(da, v6), proto, itype, code),
        }
        ev["icmp"] = {"type": itype, "code": code}
        ev["event"]["action"] = icmp_action(proto, itype)
        t = inner_tuple(data, inner, end)
        if t is not None:
            iproto, isa, ida, isp, idp, iv6 = t
            ev["icmp"]["original"] = {
                "source": {"ip": ip_str(isa, iv6), "port": isp},
                "destination": {"ip": ip_str(ida, iv6), "port": idp},
                "transport": TRANSPORTS.get(iproto, str(iproto)),
                "community_id": community_id(
                    ip_bytes(isa, iv6), ip_bytes(ida, iv6), iproto, isp, idp
                ),
            }
            f = self.table.lookup(isa, ida, isp, idp, iproto, iv6)
            if f is not None:
                if not isinstance(f.icmp, list):
                    f.icmp = []
                if len(f.icmp) < 10:
                    f.icmp.append((itype, code))
                ev["icmp"]["flow_found"] = True
        else:
            self.bad("icmp_inner_truncated", "ICMP error without the original header")
        self.out.append((self.factory.id("icmp", ts, pkt_no), ev))
