"""A fast reader of pcap and pcapng files (optionally gzip-compressed) on raw bytes.

scapy's readers build a Python object per packet; this one reads the file in large chunks and
yields ``(timestamp, linktype, frame_bytes, wire_length)`` with ``struct``, which is what the
flow hot path needs. Damage never raises out of the iterator: a truncated record, a corrupt
header or an unknown block is counted in ``stats`` (reason -> count) and reading stops (pcap
cannot resynchronise) or skips the block (pcapng can).
"""

from __future__ import annotations

import gzip
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024
# Largest record we accept; anything bigger is a corrupt header (jumbo frames are ~9 KB,
# TSO/GRO captures up to 256 KB).
MAX_RECORD = 1 << 20

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

Packet = tuple[float, int, bytes, int]


class PcapError(Exception):
    """The file is not a capture we can read (bad magic, empty)."""


def open_capture(path: str | Path) -> BinaryIO:
    """Open a capture, transparently decompressing gzip (by content, not by name)."""
    f = open(path, "rb")  # noqa: SIM115 - returned to the caller
    head = f.read(2)
    f.seek(0)
    if head == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return f


class _Buffer:
    """Chunked reads with a cursor; ``need(n)`` guarantees n bytes from the cursor or False."""

    __slots__ = ("buf", "eof", "f", "pos")

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.eof = False

    def need(self, n: int) -> bool:
        if len(self.buf) - self.pos >= n:
            return True
        if self.eof:
            return False
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        while have < n:
            try:
                data = self.f.read(max(CHUNK, n - have))
            except (EOFError, OSError, gzip.BadGzipFile) as e:
                # A truncated or corrupt gzip stream: keep what we have.
                log.warning("capture stream ended with an error", extra={"reason": str(e)})
                data = b""
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n


def iter_packets(f: BinaryIO, stats: dict[str, int]) -> Iterator[Packet]:
    """Yield ``(ts, linktype, frame, wirelen)`` from a pcap or pcapng stream.

    Raises PcapError only before the first packet (not a capture at all); later damage is
    counted in ``stats`` and ends or skips, never raises.
    """
    b = _Buffer(f)
    if not b.need(4):
        raise PcapError("empty file or shorter than a capture header")
    magic = b.buf[b.pos : b.pos + 4]
    if magic in PCAP_MAGICS:
        yield from _iter_pcap(b, stats)
    elif magic == PCAPNG_SHB:
        yield from _iter_pcapng(b, stats)
    else:
        raise PcapError(f"not a pcap/pcapng capture (magic {magic.hex()})")


def _iter_pcap(b: _Buffer, stats: dict[str, int]) -> Iterator[Packet]:
    if not b.need(24):
        stats["truncated_header"] = stats.get("truncated_header", 0) + 1
        return
    endian, tsres = PCAP_MAGICS[b.buf[b.pos : b.pos + 4]]
    _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack_from(
        endian + "HHiIII", b.buf, b.pos + 4
    )
    linktype = network & 0x0FFFFFFF
    b.pos += 24
    rec = struct.Struct(endian + "IIII")
    unpack_from = rec.unpack_from
    max_rec = max(MAX_RECORD, snaplen if snaplen < (1 << 28) else 0)
    while True:
        buf = b.buf
        pos = b.pos
        if len(buf) - pos < 16 and not b.need(16):
            if len(b.buf) - b.pos:
                stats["truncated_record"] = stats.get("truncated_record", 0) + 1
            return
        buf = b.buf
        pos = b.pos
        sec, frac, caplen, wirelen = unpack_from(buf, pos)
        if caplen > max_rec:
            stats["corrupt_record_header"] = stats.get("corrupt_record_header", 0) + 1
            log.warning(
                "corrupt pcap record header; stopping this file",
                extra={"caplen": caplen, "position": pos},
            )
            return
        end = pos + 16 + caplen
        if end > len(buf):
            if not b.need(16 + caplen):
                stats["truncated_record"] = stats.get("truncated_record", 0) + 1
                return
            buf = b.buf
            pos = b.pos
            end = pos + 16 + caplen
        b.pos = end
        yield sec + frac * tsres, linktype, buf[pos + 16 : end], wirelen


def _iter_pcapng(b: _Buffer, stats: dict[str, int]) -> Iterator[Packet]:
    endian = "<"
    # per interface: (linktype, ts units per second)
    ifaces: list[tuple[int, float]] = []
    while True:
        if not b.need(12):
            if len(b.buf) - b.pos:
                stats["truncated_record"] = stats.get("truncated_record", 0) + 1
            return
        buf, pos = b.buf, b.pos
        btype_raw = buf[pos : pos + 4]
        if btype_raw == PCAPNG_SHB:
            bom = buf[pos + 8 : pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                return
            ifaces = []
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
            stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
            log.warning(
                "corrupt pcapng block length; stopping this file",
                extra={"block_length": blen, "block_type": btype},
            )
            return
        if not b.need(blen):
            stats["truncated_record"] = stats.get("truncated_record", 0) + 1
            return
        buf, pos = b.buf, b.pos
        b.pos = pos + blen
        body = pos + 8
        if btype == 6:  # Enhanced Packet Block
            if blen < 32:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                continue
            iface, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", buf, body)
            if iface >= len(ifaces) or caplen > blen - 32:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                continue
            lt, units = ifaces[iface]
            yield ((ts_hi << 32) | ts_lo) / units, lt, buf[body + 20 : body + 20 + caplen], wirelen
        elif btype == 3:  # Simple Packet Block
            if not ifaces:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                continue
            (wirelen,) = struct.unpack_from(endian + "I", buf, body)
            caplen = min(wirelen, blen - 16)
            yield 0.0, ifaces[0][0], buf[body + 4 : body + 4 + caplen], wirelen
        elif btype == 2:  # obsolete Packet Block
            iface, _drops, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(
                endian + "HHIIII", buf, body
            )
            if iface >= len(ifaces) or caplen > blen - 32:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                continue
            lt, units = ifaces[iface]
            yield ((ts_hi << 32) | ts_lo) / units, lt, buf[body + 20 : body + 20 + caplen], wirelen
        elif btype == 1:  # Interface Description Block
            if blen < 20:
                stats["corrupt_block"] = stats.get("corrupt_block", 0) + 1
                continue
            (lt,) = struct.unpack_from(endian + "H", buf, body)
            ifaces.append((lt, _tsresol(buf, body + 8, pos + blen - 4, endian)))
        # other blocks (name resolution, statistics, custom, SHB) carry no packets


def _tsresol(buf: bytes, off: int, end: int, endian: str) -> float:
    """Timestamp units per second from an IDB's options (if_tsresol, code 9)."""
    while off + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[off + 4]
            return float(2 ** (v & 0x7F)) if v & 0x80 else float(10 ** (v & 0x7F))
        off += 4 + ((length + 3) & ~3)
    return 1e6
