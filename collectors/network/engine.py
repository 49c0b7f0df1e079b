"""Packets to ECS events: the packet loop, and the parts it hands packets to.

The hot path (``run``) is one loop with everything it touches in local variables: decoding
Ethernet/IPv4/TCP/UDP headers and updating the flow record costs a few hundred nanoseconds.
What is rarer leaves the loop, each to a part with one job:

- ``decode.LinkDecoder``: other link types (VLAN, MPLS, PPPoE, cooked, raw IP, scapy), IPv6;
- ``flowtable.FlowTable``: the open flows and their end (close, timeouts, eviction);
- ``appevents.AppEvents``: application parsers (DNS, HTTP, TLS, logins) and their events;
- ``arp.ArpEvents``, ``icmp.IcmpErrors``: ARP packets and anomalies, ICMP errors;
- ``detections.ThresholdDetections``: brute force, DNS tunnels.

All of them append ``(doc_id, event)`` to the one ``out`` list, in packet order.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from socmon.collectors.network import metrics
from socmon.collectors.network.appevents import AppEvents
from socmon.collectors.network.arp import ArpEvents, ArpTracker
from socmon.collectors.network.communityid import icmp_ports
from socmon.collectors.network.decode import LinkDecoder
from socmon.collectors.network.detections import ThresholdDetections
from socmon.collectors.network.ecs import EventFactory
from socmon.collectors.network.flows import FIN, V6_BIT, Flow, flow_event
from socmon.collectors.network.flowtable import FlowTable
from socmon.collectors.network.icmp import ICMP4_ERRORS, ICMP6_ERRORS, IcmpErrors
from socmon.collectors.network.pcapfile import Packet
from socmon.settings.network import NetworkSettings

log = logging.getLogger(__name__)

_IP4 = struct.Struct("!BxHxxHxBxxII")  # vihl, total length, frag word, proto, src, dst
_TCP = struct.Struct("!HH8xBB")  # sport, dport, data offset byte, flags
_PORTS = struct.Struct("!HH")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees everything: the
    hot path's objects are acyclic). Restores the previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class PacketProcessor:
    """Feed packets with ``run(packets)``; take events from ``out`` (``(doc_id, event)``);
    call ``finish()`` at the end of a capture to emit the flows still open."""

    def __init__(
        self,
        settings: NetworkSettings,
        source: str,
        source_kind: str = "pcap",
        observer: str | None = None,
    ) -> None:
        self.s = settings
        self.source = source
        self.source_kind = source_kind
        self.factory = EventFactory(
            source, settings.organization_id, settings.organization_name, observer
        )
        self.out: list[tuple[str, dict[str, Any]]] = []
        self.stats: dict[str, int] = {}
        self.pkt_no = 0
        self.packets = 0
        self.bytes = 0
        self.ip4_fragments = 0
        self.now = 0.0
        self._next_tick = 0.0
        self._published: dict[str, int] = {}
        self.decoder = LinkDecoder(self.bad, self.stats)
        self.table = FlowTable(settings, self._flow_ended)
        self.detections = ThresholdDetections(settings, self.factory, self.out)
        tracker = ArpTracker(
            set(settings.gateway_ips), settings.arp_multi_ip_threshold, settings.arp_hold_seconds
        )
        self.arp = ArpEvents(tracker, self.factory, self.out, self.bad)
        self.apps = AppEvents(
            settings, self.factory, self.out, self.bad, self.detections, tracker.dhcp_router
        )
        self.icmp = IcmpErrors(self.table, self.factory, self.out, self.bad)

    @property
    def flows(self) -> dict[int, Flow]:
        return self.table.flows

    @property
    def fragments(self) -> int:
        return self.ip4_fragments + self.decoder.fragments

    @property
    def evicted(self) -> int:
        return self.table.evicted

    # ------------------------------------------------------------------ bad input
    def bad(self, reason: str, detail: str = "") -> None:
        n = self.stats.get(reason, 0) + 1
        self.stats[reason] = n
        if n <= 3 or n % 10_000 == 0:
            log.warning(
                "bad network input",
                extra={
                    "reason": reason,
                    "detail": detail[:200],
                    "source": self.source,
                    "packet": self.pkt_no,
                    "count": n,
                },
            )

    # ------------------------------------------------------------------ hot path
    def run(self, packets: Iterable[Packet]) -> None:
        """Process a batch. The cyclic garbage collector is paused for the batch: the hot
        path allocates many short-lived acyclic dicts, and collections that re-scan the
        long-lived flow table cost ~25% of the time; it runs again between batches."""
        with gc_paused():
            self._run(packets)

    def _run(self, packets: Iterable[Packet]) -> None:
        table = self.table
        flows = table.flows
        flows_get = flows.get
        ip4_unpack = _IP4.unpack_from
        tcp_unpack = _TCP.unpack_from
        ports_unpack = _PORTS.unpack_from
        closing = table.closing
        linger = self.s.flow_tcp_closed_linger
        flow_max = self.s.flow_max
        first_app = AppEvents.first_app
        pkt_no = self.pkt_no
        next_tick = self._next_tick
        nbytes = 0
        npk = 0
        now = self.now
        try:
            for ts, lt, data, wirelen in packets:
                pkt_no += 1
                npk += 1
                nbytes += wirelen
                now = ts
                n = len(data)
                vlan = None
                # ---- link layer
                if lt == 1 and n >= 34 and data[12] == 8 and data[13] == 0:
                    et = 0x0800
                    off = 14
                else:
                    self.pkt_no = pkt_no
                    link = self.decoder.link(lt, data, n)
                    if link is None:
                        continue
                    et, off, vlan, data = link
                    n = len(data)
                # ---- network layer
                frag = False
                if et == 0x0800:
                    if n < off + 20:
                        self.pkt_no = pkt_no
                        self.bad("truncated_ip", "IPv4 header cut short")
                        continue
                    vihl, tot, fw, proto, sa, da = ip4_unpack(data, off)
                    ihl = (vihl & 15) << 2
                    if vihl >> 4 != 4 or ihl < 20:
                        self.pkt_no = pkt_no
                        self.bad("bad_ip_header", f"version/ihl byte {vihl:#x}")
                        continue
                    end = off + tot
                    if tot < ihl or end > n:
                        end = n  # TSO (length 0) or snaplen-truncated capture
                    iplen = end - off if tot < ihl else tot
                    if fw & 0x3FFF:
                        frag = True
                        self.ip4_fragments += 1
                        if fw & 0x1FFF:
                            continue  # a non-first fragment: no transport header
                    l4 = off + ihl
                    v6 = False
                elif et == 0x86DD:
                    self.pkt_no = pkt_no
                    ip6 = self.decoder.ipv6(data, off, n)
                    if ip6 is None:
                        continue
                    proto, l4, end, sa, da, frag = ip6
                    iplen = end - off
                    v6 = True
                elif et == 0x0806:
                    self.pkt_no = pkt_no
                    self.arp.packet(ts, data, off, vlan, pkt_no)
                    continue
                else:
                    self.stats["other_l3"] = self.stats.get("other_l3", 0) + 1
                    continue
                # ---- transport
                flags = 0
                itype = -1
                if proto == 6:
                    if end - l4 < 20:
                        self.pkt_no = pkt_no
                        self.bad("truncated_tcp", "TCP header cut short")
                        continue
                    sp, dp, doff, flags = tcp_unpack(data, l4)
                    pstart = l4 + ((doff >> 4) << 2)
                elif proto == 17:
                    if end - l4 < 8:
                        self.pkt_no = pkt_no
                        self.bad("truncated_udp", "UDP header cut short")
                        continue
                    sp, dp = ports_unpack(data, l4)
                    pstart = l4 + 8
                elif proto == 1 or proto == 58:
                    if end - l4 < 4:
                        self.pkt_no = pkt_no
                        self.bad("truncated_icmp", "ICMP header cut short")
                        continue
                    itype = data[l4]
                    sp, dp, _ow = icmp_ports(proto, itype, data[l4 + 1])
                    pstart = l4 + 4
                else:
                    sp = dp = 0
                    pstart = l4
                plen = end - pstart
                if plen < 0:
                    plen = 0
                # ---- flow
                if sa < da or (sa == da and sp <= dp):
                    d = 0
                    key = (sa << 168) | (da << 40) | (sp << 24) | (dp << 8) | proto
                else:
                    d = 1
                    key = (da << 168) | (sa << 40) | (dp << 24) | (sp << 8) | proto
                if v6:
                    key |= V6_BIT
                f = flows_get(key)
                if f is None:
                    if len(flows) >= flow_max:
                        self.pkt_no = pkt_no
                        table.evict()
                    if d == 0:
                        f = Flow(sa, da, sp, dp, proto, v6, 0, ts, pkt_no)
                    else:
                        f = Flow(da, sa, dp, sp, proto, v6, 1, ts, pkt_no)
                    if proto == 6:
                        # A SYN-ACK first: we missed the SYN; its sender is the responder.
                        if flags & 18 == 18:
                            f.orig_side ^= 1
                        f.app = first_app(6, sp, dp)
                    elif proto == 17:
                        f.app = first_app(17, sp, dp)
                    elif itype >= 0:
                        f.icmp = (itype, data[l4 + 1])
                    f.vlan = vlan
                    flows[key] = f
                if d == f.orig_side:
                    d_is_orig = True
                    f.orig_packets += 1
                    f.orig_bytes += iplen
                    f.orig_payload += plen
                    f.orig_flags |= flags
                else:
                    d_is_orig = False
                    f.resp_packets += 1
                    f.resp_bytes += iplen
                    f.resp_payload += plen
                    f.resp_flags |= flags
                f.last = ts
                if (flags & 5 and not f.closed) and (
                    flags & 4 or (f.orig_flags & FIN and f.resp_flags & FIN)
                ):
                    f.closed = True
                    closing.append((ts, key, f))
                if plen and f.app is not None and not frag:
                    self.pkt_no = pkt_no
                    self.apps.inspect(f, d_is_orig, data[pstart:end], ts, pkt_no)
                if itype >= 0 and (itype in ICMP6_ERRORS if v6 else itype in ICMP4_ERRORS):
                    self.pkt_no = pkt_no
                    self.icmp.packet(ts, proto, itype, data, l4, end, (sa, da, v6), pkt_no)
                # ---- timers (packet time)
                if closing and closing[0][0] + linger <= ts:
                    self.pkt_no = pkt_no
                    table.close_due(ts)
                if pkt_no & 1023 == 0 or ts >= next_tick:
                    self.pkt_no = pkt_no
                    next_tick = ts + 1.0
                    self.publish()
                    table.sweep_step(ts, pkt_no)
        finally:
            self.pkt_no = pkt_no
            self._next_tick = next_tick
            self.packets += npk
            self.bytes += nbytes
            self.now = now

    # ------------------------------------------------------------------ flows ending
    def _flow_ended(self, f: Flow, reason: str) -> None:
        self.apps.flow_ended(f)
        self.out.append(flow_event(f, self.factory, reason))
        self.detections.flow_ended(f)

    def tick(self, now: float) -> None:
        """Run the timers at wall-clock time ``now`` (live capture with little traffic)."""
        self.table.expire_all(now, self.pkt_no)
        self.publish()

    def finish(self) -> None:
        """End of capture: emit every open flow and pending application event."""
        self.table.end_all()
        self.publish()

    # ------------------------------------------------------------------ metrics
    def publish(self) -> None:
        """Push counter deltas to Prometheus (cheap to call often)."""
        cur = {"packets": self.packets, "bytes": self.bytes, "fragments": self.fragments}
        cur["evicted"] = self.evicted
        p = self._published
        src = self.source_kind
        if cur["packets"] - p.get("packets", 0):
            metrics.PACKETS.labels(src).inc(cur["packets"] - p.get("packets", 0))
        if cur["bytes"] - p.get("bytes", 0):
            metrics.BYTES.labels(src).inc(cur["bytes"] - p.get("bytes", 0))
        if cur["fragments"] - p.get("fragments", 0):
            metrics.FRAGMENTS.inc(cur["fragments"] - p.get("fragments", 0))
        if cur["evicted"] - p.get("evicted", 0):
            metrics.FLOWS_EVICTED.inc(cur["evicted"] - p.get("evicted", 0))
        for reason, n in self.stats.items():
            k = "bad:" + reason
            if n - p.get(k, 0):
                metrics.MALFORMED.labels(reason).inc(n - p.get(k, 0))
            cur[k] = n
        self._published = cur
        metrics.FLOWS_ACTIVE.set(len(self.table))
