"""The lumberjack v2 protocol Beats (Winlogbeat, Filebeat, Elastic Agent) speak to Logstash's
Beats input, as elastic/go-lumber defines it.

Every frame starts with the version byte ``2`` and a type byte; integers are big-endian
uint32:

- ``2W count``: the window: how many data frames the client sends before it waits for an ACK;
- ``2J seq len payload``: one event, ``payload`` its JSON text;
- ``2C len zlib``: compressed frames; the zlib stream holds more frames (``2J`` normally);
- ``2A seq`` (server to client): every event of the window up to ``seq`` is taken.

The client numbers its events 1..count within each window and keeps a window until the ACK
of its last sequence number arrives; a smaller ``seq`` acknowledges part of the window (and
keeps the client from timing out). socmon sends an ACK only for events the pipeline made
durable, so what a killed socmon had not stored is sent again.

:class:`FrameReader` turns bytes fed in chunks of any size into :class:`Window` and
:class:`Data` items; it raises :class:`LumberjackError` on a frame that breaks the grammar
or a limit (the connection cannot stay in sync then and is closed).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

VERSION = ord("2")
WINDOW, JSON, COMPRESSED, ACK, DATA_KV = (ord(c) for c in "WJCAD")
_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")


class LumberjackError(ValueError):
    """A frame that breaks the protocol or a limit (the connection is closed)."""


@dataclass(slots=True)
class Window:
    size: int


@dataclass(slots=True)
class Data:
    seq: int
    payload: bytes
    truncated: bool = False  # longer than the limit: its first ``limit`` bytes


def ack(seq: int) -> bytes:
    return b"2A" + _U32.pack(seq)


def window(size: int) -> bytes:
    return b"2W" + _U32.pack(size)


def json_frame(seq: int, payload: bytes) -> bytes:
    return b"2J" + _U32x2.pack(seq, len(payload)) + payload


def compressed(frames: bytes, level: int = 6) -> bytes:
    body = zlib.compress(frames, level)
    return b"2C" + _U32.pack(len(body)) + body


class FrameReader:
    """Frames out of a byte stream. ``max_window``: the largest window accepted;
    ``max_event_bytes``: a longer payload is kept cut (flagged); ``max_batch_bytes``: the
    largest compressed frame, before and after decompression."""

    def __init__(self, max_window: int, max_event_bytes: int, max_batch_bytes: int) -> None:
        self.max_window = max_window
        self.max_event = max_event_bytes
        self.max_batch = max_batch_bytes
        self._buf = bytearray()
        self._skip = 0  # bytes of an over-long event still to discard
        self._cut: Data | None = None  # that event's head, yielded once it is skipped

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[Window | Data]:
        self._buf += data
        while True:
            if self._skip:
                n = min(self._skip, len(self._buf))
                del self._buf[:n]
                self._skip -= n
                if self._skip:
                    return
                assert self._cut is not None
                yield self._cut
                self._cut = None
            got = _next(self._buf, self, compressed_ok=True)
            if got is None:
                return
            item, used = got
            del self._buf[:used]
            if isinstance(item, _Overlong):
                self._skip, self._cut = item.rest, item.data
            elif isinstance(item, list):
                yield from item
            else:
                yield item


def _next(
    buf: bytes | bytearray | memoryview, r: FrameReader, compressed_ok: bool
) -> tuple[Window | Data | _Overlong | list[Window | Data], int] | None:
    """The first frame of ``buf`` and its length, or None while it is incomplete."""
    if len(buf) < 2:
        return None
    if buf[0] != VERSION:
        raise LumberjackError(f"unsupported protocol version byte {bytes(buf[:1])!r}")
    kind = buf[1]
    if kind == WINDOW:
        if len(buf) < 6:
            return None
        (size,) = _U32.unpack_from(buf, 2)
        if size == 0 or size > r.max_window:
            raise LumberjackError(f"window of {size} events (limit {r.max_window})")
        return Window(size), 6
    if kind == JSON:
        if len(buf) < 10:
            return None
        seq, size = _U32x2.unpack_from(buf, 2)
        keep = min(size, r.max_event)
        if size > r.max_event and len(buf) >= 10 + keep:
            # an over-long event: keep its head, skip the rest as it arrives
            return _Overlong(Data(seq, bytes(buf[10 : 10 + keep]), True), size - keep), 10 + keep
        if len(buf) < 10 + size:
            return None
        return Data(seq, bytes(buf[10 : 10 + size])), 10 + size
    if kind == COMPRESSED:
        if not compressed_ok:
            raise LumberjackError("compressed frame inside a compressed frame")
        if len(buf) < 6:
            return None
        (size,) = _U32.unpack_from(buf, 2)
        if size > r.max_batch:
            raise LumberjackError(f"compressed frame of {size} bytes (limit {r.max_batch})")
        if len(buf) < 6 + size:
            return None
        return _inflate(bytes(buf[6 : 6 + size]), r), 6 + size
    if kind == DATA_KV:
        raise LumberjackError("key/value data frames (lumberjack v1 'D') are not supported")
    raise LumberjackError(f"unknown frame type {bytes(buf[1:2])!r}")


@dataclass(slots=True)
class _Overlong:
    """An over-long event's head; ``rest`` bytes of it still to skip as they arrive."""

    data: Data
    rest: int


def _inflate(body: bytes, r: FrameReader) -> list[Window | Data]:
    d = zlib.decompressobj()
    try:
        raw = d.decompress(body, r.max_batch)
    except zlib.error as e:
        raise LumberjackError(f"compressed frame: {e}") from None
    if d.unconsumed_tail:
        raise LumberjackError(f"compressed frame inflates beyond {r.max_batch} bytes")
    if not d.eof:
        raise LumberjackError("compressed frame: zlib stream cut short")
    out: list[Window | Data] = []
    view = memoryview(raw)
    pos = 0
    inner = FrameReader(r.max_window, len(raw) + 1, r.max_batch)
    while pos < len(raw):
        got = _next(view[pos:], inner, compressed_ok=False)
        if got is None:
            raise LumberjackError("compressed frame ends inside a frame")
        item, used = got
        assert isinstance(item, Window | Data)
        if isinstance(item, Data) and len(item.payload) > r.max_event:
            item = Data(item.seq, item.payload[: r.max_event], truncated=True)
        out.append(item)
        pos += used
    return out
