"""RELP (the Reliable Event Logging Protocol of rsyslog's omrelp/imrelp): syslog over TCP with
an application-level acknowledgement per message, so a sender keeps every message we have not
acknowledged and sends it again after a reconnect.

socmon acknowledges a message (``TXNR rsp 6 200 OK``) only when the pipeline says it is
durable (stored in Elasticsearch or in the disk spool), never on receipt: killing the
collector loses nothing the sender sent. A message sent again after such a kill gets the same
event id (the sender's address and a hash of the message: rsyslog's forwarding formats carry
microsecond timestamps), so it is stored once; two byte-identical messages from one sender are
one event too (the second counted as a duplicate by the bulk writer).

Frames (librelp): ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``. Commands: ``open`` (answered with
our offers: ``commands=syslog``), ``syslog``, ``close``; anything else gets ``500``. A frame that
breaks the grammar is reported with the sender and the reason and the connection is closed
(the sender reconnects and sends its unacknowledged messages again). A message longer than
the listener's ``max_message_bytes`` is kept truncated (flagged) and acknowledged.
"""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_TXNR = 999_999_999
_HEADER = re.compile(rb"([0-9]{1,9}) ([A-Za-z]{1,32}) ([0-9]{1,9})")
# longest header: 9 digits, 32 letters, 9 digits and two spaces
_MAX_HEADER = 9 + 1 + 32 + 1 + 9
OFFERS = b"relp_version=0\nrelp_software=socmon\ncommands=syslog"


class RelpError(ValueError):
    """A frame that breaks the RELP grammar (the connection cannot stay in sync)."""


@dataclass(slots=True)
class Frame:
    txnr: int
    command: str
    data: bytes
    truncated: bool = False  # DATA longer than the limit: its first ``limit`` bytes


class FrameReader:
    """Frames out of a byte stream fed in chunks of any size. DATA beyond ``limit`` bytes is
    skipped as it arrives (never buffered)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._pending: Frame | None = None  # header read, DATA still arriving
        self._need = 0  # bytes of DATA still to come
        self._skip = 0  # of those, how many are beyond the limit (discarded)

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buf += data
        while True:
            if self._pending is None:
                frame = self._header()
                if frame is None:
                    return
                if self._need == 0:
                    self._trailer()
                    yield frame
                    continue
            frame = self._data()
            if frame is None:
                return
            yield frame

    def _header(self) -> Frame | None:
        buf = self._buf
        m = _HEADER.match(buf)
        if m is None or m.end() == len(buf):
            if len(buf) > _MAX_HEADER or (buf and m is None and not _prefix_ok(bytes(buf))):
                raise RelpError(f"bad frame header {bytes(buf[:64])!r}")
            return None  # incomplete
        txnr, command, size = int(m[1]), m[2].decode("ascii"), int(m[3])
        sep = buf[m.end() : m.end() + 1]
        if size == 0:
            if sep != b"\n":
                raise RelpError(f"frame {txnr}: DATALEN 0 must be followed by LF, not {sep!r}")
            del buf[: m.end()]  # the LF is the trailer, taken by _trailer
            self._need = 0
            return Frame(txnr, command, b"")
        if sep != b" ":
            raise RelpError(f"frame {txnr}: no space before DATA ({sep!r})")
        del buf[: m.end() + 1]
        self._pending = Frame(txnr, command, b"")
        self._need = size
        self._skip = max(0, size - self.limit)
        return self._pending

    def _data(self) -> Frame | None:
        assert self._pending is not None
        buf = self._buf
        keep = self._need - self._skip  # bytes of DATA still to keep
        if keep > 0:
            if len(buf) < keep:
                return None
            self._pending.data += bytes(buf[:keep])
            del buf[:keep]
            self._need -= keep
        if self._skip:
            dropped = min(self._skip, len(buf))
            del buf[:dropped]
            self._skip -= dropped
            self._need -= dropped
            self._pending.truncated = True
            if self._skip:
                return None
        if not buf:
            return None  # the trailer is still to come
        self._trailer()
        frame, self._pending = self._pending, None
        return frame

    def _trailer(self) -> None:
        if self._buf[:1] != b"\n":
            raise RelpError(f"no LF after the frame's data ({bytes(self._buf[:16])!r})")
        del self._buf[:1]


def _prefix_ok(b: bytes) -> bool:
    """Whether ``b`` (no complete header yet) can still become a valid header."""
    parts = b.split(b" ")
    if len(parts) > 3:
        return False
    for i, (part, pat) in enumerate(zip(parts, _PARTS, strict=False)):
        if part == b"" and i == len(parts) - 1:
            continue  # the next part has not begun
        if pat.fullmatch(part) is None:
            return False
    return True


_PARTS = (re.compile(rb"[0-9]{1,9}"), re.compile(rb"[A-Za-z]{1,32}"), re.compile(rb"[0-9]{1,9}"))


def frame(txnr: int, command: str, data: bytes = b"") -> bytes:
    head = f"{txnr} {command} {len(data)}".encode()
    return head + (b" " + data if data else b"") + b"\n"


def response(txnr: int, code: int = 200, text: str = "OK", offers: bytes = b"") -> bytes:
    body = f"{code} {text}".encode() + (b"\n" + offers if offers else b"")
    return frame(txnr, "rsp", body)


class Replies:
    """Responses of one connection. The pipeline acknowledges from its writer thread, which
    must never wait on a client, and a TLS connection must be used by one thread only: so
    responses are queued here and a byte on ``wakeup`` tells the connection's thread to send
    them (``flush``)."""

    def __init__(self) -> None:
        self._pending = 0  # messages handed to the pipeline, not yet durable
        self._idle = threading.Condition()
        self._q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.wakeup, self._poke = socket.socketpair()
        self.wakeup.setblocking(False)
        self._poke.setblocking(False)
        self._poked = False  # a wake-up is on its way: later responses ride along

    def send(self, data: bytes) -> None:
        self._q.put(data)  # first queued, then the flag read (``flush`` does the reverse)
        if not self._poked:
            self._poked = True
            with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
                self._poke.send(b"\0")

    def ack(self, txnr: int) -> Callable[[], None]:
        """The callback that acknowledges message ``txnr`` (called once, when durable)."""
        return self.track(lambda: response(txnr))

    def track(self, reply: Callable[[], bytes | None]) -> Callable[[], None]:
        """A callback for one message handed to the pipeline: once durable, ``reply()`` gives
        the bytes to send (None: nothing to send yet)."""
        with self._idle:
            self._pending += 1

        def done() -> None:
            data = reply()
            if data:
                self.send(data)
            with self._idle:
                self._pending -= 1
                if not self._pending:
                    self._idle.notify_all()

        return done

    def wait_acked(self, timeout: float) -> bool:
        """Wait until every message handed over is durable (a clean close)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def flush(self, conn: socket.socket) -> None:
        """Send every queued response (OSError: the client is gone; it sends again what it
        has no response for)."""
        self._poked = False
        with contextlib.suppress(OSError):
            while self.wakeup.recv(4096):
                pass
        parts = []
        with contextlib.suppress(queue.Empty):
            while True:
                parts.append(self._q.get_nowait())
        if parts:
            conn.sendall(b"".join(parts))

    def close(self) -> None:
        for s in (self.wakeup, self._poke):
            s.close()
