"""Beats input: the lumberjack v2 listener Winlogbeat, Filebeat and Elastic Agent ship to
with ``output.logstash`` (collectors/sources/lumberjack.py for the frames,
collectors/parsers/beats.py for the events).

Each event is handed to the pipeline with an ack; the ACK of a window's sequence number goes
to the client only once every event of the window up to it is durable (stored in
Elasticsearch or in the disk spool), never on receipt: a client keeps what socmon has not
acknowledged and sends it again after a reconnect, so a killed socmon loses nothing, and the
event's deterministic id (collectors/parsers/beats.py) stores a resent event once.

While a window is open, the durable part of it is acknowledged every
``partial_ack_interval`` seconds (an ACK of a smaller sequence number: the client keeps
waiting instead of timing out, as with Logstash's keep-alive ACKs). Events read from every
client and not yet durable are bounded by ``max_inflight_events``: beyond it no more is read
(the clients wait for their ACKs: backpressure). A frame that breaks the protocol or a limit
(an oversize window or compressed frame) is counted (``beats_frame``) with the sender and the
reason and closes the connection; events already handed over are still stored and the client
sends its window again. An idle client is closed after ``idle_timeout`` (not while it waits
for our ACK).
"""

from __future__ import annotations

import collections
import logging
import select
import socket
import ssl
import threading
import time
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.event import clean_ip, failure
from socmon.collectors.lines import TRUNCATED, LineHandler
from socmon.collectors.metrics import report_bad
from socmon.collectors.parsers.beats import BeatsNormalizer
from socmon.collectors.sources import lumberjack as lj
from socmon.collectors.sources.listener import SESSION_STOP_SECONDS, StreamListener
from socmon.collectors.sources.relp import Replies
from socmon.pipeline import EventSink
from socmon.settings.collectors import BeatsSource, CollectorSettings

log = logging.getLogger(__name__)


class _Window:
    __slots__ = ("durable", "left")

    def __init__(self, size: int) -> None:
        self.left = size  # data frames still to come
        self.durable = 0  # highest sequence number made durable


class WindowAcks:
    """The ACKs of one connection: windows in the order they came, each acknowledged when
    its last event is durable; the oldest open one's durable part on :meth:`keepalive`.
    State changes and the queueing of ACKs happen under one lock, so ACKs leave in order."""

    def __init__(self, replies: Replies, inflight: InFlight) -> None:
        self.replies = replies
        self.inflight = inflight
        self.windows: collections.deque[_Window] = collections.deque()
        self._lock = threading.Lock()
        self.sent_at = time.monotonic()

    def open(self, size: int) -> None:
        with self._lock:
            if self.windows and self.windows[-1].left:
                raise lj.LumberjackError(
                    f"window announced with {self.windows[-1].left} events of the last to come"
                )
            self.windows.append(_Window(size))

    def event(self, seq: int) -> Any:
        """The ack callback of the next data frame (``seq``: its sequence number)."""
        with self._lock:
            if not self.windows or not self.windows[-1].left:
                raise lj.LumberjackError(f"data frame {seq} outside a window")
            w = self.windows[-1]
            w.left -= 1
            last = w.left == 0
        self.inflight.add()

        def durable() -> bytes | None:
            with self._lock:
                w.durable = seq
                if last:
                    if self.windows and self.windows[0] is w:
                        self.windows.popleft()
                    self.replies.send(lj.ack(seq))
                    self.sent_at = time.monotonic()
            self.inflight.done()
            return None

        return self.replies.track(durable)

    @property
    def waiting(self) -> bool:
        """Whether the client waits for an ACK: it sent whole windows we have not ACKed."""
        return bool(self.windows) and not self.windows[-1].left

    def keepalive(self, interval: float) -> None:
        with self._lock:
            if self.windows and time.monotonic() - self.sent_at >= interval:
                self.replies.send(lj.ack(self.windows[0].durable))
                self.sent_at = time.monotonic()


class InFlight:
    """Events read from all clients and not yet durable (bounded: backpressure)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.n = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.n += 1

    def done(self) -> None:
        with self._lock:
            self.n -= 1

    @property
    def full(self) -> bool:
        return self.n >= self.limit


class BeatsServer(StreamListener):
    kind = "beats"
    acknowledges = True

    def __init__(
        self, cfg: BeatsSource, settings: CollectorSettings, sink: EventSink, enricher: Enricher
    ) -> None:
        super().__init__(cfg)
        self.cfg = cfg
        self.settings = settings
        self.sink = sink
        self.enricher = enricher
        self.inflight = InFlight(cfg.max_inflight_events)

    def _session(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        """One client: read frames, hand events over, send ACKs as they become durable. One
        thread does all the connection's I/O (a TLS connection cannot be shared)."""
        cfg = self.cfg
        ip = clean_ip(str(addr[0])) or str(addr[0])
        handler = LineHandler(
            "auto",
            self.settings,
            self.enricher,
            self.sink,
            source_kind="beats",
            source=str(self.port),
        )
        normalize = BeatsNormalizer(handler.tp, handler.parser, self.settings.max_json_depth)
        reader = lj.FrameReader(cfg.max_window, cfg.max_event_bytes, cfg.max_batch_bytes)
        replies = Replies()
        acks = WindowAcks(replies, self.inflight)
        extra = {"log": {"source": {"ip": ip, "address": f"{ip}:{addr[1]}"}}}
        last = time.monotonic()
        tick = min(0.5, cfg.partial_ack_interval)
        with self.acked_session(conn, replies, ip, lj.LumberjackError, "beats_frame"):
            while not self._stop.is_set():
                buffered = isinstance(conn, ssl.SSLSocket) and conn.pending() > 0
                if not buffered:
                    full = self.inflight.full
                    watch = [replies.wakeup] if full else [conn, replies.wakeup]
                    ready, _, _ = select.select(watch, [], [], tick)
                    if replies.wakeup in ready:
                        replies.flush(conn)
                    acks.keepalive(cfg.partial_ack_interval)
                    replies.flush(conn)
                    full = full or self.inflight.full  # again: others may have filled it
                    if full or (acks.waiting and not reader.buffered):
                        last = time.monotonic()  # the client waits for us: not idle
                    if conn not in ready or full:
                        if time.monotonic() - last >= cfg.idle_timeout:
                            self._recv_idle(ip, True)
                            return
                        continue
                data = self._recv(conn, ip)
                if not data:
                    return
                last = time.monotonic()
                for item in reader.feed(data):
                    if isinstance(item, lj.Window):
                        acks.open(item.size)
                    else:
                        self._event(handler, normalize, item, acks.event(item.seq), ip, extra)
            # stopping: acknowledge what becomes durable in time
            replies.wait_acked(SESSION_STOP_SECONDS)

    def _event(
        self,
        handler: LineHandler,
        normalize: BeatsNormalizer,
        item: lj.Data,
        ack: Any,
        ip: str,
        extra: dict[str, Any],
    ) -> None:
        position = f"seq {item.seq}"
        text, flags = handler.decode(item.payload, position)
        if item.truncated:
            flags.append(TRUNCATED)
            report_bad(
                "truncated",
                "beats",
                self.name,
                position,
                f"event longer than {self.cfg.max_event_bytes} bytes",
            )
        try:
            ev, ident, pos = normalize(item.payload, text)
        except Exception as e:  # a parser bug must not stop the listener or lose the event
            log.exception("beats event failed", extra={"sender": ip})
            report_bad("parser_error", "beats", self.name, position, str(e))
            ev, ident, pos = failure(text, f"parser error: {e}", "beats"), f"beats:{ip}", position
        handler.emit_event(ev, ident, pos, ack, sender=ip, flags=flags, extra=extra)
