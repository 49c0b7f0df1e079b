"""Per-flow application inspectors: HTTP, TLS, FTP/POP3/IMAP logins, DNS over TCP.

Each inspector sees the TCP payload of its flow segment by segment (in arrival order; no
retransmission or reordering repair beyond skipping segments that do not start where a head
is expected) and returns events through the processor's ``emit_app`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socmon.collectors.network import http, tls
from socmon.collectors.network.dns import DnsError, parse_dns

# (kind, ts, pkt_no, is_orig, fields) -> None
Emit = Callable[[str, float, int, bool, dict[str, Any]], None]
Bad = Callable[[str, str], None]

MAX_EVENTS_PER_FLOW = 200


class Inspector:
    done = False

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        raise NotImplementedError

    def close(self, ts: float, pkt_no: int) -> None:
        """The flow ended: emit what is pending."""


class HttpInspector(Inspector):
    def __init__(self, emit: Emit, limit: int) -> None:
        self.emit = emit
        self.limit = limit
        self.req = b""
        self.resp = b""
        self.pending: list[tuple[float, int, dict[str, Any]]] = []
        self.events = 0

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        if is_orig:
            if not self.req and not http.looks_like_request(payload):
                return  # request body
            self.req += payload
            r = http.parse_request(self.req, len(self.req) >= self.limit)
            if r is not None:
                self.req = b""
                if len(self.pending) >= 50:
                    self._emit(*self.pending.pop(0), None)
                self.pending.append((ts, pkt_no, r))
        else:
            if not self.resp and not http.looks_like_response(payload):
                return
            self.resp += payload
            r = http.parse_response(self.resp, len(self.resp) >= self.limit)
            if r is not None:
                self.resp = b""
                if self.pending:
                    self._emit(*self.pending.pop(0), r)
                else:
                    self._emit(ts, pkt_no, {"http": {}}, r)

    def _emit(
        self, ts: float, pkt_no: int, req: dict[str, Any], resp: dict[str, Any] | None
    ) -> None:
        if self.events >= MAX_EVENTS_PER_FLOW:
            return
        self.events += 1
        fields = dict(req)
        fields["http"] = dict(fields.get("http", {}))
        if resp is not None:
            fields["http"]["response"] = resp["response"]
            if resp.get("version") and "version" not in fields["http"]:
                fields["http"]["version"] = resp["version"]
        self.emit("http", ts, pkt_no, True, fields)

    def close(self, ts: float, pkt_no: int) -> None:
        if self.req:
            r = http.parse_request(self.req, True)
            if r is not None:
                self.pending.append((ts, pkt_no, r))
            self.req = b""
        for item in self.pending:
            self._emit(*item, None)
        self.pending = []


class TlsInspector(Inspector):
    def __init__(self, emit: Emit, bad: Bad, limit: int) -> None:
        self.emit = emit
        self.bad = bad
        self.limit = limit
        self.cbuf = b""
        self.sbuf = b""
        self.client: dict[str, Any] | None = None
        self.hello_at: tuple[float, int] = (0.0, 0)
        self.server_done = False

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        try:
            if is_orig and self.client is None:
                self.cbuf += payload
                msg = tls.handshake_message(self.cbuf)
                if msg is None:
                    if len(self.cbuf) > self.limit:
                        self.bad("tls_hello_too_long", "ClientHello larger than the inspect limit")
                        self.done = True
                    return
                if msg[0] != 1:
                    self.done = True
                    return
                self.client = tls.parse_client_hello(msg[1])
                self.hello_at = (ts, pkt_no)
                self.cbuf = b""
            elif not is_orig and self.client is not None and not self.server_done:
                self.sbuf += payload
                msg = tls.handshake_message(self.sbuf)
                if msg is None:
                    if len(self.sbuf) > self.limit:
                        self.close(ts, pkt_no)
                    return
                if msg[0] == 2:
                    server = tls.parse_server_hello(msg[1])
                    self.client["version"] = server["version"]
                    self.client["cipher"] = server["cipher"]
                    self.client["established"] = True
                self.close(ts, pkt_no)
        except (tls.TlsError, IndexError, ValueError) as e:
            self.bad("tls_malformed", str(e))
            if self.client is not None:
                self.close(ts, pkt_no)
            self.done = True

    def close(self, ts: float, pkt_no: int) -> None:
        if self.client is not None and not self.server_done:
            self.server_done = True
            self.done = True
            self.emit("tls", self.hello_at[0], self.hello_at[1], True, {"tls": self.client})


class LoginInspector(Inspector):
    """FTP / POP3 (USER + PASS) and IMAP (LOGIN) credentials sent in clear text. The password
    itself is never stored: only that one was sent, the user name and the server's verdict."""

    def __init__(self, emit: Emit, protocol: str) -> None:
        self.emit = emit
        self.protocol = protocol
        self.cbuf = b""
        self.sbuf = b""
        self.user = ""
        self.pending: tuple[float, int, str] | None = None
        self.events = 0

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        if is_orig:
            lines, self.cbuf = http.command_lines(self.cbuf + payload)
            self.cbuf = self.cbuf[-512:]
            for line in lines:
                self._client_line(line, ts, pkt_no)
        else:
            lines, self.sbuf = http.command_lines(self.sbuf + payload)
            self.sbuf = self.sbuf[-512:]
            for line in lines:
                self._server_line(line, ts)

    def _client_line(self, line: str, ts: float, pkt_no: int) -> None:
        word, _, arg = line.strip().partition(" ")
        cmd = word.upper()
        if cmd == "USER":
            self.user = arg.strip()[:256]
        elif cmd == "PASS":
            self._flush(ts, "unknown")
            self.pending = (ts, pkt_no, self.user)
        elif self.protocol == "imap":
            parts = line.split(" ")
            if len(parts) >= 4 and parts[1].upper() == "LOGIN":
                self._flush(ts, "unknown")
                self.pending = (ts, pkt_no, parts[2].strip('"')[:256])

    def _server_line(self, line: str, ts: float) -> None:
        if self.pending is None:
            return
        if line.startswith(("230", "+OK")) or " OK" in line[:20]:
            self._flush(ts, "success")
        elif line.startswith(("530", "-ERR")) or " NO" in line[:20] or " BAD" in line[:20]:
            self._flush(ts, "failure")

    def _flush(self, ts: float, outcome: str) -> None:
        if self.pending is None or self.events >= MAX_EVENTS_PER_FLOW:
            self.pending = None
            return
        t, pkt_no, user = self.pending
        self.pending = None
        self.events += 1
        self.emit(
            "credentials",
            t,
            pkt_no,
            True,
            {"protocol": self.protocol, "user": user, "outcome": outcome},
        )

    def close(self, ts: float, pkt_no: int) -> None:
        self._flush(ts, "unknown")


class DnsTcpInspector(Inspector):
    def __init__(self, emit: Emit, bad: Bad) -> None:
        self.emit = emit
        self.bad = bad
        self.bufs = [b"", b""]
        self.events = 0

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        i = 0 if is_orig else 1
        buf = self.bufs[i] + payload
        while len(buf) >= 2:
            ln = int.from_bytes(buf[:2], "big")
            if len(buf) < 2 + ln:
                break
            msg, buf = buf[2 : 2 + ln], buf[2 + ln :]
            if self.events >= MAX_EVENTS_PER_FLOW:
                continue
            self.events += 1
            try:
                self.emit("dns", ts, pkt_no, is_orig, {"dns": parse_dns(msg)})
            except (DnsError, IndexError, ValueError, OSError) as e:
                self.bad("dns_malformed", str(e))
                self.emit("dns", ts, pkt_no, is_orig, {"_error": str(e)})
        if len(buf) > 70_000:
            self.bad("dns_tcp_garbage", "length prefix larger than a DNS message")
            buf = b""
            self.done = True
        self.bufs[i] = buf
