"""A small, strict DNS message parser (RFC 1035 + common RR types) to ECS ``dns.*``.

Written by hand rather than with scapy's DNS layer: it is ~20x faster, and every malformation
(bad compression pointers, loops, truncation, bad lengths) becomes a ``DnsError`` with a reason
instead of an exception deep inside a dissector.
"""

from __future__ import annotations

import math
import socket
import struct
from collections import Counter
from typing import Any

QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    10: "NULL",
    11: "WKS",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    43: "DS",
    44: "SSHFP",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    256: "URI",
    257: "CAA",
}
CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}
MAX_RECORDS = 200  # more answers than this in one message is hostile; we stop reading


class DnsError(ValueError):
    """A malformed DNS message; ``args[0]`` is the reason."""


def qtype_name(t: int) -> str:
    return QTYPES.get(t, f"TYPE{t}")


def read_name(msg: bytes, off: int) -> tuple[str, int]:
    """(name, offset after the name in the original position), following compression."""
    labels: list[str] = []
    end = -1
    jumps = 0
    total = 0
    n = len(msg)
    while True:
        if off >= n:
            raise DnsError("name runs past the message")
        length = msg[off]
        if length == 0:
            off += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if off + 1 >= n:
                raise DnsError("truncated compression pointer")
            ptr = ((length & 0x3F) << 8) | msg[off + 1]
            if end < 0:
                end = off + 2
            jumps += 1
            if jumps > 64 or ptr >= n:
                raise DnsError("compression pointer loop or out of range")
            off = ptr
            continue
        if kind:
            raise DnsError("unsupported label type")
        off += 1
        if off + length > n:
            raise DnsError("label runs past the message")
        labels.append(msg[off : off + length].decode("ascii", "backslashreplace"))
        total += length + 1
        if total > 255:
            raise DnsError("name longer than 255 bytes")
        off += length
    return ".".join(labels) or ".", (end if end >= 0 else off)


def _rdata(msg: bytes, rtype: int, off: int, rdlen: int) -> str:
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntoa(msg[off : off + 4])
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, msg[off : off + 16])
    if rtype in (2, 5, 12, 39):
        return read_name(msg, off)[0]
    if rtype == 15 and rdlen >= 3:
        return f"{struct.unpack_from('!H', msg, off)[0]} {read_name(msg, off + 2)[0]}"
    if rtype == 16:
        parts = []
        p, end = off, off + rdlen
        while p < end:
            ln = msg[p]
            if p + 1 + ln > end:
                raise DnsError("TXT string runs past its record")
            parts.append(msg[p + 1 : p + 1 + ln].decode("utf-8", "backslashreplace"))
            p += 1 + ln
        return " ".join(parts)
    if rtype == 33 and rdlen >= 7:
        prio, weight, port = struct.unpack_from("!HHH", msg, off)
        return f"{prio} {weight} {port} {read_name(msg, off + 6)[0]}"
    if rtype == 6:
        mname, p = read_name(msg, off)
        rname, _ = read_name(msg, p)
        return f"{mname} {rname}"
    return msg[off : off + min(rdlen, 64)].hex()


def parse_dns(msg: bytes) -> dict[str, Any]:
    """ECS ``dns`` object of one message (UDP payload, or TCP without the length prefix)."""
    if len(msg) < 12:
        raise DnsError("shorter than a DNS header")
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", msg, 0)
    qr = flags >> 15
    out: dict[str, Any] = {
        "id": str(ident),
        "type": "answer" if qr else "query",
        "op_code": OPCODES.get((flags >> 11) & 0xF, str((flags >> 11) & 0xF)),
        "response_code": RCODES.get(flags & 0xF, str(flags & 0xF)),
    }
    hf = [
        n
        for bit, n in ((0x400, "AA"), (0x200, "TC"), (0x100, "RD"), (0x80, "RA"), (0x20, "AD"))
        if flags & bit
    ]
    if (flags >> 4) & 0x1:  # CD
        hf.append("CD")
    if hf:
        out["header_flags"] = hf
    off = 12
    if qd > MAX_RECORDS or an + ns + ar > 4 * MAX_RECORDS:
        raise DnsError("implausible record counts")
    for i in range(qd):
        name, off = read_name(msg, off)
        if off + 4 > len(msg):
            raise DnsError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", msg, off)
        off += 4
        if i == 0:
            out["question"] = {
                "name": name,
                "type": qtype_name(qtype),
                "class": CLASSES.get(qclass & 0x7FFF, str(qclass)),
            }
            out["question"].update(split_domain(name))
    answers: list[dict[str, Any]] = []
    resolved: list[str] = []
    for _ in range(an):
        name, off = read_name(msg, off)
        if off + 10 > len(msg):
            raise DnsError("truncated resource record")
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", msg, off)
        off += 10
        if off + rdlen > len(msg):
            raise DnsError("resource data runs past the message")
        data = _rdata(msg, rtype, off, rdlen)
        off += rdlen
        answers.append(
            {
                "name": name,
                "type": qtype_name(rtype),
                "class": CLASSES.get(rclass, str(rclass)),
                "ttl": ttl,
                "data": data,
            }
        )
        if rtype in (1, 28):
            resolved.append(data)
    if answers:
        out["answers"] = answers
    if resolved:
        out["resolved_ip"] = resolved
    return out


# A few multi-label public suffixes, so ``x.example.co.uk`` gives ``example.co.uk``. A full
# public-suffix list is not needed to group tunnelling traffic by domain.
_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "edu", "ac", "gob", "or", "ne", "go"}


def split_domain(name: str) -> dict[str, str]:
    labels = [x for x in name.rstrip(".").split(".") if x]
    if len(labels) < 2:
        return {"registered_domain": name.rstrip(".")} if labels else {}
    n = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    out = {
        "top_level_domain": ".".join(labels[-(n - 1) :]),
        "registered_domain": ".".join(labels[-n:]),
    }
    if len(labels) > n:
        out["subdomain"] = ".".join(labels[:-n])
    return out


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())
