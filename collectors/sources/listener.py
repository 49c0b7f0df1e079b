"""The TCP (and TLS) listener shared by the syslog TCP/TLS/RELP and Beats inputs: bounded
connections (one thread each), TLS with optional client certificates, idle clients closed
and reported, and on stop a grace period for sessions that acknowledge (RELP, Beats) so
what became durable is acknowledged before the connection closes.

A subclass gives ``_session(conn, addr)`` (one connection's protocol), ``kind`` (the
``source_kind`` of its reports) and, when it needs more than ``cert_file``, ``_tls_wanted``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from socmon.collectors.metrics import BYTES, SYSLOG_CONNECTIONS, report_bad

log = logging.getLogger(__name__)
SESSION_STOP_SECONDS = 2.0  # on stop, how long sessions wait for pending acknowledgements


class ListenerConfig(Protocol):
    """The settings a stream listener reads (``SyslogSource``, ``BeatsSource``)."""

    @property
    def protocol(self) -> str: ...
    @property
    def bind(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def idle_timeout(self) -> float: ...
    @property
    def max_connections(self) -> int: ...


class SessionReplies(Protocol):
    """The replies of an acknowledging session (``relp.Replies``: RELP and Beats)."""

    def flush(self, conn: socket.socket) -> None: ...
    def close(self) -> None: ...


class StreamListener:
    kind = "syslog"  # source_kind of metrics and reports
    acknowledges = False  # sessions end themselves on stop (wait for them)

    def __init__(self, cfg: ListenerConfig) -> None:
        self.lcfg = cfg
        self.name = f"{self.kind}-{cfg.protocol}-{cfg.bind}:{cfg.port}"
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._clients: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self.port = cfg.port

    def _tls_wanted(self) -> bool:
        return self.lcfg.cert_file is not None

    def _session(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- lifecycle

    def _listen(self) -> None:
        """Bind and listen (TCP, TLS when wanted); start the accept loop."""
        cfg = self.lcfg
        family = socket.AF_INET6 if ":" in cfg.bind else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((cfg.bind, cfg.port))
        self.port = s.getsockname()[1]
        s.settimeout(0.5)
        s.listen(128)
        if self._tls_wanted():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
            if cfg.ca_file:
                ctx.load_verify_locations(str(cfg.ca_file))
                ctx.verify_mode = ssl.CERT_REQUIRED
            self._ssl = ctx
        self._run(s, self._accept_loop)

    def _run(self, s: socket.socket, target: Any) -> None:
        self._sock = s
        t = threading.Thread(target=target, name=self.name, daemon=True)
        t.start()
        self._threads.append(t)
        log.info(f"{self.kind} listener started", extra={"listener": self.name, "port": self.port})

    def start(self) -> None:
        self._listen()

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self.acknowledges:
            # the sessions end themselves: what became durable is acknowledged first
            deadline = time.monotonic() + SESSION_STOP_SECONDS + 1.0
            for t in list(self._clients):
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            for c in list(self._conns):
                with contextlib.suppress(OSError):
                    c.close()
        for t in self._threads:
            t.join(timeout=5)

    # ---------------------------------------------------------------- connections

    @contextlib.contextmanager
    def acked_session(
        self,
        conn: socket.socket,
        replies: SessionReplies,
        ip: str,
        frame_error: type[Exception],
        reason: str,
    ) -> Iterator[None]:
        """The end of an acknowledging session (RELP, Beats), however it ends: a protocol
        error (``frame_error``) is reported as ``reason`` with the client's address, a client
        gone is not (it sends again what it has no acknowledgement for), and what became
        durable in time is acknowledged before the replies close."""
        try:
            yield
        except frame_error as e:
            report_bad(reason, self.kind, self.name, ip, str(e))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                replies.flush(conn)
            replies.close()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with self._lock:
                if len(self._conns) >= self.lcfg.max_connections:
                    report_bad(
                        "too_many_connections",
                        self.kind,
                        self.name,
                        addr[0],
                        f"over {self.lcfg.max_connections} clients",
                    )
                    conn.close()
                    continue
                self._conns.add(conn)
            t = threading.Thread(
                target=self._serve, args=(conn, addr), daemon=True, name=f"{self.name}-client"
            )
            with self._lock:
                self._clients = {c for c in self._clients if c.is_alive()}
                self._clients.add(t)
            t.start()

    def _serve(self, conn: socket.socket, addr: tuple[Any, ...]) -> None:
        proto = self.lcfg.protocol
        SYSLOG_CONNECTIONS.labels(proto).inc()
        try:
            conn.settimeout(self.lcfg.idle_timeout)
            if self._ssl is not None:
                try:
                    conn = self._ssl.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    report_bad("tls_handshake", self.kind, self.name, addr[0], str(e))
                    return
            self._session(conn, addr)
        finally:
            SYSLOG_CONNECTIONS.labels(proto).dec()
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _recv(self, conn: socket.socket, ip: str, got_any: bool = True) -> bytes | None:
        """The next bytes from a client; b"" when it closed, None when it broke or stayed
        idle for ``idle_timeout`` (reported)."""
        try:
            data = conn.recv(65536)
        except TimeoutError:
            self._recv_idle(ip, got_any)
            return None
        except (OSError, ssl.SSLError):
            return None
        BYTES.labels(self.kind).inc(len(data))
        return data

    def _recv_idle(self, ip: str, got_any: bool) -> None:
        report_bad(
            "idle_client",
            self.kind,
            self.name,
            ip,
            f"no data for {self.lcfg.idle_timeout}s; closing"
            + ("" if got_any else " (client never sent anything)"),
        )
