"""TLS ClientHello / ServerHello parsing: SNI, versions, JA3 and JA4 fingerprints."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

VERSIONS = {
    0x0300: "3.0",
    0x0301: "1.0",
    0x0302: "1.1",
    0x0303: "1.2",
    0x0304: "1.3",
    0x0002: "2.0",
    0xFEFF: "1.0",  # DTLS 1.0
    0xFEFD: "1.2",  # DTLS 1.2
    0xFEFC: "1.3",  # DTLS 1.3
}
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2"}


class TlsError(ValueError):
    pass


def is_grease(v: int) -> bool:
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def handshake_message(stream: bytes) -> tuple[int, bytes] | None:
    """The first handshake message from the start of a TLS record stream, reassembled over
    records; None while incomplete. Raises TlsError when it is not TLS."""
    hs = bytearray()
    off = 0
    while off + 5 <= len(stream):
        ctype, _ver, length = struct.unpack_from("!BHH", stream, off)
        if ctype != 22:
            raise TlsError("not a handshake record")
        hs += stream[off + 5 : off + 5 + length]
        off += 5 + length
        if len(hs) >= 4:
            mlen = int.from_bytes(hs[1:4], "big")
            if len(hs) >= 4 + mlen:
                return hs[0], bytes(hs[4 : 4 + mlen])
    return None


def _extensions(body: bytes, off: int) -> list[tuple[int, bytes]]:
    if off + 2 > len(body):
        return []
    (total,) = struct.unpack_from("!H", body, off)
    off += 2
    end = min(len(body), off + total)
    out = []
    while off + 4 <= end:
        etype, elen = struct.unpack_from("!HH", body, off)
        out.append((etype, body[off + 4 : off + 4 + elen]))
        off += 4 + elen
    return out


def _u16_list(data: bytes, off: int, length_bytes: int = 2) -> list[int]:
    if off + length_bytes > len(data):
        return []
    n = int.from_bytes(data[off : off + length_bytes], "big")
    p = off + length_bytes
    return [
        struct.unpack_from("!H", data, p + i)[0] for i in range(0, min(n, len(data) - p) - 1, 2)
    ]


def parse_client_hello(body: bytes) -> dict[str, Any]:
    """ECS ``tls`` fields of a ClientHello body (after the 4-byte handshake header)."""
    if len(body) < 38:
        raise TlsError("ClientHello too short")
    (legacy,) = struct.unpack_from("!H", body, 0)
    off = 34
    sid_len = body[off]
    off += 1 + sid_len
    if body[:2] in (b"\xfe\xff", b"\xfe\xfd", b"\xfe\xfc"):  # DTLS: cookie
        if off >= len(body):
            raise TlsError("truncated DTLS cookie")
        off += 1 + body[off]
    if off + 2 > len(body):
        raise TlsError("truncated cipher suites")
    ciphers = _u16_list(body, off)
    off += 2 + int.from_bytes(body[off : off + 2], "big")
    if off >= len(body):
        raise TlsError("truncated compression methods")
    off += 1 + body[off]
    exts = _extensions(body, off)
    sni = None
    groups: list[int] = []
    points: list[int] = []
    versions: list[int] = []
    alpn: list[str] = []
    sigalgs: list[int] = []
    for etype, data in exts:
        try:
            if etype == 0 and len(data) > 5:
                ln = struct.unpack_from("!H", data, 3)[0]
                sni = data[5 : 5 + ln].decode("ascii", "backslashreplace")
            elif etype == 10:
                groups = _u16_list(data, 0)
            elif etype == 11 and data:
                points = list(data[1 : 1 + data[0]])
            elif etype == 43 and data:
                versions = [
                    struct.unpack_from("!H", data, 1 + i)[0]
                    for i in range(0, min(data[0], len(data) - 1) - 1, 2)
                ]
            elif etype == 16 and len(data) > 2:
                p = 2
                while p < len(data):
                    ln = data[p]
                    alpn.append(data[p + 1 : p + 1 + ln].decode("ascii", "backslashreplace"))
                    p += 1 + ln
            elif etype == 13:
                sigalgs = _u16_list(data, 0)
        except (struct.error, IndexError):
            continue
    c = [x for x in ciphers if not is_grease(x)]
    e = [t for t, _ in exts if not is_grease(t)]
    g = [x for x in groups if not is_grease(x)]
    ja3_str = "{},{},{},{},{}".format(
        legacy,
        "-".join(map(str, c)),
        "-".join(map(str, e)),
        "-".join(map(str, g)),
        "-".join(map(str, points)),
    )
    v = [x for x in versions if not is_grease(x)]
    best = max(v) if v else legacy
    client: dict[str, Any] = {
        "ja3": hashlib.md5(ja3_str.encode(), usedforsecurity=False).hexdigest(),
        "ja4": _ja4(best, sni is not None, c, e, alpn, sigalgs, body[:2]),
        "supported_ciphers": [f"0x{x:04x}" for x in c][:100],
    }
    if sni:
        client["server_name"] = sni
    out: dict[str, Any] = {"client": client, "version_protocol": "tls"}
    if legacy in (0xFEFF, 0xFEFD, 0xFEFC):
        out["version_protocol"] = "dtls"
    out["version"] = VERSIONS.get(best, f"0x{best:04x}")
    if alpn:
        out["next_protocol"] = alpn[0]
    return out


def _ja4(
    version: int,
    has_sni: bool,
    ciphers: list[int],
    exts: list[int],
    alpn: list[str],
    sigalgs: list[int],
    legacy: bytes,
) -> str:
    """JA4 (FoxIO): ``t13d1516h2_<sha256 ciphers>_<sha256 extensions+sigalgs>``."""
    proto = "d" if legacy in (b"\xfe\xff", b"\xfe\xfd", b"\xfe\xfc") else "t"
    ver = JA4_VERSIONS.get(version, "00")
    a = alpn[0] if alpn else ""
    alpn_code = (a[0] + a[-1]) if a and a.isascii() and a.isprintable() else "00"
    if a and not (a.isascii() and a.isprintable()):
        alpn_code = "99"
    part_a = "{}{}{}{:02d}{:02d}{}".format(
        proto, ver, "d" if has_sni else "i", min(len(ciphers), 99), min(len(exts), 99), alpn_code
    )

    def h(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"

    part_b = h(",".join(f"{x:04x}" for x in sorted(ciphers)))
    ext_s = ",".join(f"{x:04x}" for x in sorted(x for x in exts if x not in (0, 16)))
    if sigalgs:
        ext_s += "_" + ",".join(f"{x:04x}" for x in sigalgs)
    part_c = h(ext_s)
    return f"{part_a}_{part_b}_{part_c}"


def parse_server_hello(body: bytes) -> dict[str, Any]:
    if len(body) < 38:
        raise TlsError("ServerHello too short")
    (legacy,) = struct.unpack_from("!H", body, 0)
    off = 35 + body[34]
    if off + 3 > len(body):
        raise TlsError("truncated ServerHello")
    (cipher,) = struct.unpack_from("!H", body, off)
    version = legacy
    for etype, data in _extensions(body, off + 3):
        if etype == 43 and len(data) >= 2:
            version = struct.unpack_from("!H", data, 0)[0]
    return {"version": VERSIONS.get(version, f"0x{version:04x}"), "cipher": f"0x{cipher:04x}"}
