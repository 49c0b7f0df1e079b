"""Community ID v1 (https://github.com/corelight/community-id-spec): a direction-independent
hash of a flow's 5-tuple, so our flows join with Zeek, Suricata and other tools' records."""

from __future__ import annotations

import base64
import hashlib
import struct

# ICMP(v6) message types and their counterpart: such pairs hash as one bidirectional flow.
ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS = {
    128: 129,
    129: 128,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    130: 131,
    131: 130,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}
PORT_PROTOCOLS = (6, 17, 132)


def icmp_ports(proto: int, itype: int, icode: int) -> tuple[int, int, bool]:
    """(sport, dport, one_way) for an ICMP message as Community ID defines them."""
    pairs = ICMP6_PAIRS if proto == 58 else ICMP4_PAIRS
    peer = pairs.get(itype)
    if peer is None:
        return itype, icode, True
    return itype, peer, False


def community_id(
    saddr: bytes, daddr: bytes, proto: int, sport: int = 0, dport: int = 0, seed: int = 0
) -> str:
    """``1:<base64 sha1>`` of the flow; addresses are packed (4 or 16 bytes). For ICMP pass the
    type and code as sport/dport; protocols without ports hash with zero ports, as Zeek does."""
    one_way = False
    if proto in (1, 58):
        sport, dport, one_way = icmp_ports(proto, sport, dport)
    if not one_way and (saddr > daddr or (saddr == daddr and sport > dport)):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    h = hashlib.sha1(struct.pack("!H", seed))
    h.update(saddr)
    h.update(daddr)
    h.update(struct.pack("!BBHH", proto, 0, sport, dport))
    return "1:" + base64.b64encode(h.digest()).decode("ascii")
