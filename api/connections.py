"""Slow and greedy clients: header and body deadlines, and a connection cap per address.

uvicorn (h11) never times out a connection that is still sending its request: a new
connection has no timer until its first response, and every byte received cancels the
keep-alive timer, so a "slowloris" holding hundreds of half-sent requests keeps them open
forever and uses up ``limit_concurrency``. ``guarded_protocol`` makes uvicorn's H11Protocol
subclass that

- gives each request ``header_timeout`` seconds for its headers (after a response, the
  keep-alive delay plus that), then answers 408 and closes;
- gives its body ``body_timeout`` seconds, then closes;
- refuses (503, closed) a connection beyond ``max_per_address`` open ones from one address.

Everything runs on the server's event loop thread, so the per-address counts need no lock.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from typing import Any

import h11
from prometheus_client import Counter
from uvicorn.protocols.http.h11_impl import H11Protocol

from socmon.metrics import REGISTRY

SLOW_CLIENTS = Counter(
    "socmon_api_slow_clients_total",
    "Connections closed because a request's headers or body took too long, by phase.",
    ["phase"],
    registry=REGISTRY,
)
REFUSED_CONNECTIONS = Counter(
    "socmon_api_refused_connections_total",
    "Connections refused because their address already held api.max_connections_per_address.",
    registry=REGISTRY,
)

_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def guarded_protocol(
    header_timeout: float, body_timeout: float, max_per_address: int
) -> type[H11Protocol]:
    """An H11Protocol class with these limits (and its own per-address counts)."""
    open_by_address: Tally[str] = Tally()

    class GuardedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._address: str | None = None
            self._header_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else "-"
            if open_by_address[address] >= max_per_address:
                REFUSED_CONNECTIONS.inc()
                transport.write(_503)
                transport.close()
                return
            open_by_address[address] += 1
            self._address = address
            self._arm_header_timer(header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timers()
            if self._address is not None:
                open_by_address[self._address] -= 1
                if open_by_address[self._address] <= 0:
                    del open_by_address[self._address]
                self._address = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track_state()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._track_state(idle_delay=self.timeout_keep_alive + header_timeout)

        # ------------------------------------------------------------ deadlines

        def _track_state(self, idle_delay: float = header_timeout) -> None:
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._header_timer is None:
                    self._arm_header_timer(idle_delay)
            elif state is h11.SEND_BODY:
                self._cancel_header_timer()
                if self._body_timer is None:
                    self._body_timer = self.loop.call_later(body_timeout, self._body_late)
            else:
                self._cancel_timers()

        def _arm_header_timer(self, delay: float) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(delay, self._headers_late)

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                SLOW_CLIENTS.labels("headers").inc()
                if self.cycle is None or self.cycle.response_complete:
                    self.transport.write(_408)
                self.transport.close()

        def _body_late(self) -> None:
            self._body_timer = None
            if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
                SLOW_CLIENTS.labels("body").inc()
                self.transport.close()  # the application's receive() sees a disconnect

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _cancel_timers(self) -> None:
            self._cancel_header_timer()
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

    return GuardedH11Protocol
