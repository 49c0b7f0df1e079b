"""Packets to ECS events: link/IP/transport decoding with ``struct`` on raw bytes, the flow
table, protocol inspectors and the derived detection events.

The hot path (``run``) is one loop with everything it touches in local variables: decoding
Ethernet/VLAN/IPv4/TCP/UDP headers and updating the flow record costs a few hundred
nanoseconds. Only flows that may carry an application we parse (first payload bytes of a TCP
flow, DNS over UDP) leave the hot path.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import socket
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from socmon.collectors.network import metrics
from socmon.collectors.network.apps import (
    DnsTcpInspector,
    HttpInspector,
    Inspector,
    LoginInspector,
    TlsInspector,
)
from socmon.collectors.network.arp import OPS, ArpTracker, parse_arp
from socmon.collectors.network.communityid import community_id
from socmon.collectors.network.communityid import icmp_ports as _icmp_ports
from socmon.collectors.network.dns import DnsError, entropy, parse_dns
from socmon.collectors.network.ecs import (
    TRANSPORTS,
    EventFactory,
    endpoints,
    ip_bytes,
    ip_str,
    mac_str,
)
from socmon.collectors.network.ecs import iso as _iso
from socmon.collectors.network.flows import ACK, FIN, RST, SYN, V6_BIT, Flow, flow_event
from socmon.collectors.network.http import looks_like_request, looks_like_response
from socmon.collectors.network.pcapfile import Packet
from socmon.collectors.network.windows import WindowCounter
from socmon.settings.network import NetworkSettings

log = logging.getLogger(__name__)
MAX_DNS_QUERIES = 65_536  # DNS queries waiting for an answer, at most

_IP4 = struct.Struct("!BxHxxHxBxxII")  # vihl, total length, frag word, proto, src, dst
_TCP = struct.Struct("!HH8xBB")  # sport, dport, data offset byte, flags
_PORTS = struct.Struct("!HH")
_QQ = struct.Struct("!QQ")

ETH_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
DNS_PORTS = (53, 5353, 5355)
LOGIN_PORTS = {21: "ftp", 110: "pop3", 143: "imap"}
ICMP4_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)
DNS_UDP = "dns-udp"  # sentinel: stateless DNS parsing of every datagram
PROBE = "probe"  # sentinel: a TCP flow whose application is not known yet
LINKTYPES = {1, 0, 12, 14, 101, 108, 113, 228, 229, 276}


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
        self.flows: dict[int, Flow] = {}
        self.out: list[tuple[str, dict[str, Any]]] = []
        self.stats: dict[str, int] = {}
        self.pkt_no = 0
        self.packets = 0
        self.bytes = 0
        self.fragments = 0
        self.evicted = 0
        self.now = 0.0
        self.closing: deque[tuple[float, int, Flow]] = deque()
        self._sweep_keys: list[int] = []
        self._sweep_pos = 0
        self._next_sweep = 0.0
        self._next_tick = 0.0
        self._published: dict[str, int] = {}
        self._logged: dict[str, int] = {}
        self.arp = ArpTracker(set(settings.gateway_ips), settings.arp_multi_ip_threshold)
        w = settings.detection_window
        self.scan_ports = WindowCounter(w, settings.scan_ports_threshold, distinct=True)
        self.scan_hosts = WindowCounter(w, settings.scan_hosts_threshold, distinct=True)
        self.synflood = WindowCounter(w, settings.synflood_threshold, distinct=False)
        self.brute = WindowCounter(w, settings.bruteforce_threshold, distinct=False)
        self.dns_tunnel = WindowCounter(w, settings.dns_tunnel_queries_threshold, distinct=False)
        # DNS queries waiting for their answer: (community id, DNS id) -> query time; an answer
        # gets event.start/end/duration (the round-trip time). Bounded: oldest dropped first.
        self._dns_queries: dict[tuple[str, str], float] = {}
        self.brute_ports = set(settings.bruteforce_ports)

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
        flows = self.flows
        flows_get = flows.get
        ip4_unpack = _IP4.unpack_from
        tcp_unpack = _TCP.unpack_from
        ports_unpack = _PORTS.unpack_from
        closing = self.closing
        linger = self.s.flow_tcp_closed_linger
        flow_max = self.s.flow_max
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
                    link = self._link(lt, data, n)
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
                        self.fragments += 1
                        if fw & 0x1FFF:
                            continue  # a non-first fragment: no transport header
                    l4 = off + ihl
                    v6 = False
                elif et == 0x86DD:
                    self.pkt_no = pkt_no
                    ip6 = self._ipv6(data, off, n)
                    if ip6 is None:
                        continue
                    proto, l4, end, sa, da, frag = ip6
                    iplen = end - off
                    v6 = True
                elif et == 0x0806:
                    self.pkt_no = pkt_no
                    self._arp(ts, data, off, vlan)
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
                    sp, dp, _ow = _icmp_ports(proto, itype, data[l4 + 1])
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
                        self._evict(ts)
                    if d == 0:
                        f = Flow(sa, da, sp, dp, proto, v6, 0, ts, pkt_no)
                    else:
                        f = Flow(da, sa, dp, sp, proto, v6, 1, ts, pkt_no)
                    if proto == 6:
                        # A SYN-ACK first: we missed the SYN; its sender is the responder.
                        if flags & 18 == 18:
                            f.odir ^= 1
                        f.app = PROBE
                    elif proto == 17:
                        if sp in DNS_PORTS or dp in DNS_PORTS:
                            f.app = DNS_UDP
                    elif itype >= 0:
                        f.icmp = (itype, data[l4 + 1])
                    f.vlan = vlan
                    flows[key] = f
                if d == f.odir:
                    d_is_orig = True
                    f.opk += 1
                    f.oby += iplen
                    f.opl += plen
                    f.ofl |= flags
                else:
                    d_is_orig = False
                    f.rpk += 1
                    f.rby += iplen
                    f.rpl += plen
                    f.rfl |= flags
                f.last = ts
                if (flags & 5 and not f.closed) and (flags & 4 or (f.ofl & FIN and f.rfl & FIN)):
                    f.closed = True
                    closing.append((ts, key, f))
                if plen and f.app is not None and not frag:
                    self.pkt_no = pkt_no
                    self._inspect(f, d_is_orig, data[pstart:end], ts, sp, dp)
                if itype >= 0 and (itype in ICMP6_ERRORS if v6 else itype in ICMP4_ERRORS):
                    self.pkt_no = pkt_no
                    self._icmp_error(ts, proto, itype, data, l4, end, sa, da, v6)
                # ---- timers (packet time)
                if closing and closing[0][0] + linger <= ts:
                    self.pkt_no = pkt_no
                    self._close_due(ts)
                if pkt_no & 1023 == 0 or ts >= next_tick:
                    self.pkt_no = pkt_no
                    next_tick = ts + 1.0
                    self._sweep_step(ts)
        finally:
            self.pkt_no = pkt_no
            self._next_tick = next_tick
            self.packets += npk
            self.bytes += nbytes
            self.now = now

    # ------------------------------------------------------------------ decoding helpers
    def _scapy_link(self, lt: int, data: bytes) -> tuple[int, int, int | None, bytes] | None:
        """Link types we do not decode by hand (802.11, radiotap, PPP, NFLOG, ...): let scapy
        dissect the frame and continue with the IP (or ARP) layer it finds."""
        import scapy.layers.dot11
        import scapy.layers.ppp  # noqa: F401 - registers link types
        from scapy.config import conf
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import ARP

        cls = conf.l2types.num2layer.get(lt)
        if cls is None:
            self.bad("unsupported_linktype", f"linktype {lt}")
            return None
        try:
            pkt = cls(data)
        except Exception as e:  # scapy dissectors raise anything on garbage
            self.bad("scapy_dissect_error", f"linktype {lt}: {e!r}")
            return None
        for layer, et in ((IP, 0x0800), (IPv6, 0x86DD), (ARP, 0x0806)):
            found = pkt.getlayer(layer)
            if found is not None:
                return et, 0, None, bytes(found)
        self.stats["non_ip_frames"] = self.stats.get("non_ip_frames", 0) + 1
        return None

    def _link(self, lt: int, data: bytes, n: int) -> tuple[int, int, int | None, bytes] | None:
        vlan = None
        if lt == 1:
            if n < 14:
                self.bad("short_frame" if n else "empty_frame", f"{n} bytes")
                return None
            et = (data[12] << 8) | data[13]
            off = 14
            if et <= 1500:  # 802.3 length field: LLC (STP, CDP...), nothing for us
                self.stats["non_ip_frames"] = self.stats.get("non_ip_frames", 0) + 1
                return None
        elif lt == 113:  # Linux cooked v1
            if n < 16:
                self.bad("short_frame", "SLL header")
                return None
            et = (data[14] << 8) | data[15]
            off = 16
        elif lt == 276:  # Linux cooked v2
            if n < 20:
                self.bad("short_frame", "SLL2 header")
                return None
            et = (data[0] << 8) | data[1]
            off = 20
        elif lt in (101, 12, 14, 228, 229):  # raw IP
            if n < 1:
                self.bad("empty_frame", "raw IP")
                return None
            et = 0x86DD if data[0] >> 4 == 6 else 0x0800
            off = 0
        elif lt in (0, 108):  # BSD loopback: address family, host or network order
            if n < 5:
                self.bad("short_frame", "loopback header")
                return None
            et = 0x86DD if data[4] >> 4 == 6 else 0x0800
            off = 4
        else:
            return self._scapy_link(lt, data)
        # VLAN tags (802.1Q, QinQ), MPLS, PPPoE session
        while True:
            if et in ETH_VLAN:
                if n < off + 4:
                    self.bad("short_frame", "VLAN tag")
                    return None
                if vlan is None:
                    vlan = ((data[off] << 8) | data[off + 1]) & 0x0FFF
                et = (data[off + 2] << 8) | data[off + 3]
                off += 4
            elif et == 0x8847 or et == 0x8848:  # MPLS: skip labels to bottom of stack
                while True:
                    if n < off + 4:
                        self.bad("short_frame", "MPLS label")
                        return None
                    bos = data[off + 2] & 1
                    off += 4
                    if bos:
                        break
                if n <= off:
                    return None
                et = 0x86DD if data[off] >> 4 == 6 else 0x0800
            elif et == 0x8864:  # PPPoE session
                if n < off + 8:
                    self.bad("short_frame", "PPPoE header")
                    return None
                ppp = (data[off + 6] << 8) | data[off + 7]
                off += 8
                et = 0x0800 if ppp == 0x21 else 0x86DD if ppp == 0x57 else 0
            else:
                return et, off, vlan, data

    def _ipv6(self, data: bytes, off: int, n: int) -> tuple[int, int, int, int, int, bool] | None:
        if n < off + 40:
            self.bad("truncated_ip", "IPv6 header cut short")
            return None
        if data[off] >> 4 != 6:
            self.bad("bad_ip_header", "IPv6 version")
            return None
        plen = (data[off + 4] << 8) | data[off + 5]
        nh = data[off + 6]
        s1, s2 = _QQ.unpack_from(data, off + 8)
        d1, d2 = _QQ.unpack_from(data, off + 24)
        sa = (s1 << 64) | s2
        da = (d1 << 64) | d2
        end = off + 40 + plen
        if plen == 0 or end > n:
            end = n
        p = off + 40
        frag = False
        while nh in (0, 43, 60, 44, 51, 135, 139, 140):
            if p + 8 > end:
                self.bad("truncated_ip6_ext", f"extension header {nh}")
                return None
            if nh == 44:
                fo = (data[p + 2] << 8) | data[p + 3]
                frag = True
                self.fragments += 1
                if fo & 0xFFF8:
                    return None
                nh = data[p]
                p += 8
            elif nh == 51:
                ln = (data[p + 1] + 2) * 4
                nh = data[p]
                p += ln
            else:
                ln = (data[p + 1] + 1) * 8
                nh = data[p]
                p += ln
        if p > end:
            self.bad("truncated_ip6_ext", "extension header past the packet")
            return None
        return nh, p, end, sa, da, frag

    # ------------------------------------------------------------------ flows & timers
    def _emit_flow(self, f: Flow, reason: str) -> None:
        app = f.app
        if app is not None:
            # Break the flow <-> inspector (emit closure) reference cycle, so the flow is
            # freed by reference counting instead of waiting for the cyclic collector.
            f.app = None
            if isinstance(app, Inspector):
                app.close(f.last, f.pkt_no)
        self.out.append(flow_event(f, self.factory, reason))
        self._flow_detections(f)

    def _close_due(self, ts: float) -> None:
        closing = self.closing
        linger = self.s.flow_tcp_closed_linger
        while closing and closing[0][0] + linger <= ts:
            _t, key, f = closing.popleft()
            if self.flows.get(key) is f:
                del self.flows[key]
                self._emit_flow(f, "rst" if (f.ofl | f.rfl) & RST else "fin")

    def _sweep_step(self, ts: float) -> None:
        """Check the next slice of the flow table for idle/active timeouts; a full pass takes
        as many packets as there are flows, and starts at most every sweep interval."""
        self.publish()
        if self._sweep_pos >= len(self._sweep_keys):
            if ts < self._next_sweep:
                return
            self._next_sweep = ts + self.s.flow_sweep_interval
            self._sweep_keys = list(self.flows)
            self._sweep_pos = 0
        keys = self._sweep_keys[self._sweep_pos : self._sweep_pos + 2048]
        self._sweep_pos += 2048
        self._expire(keys, ts)

    def _expire(self, keys: Iterable[int], ts: float) -> None:
        idle = self.s.flow_idle_timeout
        active = self.s.flow_active_timeout
        flows = self.flows
        for key in keys:
            f = flows.get(key)
            if f is None:
                continue
            if ts - f.last > idle:
                del flows[key]
                self._emit_flow(f, "idle_timeout")
            elif ts - f.first > active:
                self._emit_flow(f, "active_timeout")
                # restart the flow record in place, keeping its direction
                nf = Flow(f.a, f.b, f.ap, f.bp, f.proto, f.v6, f.odir, ts, self.pkt_no)
                nf.ofl, nf.rfl, nf.vlan = f.ofl & ~(FIN | RST), f.rfl & ~(FIN | RST), f.vlan
                nf.app, nf.cid = f.app, f.cid
                flows[key] = nf

    def tick(self, now: float) -> None:
        """Run the timers at wall-clock time ``now`` (live capture with little traffic)."""
        if self.closing:
            self._close_due(now)
        self._expire(list(self.flows), now)
        self.publish()

    def _evict(self, ts: float) -> None:
        n = max(1, self.s.flow_max // 100)
        victims = []
        for key in self.flows:
            victims.append(key)
            if len(victims) >= n:
                break
        for key in victims:
            f = self.flows.pop(key)
            self._emit_flow(f, "evicted")
        self.evicted += len(victims)

    def finish(self) -> None:
        """End of capture: emit every open flow and pending application event."""
        for f in list(self.flows.values()):
            self._emit_flow(f, "fin" if f.closed else "end_of_capture")
        self.flows.clear()
        self.closing.clear()
        self.publish()

    # ------------------------------------------------------------------ applications
    def _inspect(self, f: Flow, is_orig: bool, payload: bytes, ts: float, sp: int, dp: int) -> None:
        app = f.app
        if app is DNS_UDP:
            self._dns(f, is_orig, payload, ts)
            return
        if app is PROBE:
            _, rport = f.resp()
            limit = self.s.max_payload_inspect
            if rport in LOGIN_PORTS:
                app = LoginInspector(self._app_emitter(f), LOGIN_PORTS[rport])
            elif rport in DNS_PORTS:
                app = DnsTcpInspector(self._app_emitter(f), self.bad)
            elif is_orig and looks_like_request(payload):
                app = HttpInspector(self._app_emitter(f), limit)
            elif is_orig and len(payload) > 5 and payload[0] == 22 and payload[1] == 3:
                app = TlsInspector(self._app_emitter(f), self.bad, limit)
            elif not is_orig and looks_like_response(payload):
                app = HttpInspector(self._app_emitter(f), limit)
            elif is_orig or f.opk + f.rpk > 8:
                f.app = None  # an application we do not parse
                return
            else:
                return  # the server spoke first (banner): decide on the client's bytes
            f.app = app
        try:
            app.feed(is_orig, payload, ts, self.pkt_no)
        except Exception as e:  # an inspector bug must not stop the capture
            self.bad("inspector_error", f"{type(app).__name__}: {e!r}")
            app.done = True
        if app.done:
            f.app = None  # (also breaks the flow <-> inspector cycle)

    def _app_emitter(self, f: Flow):  # type: ignore[no-untyped-def]
        def emit(kind: str, ts: float, pkt_no: int, is_orig: bool, fields: dict[str, Any]) -> None:
            self._app_event(f, kind, ts, pkt_no, is_orig, fields)

        return emit

    def _app_event(
        self, f: Flow, kind: str, ts: float, pkt_no: int, is_orig: bool, fields: dict[str, Any]
    ) -> None:
        oa, op = f.orig()
        ra, rp = f.resp()
        if is_orig:
            sa, sp, da, dp = oa, op, ra, rp
        else:
            sa, sp, da, dp = ra, rp, oa, op
        sip, dip = ip_str(sa, f.v6), ip_str(da, f.v6)
        cid = f.community_id()
        if kind == "credentials":
            self._credentials(
                ts,
                pkt_no,
                sip,
                sp,
                dip,
                dp,
                cid,
                fields["protocol"],
                fields["user"],
                fields["outcome"],
            )
            return
        ev = self.factory.base(
            f"network.{kind}", ts, ["network"] + (["web"] if kind == "http" else []), ["protocol"]
        )
        endpoints(ev, sip, sp, dip, dp)
        ev["network"] = {
            "transport": TRANSPORTS.get(f.proto, str(f.proto)),
            "type": "ipv6" if f.v6 else "ipv4",
            "protocol": kind,
            "community_id": cid,
        }
        if kind == "dns":
            self._fill_dns(ev, fields, is_orig, ts, sip)
        else:
            auth_scheme = fields.pop("_auth_scheme", None)
            basic_user = fields.pop("_basic_user", None)
            ev.update(fields)
            if kind == "http":
                ev.setdefault("url", {})["port"] = rp
                ev.setdefault("http", {}).setdefault("request", {})
                if auth_scheme is not None:
                    ev["http"]["request"]["authorization_scheme"] = auth_scheme
                if basic_user is not None:
                    self._credentials(ts, pkt_no, sip, sp, dip, dp, cid, "http", basic_user, "")
                    ev["user"] = {"name": basic_user}
            elif kind == "tls" and ev["tls"]["client"].get("server_name"):
                ev["destination"]["domain"] = ev["tls"]["client"]["server_name"]
        self.out.append((self.factory.id(kind, cid, ts, pkt_no, len(self.out)), ev))

    def _credentials(
        self,
        ts: float,
        pkt_no: int,
        sip: str,
        sp: int,
        dip: str,
        dp: int,
        cid: str,
        protocol: str,
        user: str,
        outcome: str,
    ) -> None:
        ev = self.factory.alert_base("network.cleartext_credentials", ts, "cleartext-credentials")
        ev["event"]["category"] = ["network", "authentication"]
        ev["event"]["type"] = ["info", "start"]
        if outcome:
            ev["event"]["outcome"] = outcome
        endpoints(ev, sip, sp, dip, dp)
        ev["network"] = {"transport": "tcp", "protocol": protocol, "community_id": cid}
        ev["user"] = {"name": user}
        ev["related"]["user"] = [user]
        ev["message"] = f"{protocol} credentials sent in clear text (user {user!r})"
        self.out.append((self.factory.id("credentials", cid, ts, pkt_no, len(self.out)), ev))

    def _dns(self, f: Flow, is_orig: bool, payload: bytes, ts: float) -> None:
        try:
            fields: dict[str, Any] = {"dns": parse_dns(payload)}
        except (DnsError, IndexError, ValueError, OSError, struct.error) as e:
            self.bad("dns_malformed", str(e))
            fields = {"_error": str(e)}
        self._app_event(f, "dns", ts, self.pkt_no, is_orig, fields)

    def _fill_dns(
        self, ev: dict[str, Any], fields: dict[str, Any], is_orig: bool, ts: float, sip: str
    ) -> None:
        if "_error" in fields:
            ev["error"] = {"message": fields["_error"], "type": "parse"}
            ev["tags"] = ["_parse_failure", "dns_malformed"]
            ev["event"]["type"] = ["protocol", "error"]
            return
        dns = fields["dns"]
        ev["dns"] = dns
        self._dns_pair(ev, dns, ts)
        q = dns.get("question")
        if dns["type"] == "query" and q:
            self._dns_tunnel_check(ev, q, ts, sip)

    def _dns_pair(self, ev: dict[str, Any], dns: dict[str, Any], ts: float) -> None:
        """Remember a query; give its answer (same flow, same DNS id) the round-trip time."""
        key = (ev["network"]["community_id"], dns["id"])
        pending = self._dns_queries
        if dns["type"] == "query":
            if key not in pending:  # a retransmission keeps the first query's time
                if len(pending) >= MAX_DNS_QUERIES:
                    for old in list(itertools.islice(pending, MAX_DNS_QUERIES // 10)):
                        del pending[old]
                pending[key] = ts
            return
        sent = pending.pop(key, None)
        if sent is not None and ts >= sent:
            ev["event"]["start"] = _iso(sent)
            ev["event"]["end"] = _iso(ts)
            ev["event"]["duration"] = round((ts - sent) * 1e9)  # ECS: nanoseconds

    def _dns_tunnel_check(self, ev: dict[str, Any], q: dict[str, Any], ts: float, sip: str) -> None:
        s = self.s
        sub = q.get("subdomain", "")
        longest = max((len(x) for x in sub.split(".")), default=0) if sub else 0
        ent = entropy(sub.replace(".", "")) if len(sub) >= 16 else 0.0
        suspicious = (
            longest >= s.dns_long_label
            or ent >= s.dns_entropy_threshold
            or q.get("type") in ("TXT", "NULL")
        )
        if not suspicious:
            return
        domain = q.get("registered_domain", q.get("name", ""))
        w = self.dns_tunnel.add(domain, sub[:64], ts)
        if w is None:
            return
        out = self.factory.alert_base("network.dns_tunnel", ts, "dns-tunnel")
        out["source"] = {"ip": sip, "address": sip}
        out["related"] = {"ip": [sip], "hosts": [domain]}
        out["dns"] = {"question": {"registered_domain": domain, "name": q.get("name")}}
        out["dns_tunnel"] = {
            "suspicious_queries": w.count,
            "distinct_subdomains_sampled": len(w.items),
            "window_seconds": s.detection_window,
            "max_label_length": longest,
            "subdomain_entropy": round(ent, 3),
        }
        out["event"]["start"] = _iso(w.start)
        out["message"] = (
            f"{w.count} suspicious DNS queries (long/high-entropy labels, TXT/NULL) for "
            f"{domain} within {s.detection_window:g}s"
        )
        self.out.append((self.factory.id("dns_tunnel", domain, w.start), out))

    # ------------------------------------------------------------------ ICMP, ARP
    def _icmp_error(
        self,
        ts: float,
        proto: int,
        itype: int,
        data: bytes,
        l4: int,
        end: int,
        sa: int,
        da: int,
        v6: bool,
    ) -> None:
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
        ev["event"]["action"] = _icmp_action(proto, itype)
        t = self._inner_tuple(data, inner, end)
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
            if isa < ida or (isa == ida and isp <= idp):
                key = (isa << 168) | (ida << 40) | (isp << 24) | (idp << 8) | iproto
            else:
                key = (ida << 168) | (isa << 40) | (idp << 24) | (isp << 8) | iproto
            if iv6:
                key |= V6_BIT
            f = self.flows.get(key)
            if f is not None:
                if not isinstance(f.icmp, list):
                    f.icmp = []
                if len(f.icmp) < 10:
                    f.icmp.append((itype, code))
                ev["icmp"]["flow_found"] = True
        else:
            self.bad("icmp_inner_truncated", "ICMP error without the original header")
        self.out.append((self.factory.id("icmp", ts, self.pkt_no), ev))

    def _inner_tuple(self, data: bytes, off: int, end: int) -> tuple | None:
        if end - off < 20:
            return None
        ver = data[off] >> 4
        if ver == 4:
            ihl = (data[off] & 15) << 2
            proto = data[off + 9]
            sa, da = struct.unpack_from("!II", data, off + 12)
            l4 = off + ihl
            v6 = False
        elif ver == 6 and end - off >= 40:
            proto = data[off + 6]
            sa = int.from_bytes(data[off + 8 : off + 24], "big")
            da = int.from_bytes(data[off + 24 : off + 40], "big")
            l4 = off + 40
            v6 = True
        else:
            return None
        sp = dp = 0
        if proto in (6, 17) and end - l4 >= 4:
            sp, dp = _PORTS.unpack_from(data, l4)
        elif proto in (1, 58) and end - l4 >= 2:
            sp, dp, _ = _icmp_ports(proto, data[l4], data[l4 + 1])
        return proto, sa, da, sp, dp, v6

    def _arp(self, ts: float, data: bytes, off: int, vlan: int | None) -> None:
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
        self.out.append((self.factory.id("arp", ts, self.pkt_no), ev))
        if a["op"] not in (1, 2):
            return
        for anomaly in self.arp.observe(a["sha"], a["spa"]):
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
            self.out.append(
                (self.factory.id("arp_anomaly", anomaly["action"], ts, self.pkt_no), out)
            )

    # ------------------------------------------------------------------ derived detections
    def _flow_detections(self, f: Flow) -> None:
        s = self.s
        if f.proto not in (6, 17):
            return
        oa, _op = f.orig()
        ra, rp = f.resp()
        if f.is_probe():
            w = self.scan_ports.add((oa, ra, f.v6), rp, f.last)
            if w is not None:
                self._scan_event(f, "vertical", w.start, w.count, len(w.items), oa, ra, None)
            w = self.scan_hosts.add((oa, rp, f.proto, f.v6), ra, f.last)
            if w is not None:
                self._scan_event(f, "horizontal", w.start, w.count, len(w.items), oa, None, rp)
        if f.half_open():
            w = self.synflood.add((ra, rp, f.v6), oa, f.last)
            if w is not None:
                dip = ip_str(ra, f.v6)
                ev = self.factory.alert_base("network.synflood", f.last, "syn-flood")
                ev["destination"] = {"ip": dip, "address": dip, "port": rp}
                ev["related"] = {"ip": [dip]}
                ev["network"] = {"transport": "tcp", "type": "ipv6" if f.v6 else "ipv4"}
                ev["synflood"] = {
                    "half_open_connections": w.count,
                    "sources_sampled": len(w.items),
                    "window_seconds": s.detection_window,
                }
                ev["event"]["start"] = _iso(w.start)
                ev["message"] = (
                    f"{w.count} half-open TCP connections to {dip}:{rp} within "
                    f"{s.detection_window:g}s"
                )
                self.out.append((self.factory.id("synflood", dip, rp, w.start), ev))
        if (
            f.proto == 6
            and rp in self.brute_ports
            and f.ofl & ACK
            and f.ofl & SYN
            and f.last - f.first <= s.bruteforce_max_duration
        ):
            w = self.brute.add((oa, ra, rp, f.v6), None, f.last)
            if w is not None:
                sip, dip = ip_str(oa, f.v6), ip_str(ra, f.v6)
                ev = self.factory.alert_base("network.bruteforce", f.last, "brute-force")
                ev["event"]["category"] = ["network", "authentication", "intrusion_detection"]
                endpoints(ev, sip, None, dip, rp)
                ev["network"] = {"transport": "tcp", "type": "ipv6" if f.v6 else "ipv4"}
                ev["bruteforce"] = {
                    "short_connections": w.count,
                    "window_seconds": s.detection_window,
                    "max_duration_seconds": s.bruteforce_max_duration,
                }
                ev["event"]["start"] = _iso(w.start)
                ev["message"] = (
                    f"{w.count} short connections from {sip} to {dip}:{rp} within "
                    f"{s.detection_window:g}s"
                )
                self.out.append((self.factory.id("bruteforce", sip, dip, rp, w.start), ev))

    def _scan_event(
        self,
        f: Flow,
        kind: str,
        start: float,
        probes: int,
        distinct: int,
        oa: int,
        ra: int | None,
        rp: int | None,
    ) -> None:
        sip = ip_str(oa, f.v6)
        ev = self.factory.alert_base("network.scan", f.last, f"{kind}-scan")
        ev["source"] = {"ip": sip, "address": sip}
        ev["related"] = {"ip": [sip]}
        if ra is not None:
            dip = ip_str(ra, f.v6)
            ev["destination"] = {"ip": dip, "address": dip}
            ev["related"]["ip"].append(dip)
        if rp is not None:
            ev["destination"] = {"port": rp}
        ev["network"] = {
            "transport": TRANSPORTS.get(f.proto, str(f.proto)),
            "type": "ipv6" if f.v6 else "ipv4",
        }
        ev["scan"] = {
            "type": kind,
            "probes": probes,
            "distinct_ports" if kind == "vertical" else "distinct_hosts": distinct,
            "window_seconds": self.s.detection_window,
        }
        ev["event"]["start"] = _iso(start)
        what = "ports" if kind == "vertical" else "hosts"
        ev["message"] = (
            f"{sip} probed {distinct} distinct {what} within {self.s.detection_window:g}s"
        )
        self.out.append((self.factory.id("scan", kind, sip, ra or 0, rp or 0, start), ev))

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
        metrics.FLOWS_ACTIVE.set(len(self.flows))


def _icmp_action(proto: int, itype: int) -> str:
    if proto == 1:
        return {
            3: "destination-unreachable",
            4: "source-quench",
            5: "redirect",
            11: "time-exceeded",
            12: "parameter-problem",
        }.get(itype, f"icmp-type-{itype}")
    return {
        1: "destination-unreachable",
        2: "packet-too-big",
        3: "time-exceeded",
        4: "parameter-problem",
    }.get(itype, f"icmp-type-{itype}")
