"""Decoding of the layers the hot path does not inline: link types other than plain Ethernet
(VLAN/QinQ, MPLS, PPPoE, Linux cooked, raw IP, BSD loopback, and through scapy anything else),
IPv6 with its extension headers, and the IP header quoted inside an ICMP error.

Plain Ethernet + IPv4 (nearly every packet) is decoded inline in ``engine.PacketProcessor``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from socmon.collectors.network.communityid import icmp_ports

ETH_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
IP6_EXTENSIONS = (0, 43, 60, 44, 51, 135, 139, 140)
_QQ = struct.Struct("!QQ")
_PORTS = struct.Struct("!HH")

# (ethertype, offset of the network header, VLAN id, frame bytes from that layer on)
Link = tuple[int, int, int | None, bytes]
# (next header, transport offset, end of packet, source, destination, fragment?)
Ip6 = tuple[int, int, int, int, int, bool]


class LinkDecoder:
    """``bad(reason, detail)`` reports malformed input; ``stats`` counts frames we skip on
    purpose; ``fragments`` counts IPv6 fragments seen."""

    def __init__(self, bad: Callable[[str, str], None], stats: dict[str, int]) -> None:
        self.bad = bad
        self.stats = stats
        self.fragments = 0

    def _skip(self, reason: str) -> None:
        self.stats[reason] = self.stats.get(reason, 0) + 1

    def link(self, lt: int, data: bytes, n: int) -> Link | None:
        vlan = None
        if lt == 1:
            if n < 14:
                self.bad("short_frame" if n else "empty_frame", f"{n} bytes")
                return None
            et = (data[12] << 8) | data[13]
            off = 14
            if et <= 1500:  # 802.3 length field: LLC (STP, CDP...), nothing for us
                self._skip("non_ip_frames")
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

    def _scapy_link(self, lt: int, data: bytes) -> Link | None:
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
        self._skip("non_ip_frames")
        return None

    def ipv6(self, data: bytes, off: int, n: int) -> Ip6 | None:
        """The IPv6 header and its extension headers; None for a bad header or a non-first
        fragment (no transport header to read)."""
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
        while nh in IP6_EXTENSIONS:
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


def inner_tuple(data: bytes, off: int, end: int) -> tuple[int, int, int, int, int, bool] | None:
    """(proto, source, destination, source port, destination port, v6) of the IP header an
    ICMP error quotes at ``off``; None when it is cut short."""
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
        sp, dp, _ = icmp_ports(proto, data[l4], data[l4 + 1])
    return proto, sa, da, sp, dp, v6
