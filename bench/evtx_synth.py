"""A multi-record EVTX file built from the corpora's EVTX files, for the benchmark.

The Sigma regression samples hold about one record each (202 files of one 64 KiB chunk), so
reading them measures opening files and decoding a chunk per record, not what reading a real
event log costs (hundreds of records a chunk, thousands of chunks a file). Real logs are not
in the corpora, so this builds one: for each source chunk, the chunk as it is (its records at
their offsets, its string and template tables) followed by copies of its records until the
chunk is full, as Windows fills a chunk with records of the same templates.

EVTX layout used (libevtx's documentation of the format):

- file header, 4 KiB: ``ElfFile\\0``, first/last chunk number, next record id, header size
  128, version 3.2, header block size 4096, number of chunks; flags at 120 and a CRC32 of the
  first 120 bytes at 124;
- chunk, 64 KiB: a 512-byte header (``ElfChnk\\0``, first/last record number and id, header
  size 128, offset of the last record, free space offset, CRC32 of the record data
  512..free, flags at 120, CRC32 of bytes 0..120 and 128..512 at 124; the common string and
  template offset tables) and records: ``**\\0\\0``, size, record id, FILETIME, BinXML, size;
- a record's BinXML is a fragment header and a template instance (template id, offset of
  the definition: the definition follows inline when that offset is the current position,
  else it refers to a definition earlier in the chunk), then the substitution values. A
  value of type BinXML (0x21) is a fragment of the same shape.

A copy is the record with every inline template definition replaced by a reference to the
original's (chunk offsets stay valid, since the copy lives in the same chunk), and its
``EventRecordID`` value (the UInt64 substitution equal to the original's) set to its new
record number. Copies parse to the original's JSON but for ``EventRecordID``
(``tests/collectors/test_evtx_synth.py`` checks every record).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import orjson

CHUNK = 65536
HEADER = 4096
_FRAGMENT = b"\x0f\x01\x01\x00"
_TEMPLATE_INSTANCE = 0x0C
_BINXML = 0x21
_UINT64 = 0x0A


def _reference_form(c: bytes, off: int, end: int, erid: int | None) -> tuple[bytes, int] | None:
    """The BinXML fragment ``c[off:end]`` with its inline template definitions (also in
    nested BinXML values) turned into references; with the offset, in the result, of the
    UInt64 value equal to ``erid`` (-1 if none). None when the fragment has another shape."""
    if c[off : off + 4] != _FRAGMENT or c[off + 4] != _TEMPLATE_INSTANCE:
        return None
    def_off = struct.unpack_from("<I", c, off + 10)[0]
    p = off + 14
    if def_off == p:  # inline definition: next offset, GUID, data size, data
        p += 24 + struct.unpack_from("<I", c, p + 20)[0]
    elif def_off > off:
        return None
    n = struct.unpack_from("<I", c, p)[0]
    desc = [struct.unpack_from("<HBB", c, p + 4 + 4 * i) for i in range(n)]
    v = p + 4 + 4 * n
    values: list[tuple[int, int, bytes]] = []
    for size, typ, pad in desc:
        val = c[v : v + size]
        if typ == _BINXML and size:
            sub = _reference_form(c, v, v + size, None)
            if sub is None:
                return None
            val = sub[0]
        values.append((typ, pad, val))
        v += size
    out = bytearray(c[off : off + 14])
    out += struct.pack("<I", n)
    for typ, pad, val in values:
        out += struct.pack("<HBB", len(val), typ, pad)
    erid_pos = -1
    for typ, _, val in values:
        if (
            erid is not None
            and erid_pos < 0
            and typ == _UINT64
            and len(val) == 8
            and struct.unpack("<Q", val)[0] == erid
        ):
            erid_pos = len(out)
        out += val
    out += c[v:end]
    return bytes(out), erid_pos


def _event_record_ids(path: Path) -> dict[int, int]:
    """Record number in the record header -> the EventRecordID of its XML."""
    import evtx

    out = {}
    for r in evtx.PyEvtxParser(str(path)).records_json():
        erid = orjson.loads(r["data"])["Event"]["System"].get("EventRecordID")
        if isinstance(erid, int):
            out[r["event_record_id"]] = erid
    return out


def build_multi_chunk(
    sources: Iterable[Path], out: Path
) -> tuple[int, list[tuple[Path, int, int]]]:
    """Write the multi-chunk file; returns (records, [(source, originals, copies) per chunk])."""
    chunks: list[bytes] = []
    layout: list[tuple[Path, int, int]] = []
    rid = 1
    for src in sources:
        data = src.read_bytes()
        if data[:8] != b"ElfFile\x00":
            continue
        erids = _event_record_ids(src)
        for ci in range(struct.unpack_from("<H", data, 42)[0]):
            c = bytearray(data[HEADER + ci * CHUNK : HEADER + (ci + 1) * CHUNK])
            if len(c) != CHUNK or c[:8] != b"ElfChnk\x00":
                continue
            free = struct.unpack_from("<I", c, 48)[0]
            recs = []
            off = 512
            while off + 28 <= free:
                sig, size = struct.unpack_from("<II", c, off)
                if sig != 0x2A2A or size < 28 or off + size > free:
                    break
                recs.append((off, size))
                off += size
            if not recs:
                continue
            copies = []
            frozen = bytes(c)
            for off, size in recs:
                old = struct.unpack_from("<Q", c, off + 8)[0]
                body = _reference_form(frozen, off + 24, off + size - 4, erids.get(old))
                if body is not None:
                    copies.append((frozen[off + 16 : off + 24], body))
            first = rid
            last_off = 0
            for off, _ in recs:  # the originals keep their bytes, renumbered in the header
                struct.pack_into("<Q", c, off + 8, rid)
                rid += 1
                last_off = off
            pos, k = free, 0
            while copies:
                ts, (body, erid_pos) = copies[k % len(copies)]
                size = 24 + len(body) + 4
                if pos + size > CHUNK:
                    break
                b = bytearray(body)
                if erid_pos >= 0:
                    struct.pack_into("<Q", b, erid_pos, rid)
                c[pos : pos + size] = (
                    struct.pack("<IIQ", 0x2A2A, size, rid) + ts + b + struct.pack("<I", size)
                )
                rid += 1
                last_off = pos
                pos += size
                k += 1
            c[pos:] = bytes(CHUNK - pos)
            struct.pack_into("<QQQQ", c, 8, first, rid - 1, first, rid - 1)
            struct.pack_into("<II", c, 44, last_off, pos)
            struct.pack_into("<I", c, 52, zlib.crc32(c[512:pos]))
            struct.pack_into("<I", c, 124, zlib.crc32(bytes(c[:120]) + bytes(c[128:512])))
            chunks.append(bytes(c))
            layout.append((src, len(recs), k))
    h = bytearray(HEADER)
    h[:8] = b"ElfFile\x00"
    struct.pack_into("<QQQIHHHH", h, 8, 0, len(chunks) - 1, rid, 128, 2, 3, HEADER, len(chunks))
    struct.pack_into("<I", h, 124, zlib.crc32(bytes(h[:120])))
    with open(out, "wb") as f:
        f.write(h)
        for c in chunks:
            f.write(c)
    return rid - 1, layout
