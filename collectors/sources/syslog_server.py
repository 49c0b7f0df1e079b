"""Syslog listeners: UDP (one datagram = one message), TCP and TLS (RFC 5425) with both
framings of RFC 6587 (octet counting ``LEN SP MSG`` and newline-delimited, detected per
message), RELP (rsyslog's reliable forwarding: each message acknowledged once durable,
``collectors/sources/relp.py``), bounded message size, idle clients closed after
``idle_timeout``.

The sender address goes to ``log.source.ip``/``log.source.port`` and ``observer.ip``; the
per-sender message counter (``socmon_collector_syslog_messages_total{sender=...}``) gives the
rate. UDP/TCP/TLS messages have no replayable position: ids come from listener, sender, receive
time and a sequence number (unique, not replay-stable; these senders do not send again). RELP
senders do send unacknowledged messages again: their ids come from sender and content.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import select
import socket
import ssl
import time
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.event import clean_ip
from socmon.collectors.lines import LineHandler
from socmon.collectors.metrics import BYTES, SYSLOG_MESSAGES
from socmon.collectors.sources import relp
from socmon.collectors.sources.listener import SESSION_STOP_SECONDS, StreamListener
from socmon.pipeline import Ack, EventSink
from socmon.settings.collectors import CollectorSettings, SyslogSource

log = logging.getLogger(__name__)
RELP_STOP_SECONDS = SESSION_STOP_SECONDS


class SyslogServer(StreamListener):
    def __init__(
        self,
        cfg: SyslogSource,
        settings: CollectorSettings,
        sink: EventSink,
        enricher: Enricher,
    ) -> None:
        super().__init__(cfg)
        self.cfg = cfg
        self.settings = settings
        self.sink = sink
        self.enricher = enricher
        self.acknowledges = cfg.protocol == "relp"
        self._seq = itertools.count()

    def _tls_wanted(self) -> bool:
        return self.cfg.protocol == "tls" or (
            self.cfg.protocol == "relp" and self.cfg.cert_file is not None
        )

    def start(self) -> None:
        if self.cfg.protocol != "udp":
            self._listen()
            return
        cfg = self.cfg
        family = socket.AF_INET6 if ":" in cfg.bind else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        s.bind((cfg.bind, cfg.port))
        self.port = s.getsockname()[1]
        s.settimeout(0.5)
        self._run(s, self._udp_loop)

    # ---------------------------------------------------------------- messages

    def _handler(self, sender: str) -> LineHandler:
        return LineHandler(
            "syslog",
            self.settings,
            self.enricher,
            self.sink,
            source_kind="syslog",
            source=f"{self.cfg.protocol}:{self.port}",
        )

    def _message(
        self,
        handler: LineHandler,
        raw: bytes,
        addr: tuple[Any, ...],
        ack: Ack | None = None,
        truncated: bool = False,
    ) -> bool:
        """Parse and emit one message; False when it was empty (nothing emitted, ``ack`` not
        taken). ``ack`` (RELP): the message's id comes from its content, not its arrival."""
        ip = clean_ip(str(addr[0])) or str(addr[0])
        port = int(addr[1]) if len(addr) > 1 else None
        SYSLOG_MESSAGES.labels(self.cfg.protocol, ip).inc()
        if len(raw) > self.cfg.max_message_bytes:
            truncated = True
            raw = raw[: self.cfg.max_message_bytes]
        raw = raw.rstrip(b"\r\n\x00")
        if not raw:
            return False
        if ack is not None:  # sent again after a reconnect: the same id
            position = hashlib.blake2b(raw, digest_size=16).hexdigest()
        else:
            position = f"{time.time_ns()}:{next(self._seq)}"
        extra = {
            "log": {
                "source": {
                    "ip": ip,
                    "address": f"{ip}:{port}" if port else ip,
                    **({"port": port} if port else {}),
                }
            },
            "observer": {"ip": ip},
        }
        handler.handle(
            raw,
            f"syslog:{self.cfg.protocol}:{self.port}:{ip}",
            position,
            ack,
            sender=ip,
            truncated=truncated,
            extra=extra,
        )
        return True

    def _udp_loop(self) -> None:
        assert self._sock is not None
        handlers: dict[str, LineHandler] = {}
        bufsize = max(self.cfg.max_message_bytes + 1, 65535)
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(bufsize)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            BYTES.labels("syslog").inc(len(data))
            h = handlers.get(addr[0])
            if h is None:
                if len(handlers) > 10_000:
                    handlers.clear()
                h = handlers[addr[0]] = self._handler(addr[0])
            try:
                self._message(h, data, addr)
            except Exception:
                log.exception("syslog message failed", extra={"sender": addr[0]})

    def _session(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        if self.cfg.protocol == "relp":
            self._read_relp(conn, addr)
        else:
            self._read_stream(conn, addr)

    def _read_stream(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        handler = self._handler(str(addr[0]))
        limit = self.cfg.max_message_bytes
        buf = b""
        skip = 0  # bytes of an over-long octet-counted frame still to discard
        got_any = False
        while not self._stop.is_set():
            data = self._recv(conn, str(addr[0]), got_any)
            if data is None:
                return
            if not data:
                break
            got_any = True
            if skip:
                dropped = min(skip, len(data))
                skip -= dropped
                data = data[dropped:]
            buf += data
            buf, skip = self._frames(handler, buf, addr, limit)
        if buf.strip():
            self._message(handler, buf, addr)

    def _read_relp(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        """One RELP session (collectors/sources/relp.py): each message acknowledged once the
        pipeline says it is durable. One thread does all the connection's I/O (a TLS
        connection cannot be shared): it waits for data from the client or a wake-up from
        the acknowledgements, whichever comes first."""
        ip = clean_ip(str(addr[0])) or str(addr[0])
        handler = self._handler(ip)
        reader = relp.FrameReader(self.cfg.max_message_bytes)
        replies = relp.Replies()
        idle = self.cfg.idle_timeout
        last = time.monotonic()
        opened = False
        with self.acked_session(conn, replies, ip, relp.RelpError, "relp_frame"):
            while not self._stop.is_set():
                buffered = isinstance(conn, ssl.SSLSocket) and conn.pending() > 0
                if not buffered:
                    wait = min(0.5, max(0.0, last + idle - time.monotonic()))
                    ready, _, _ = select.select([conn, replies.wakeup], [], [], wait)
                    if replies.wakeup in ready:
                        replies.flush(conn)
                    if conn not in ready:
                        if time.monotonic() - last >= idle:
                            self._recv_idle(ip, True)
                            return
                        continue
                data = self._recv(conn, ip)
                if not data:
                    return
                last = time.monotonic()
                for f in reader.feed(data):
                    if f.command == "syslog" and opened:
                        ack = replies.ack(f.txnr)
                        if not self._message(handler, f.data, addr, ack, f.truncated):
                            ack()  # empty: nothing to store, nothing to send again
                    elif f.command == "open":
                        opened = True
                        replies.send(relp.response(f.txnr, offers=relp.OFFERS))
                    elif f.command == "close":
                        replies.wait_acked(idle)
                        replies.send(relp.frame(f.txnr, "rsp"))  # as librelp: empty
                        return
                    elif f.command == "syslog":
                        raise relp.RelpError(f"frame {f.txnr}: syslog before open")
                    else:
                        replies.send(
                            relp.response(f.txnr, 500, f"command {f.command} not supported")
                        )
            # stopping: acknowledge what becomes durable in time, then tell the sender
            replies.wait_acked(RELP_STOP_SECONDS)
            replies.send(relp.frame(0, "serverclose"))

    def _frames(
        self, handler: LineHandler, buf: bytes, addr: tuple[Any, ...], limit: int
    ) -> tuple[bytes, int]:
        """Take complete frames out of ``buf``; return the incomplete rest and how many bytes
        of an over-long octet-counted frame are still to be discarded when they arrive."""
        while buf:
            if buf[:1].isdigit():
                sp = buf.find(b" ", 0, 12)
                if sp > 0 and buf[:sp].isdigit():  # octet counting
                    n = int(buf[:sp])
                    have = len(buf) - sp - 1
                    if have < n:
                        if n > limit and have >= limit:
                            # over-long: keep the first ``limit`` bytes (flagged truncated),
                            # discard the rest of the frame, stay in sync
                            self._message(handler, buf[sp + 1 : sp + 1 + limit + 1], addr)
                            return b"", n - have
                        return buf, 0
                    self._message(handler, buf[sp + 1 : sp + 1 + n], addr)
                    buf = buf[sp + 1 + n :]
                    continue
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > limit:
                    self._message(handler, buf[: limit + 1], addr)
                    return b"", 0
                return buf, 0
            self._message(handler, buf[:nl], addr)
            buf = buf[nl + 1 :]
        return buf, 0
