"""ASGI middleware: request body size limit, request metrics (and a Server-Timing header)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socmon.metrics import REGISTRY

REQUESTS = Counter(
    "socmon_api_requests_total",
    "API requests, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "socmon_api_request_duration_seconds",
    "API request duration, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
REJECTED_BODIES = Counter(
    "socmon_api_rejected_bodies_total",
    "Request bodies refused for exceeding api.max_body_bytes.",
    registry=REGISTRY,
)


class _TooLarge(Exception):
    pass


async def _send_413(send: Send, limit: int, path: str) -> None:
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"the request body exceeds {limit} bytes",
            "instance": path,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over ``limit`` bytes: by Content-Length at once, else while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    REJECTED_BODIES.inc()
                    await _send_413(send, self.limit, scope.get("path", ""))
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            REJECTED_BODIES.inc()
            if not started:
                await _send_413(send, self.limit, scope.get("path", ""))


class Metrics:
    """Count and time every request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
                # W3C Server Timing: the server's time until the answer starts (shown by a
                # browser's developer tools; bench/console.py reads it as the server time)
                took = (time.perf_counter() - start) * 1000
                MutableHeaders(scope=msg).append("Server-Timing", f"app;dur={took:.1f}")
            await send(msg)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            REQUESTS.labels(scope.get("method", ""), template, str(status[0])).inc()
            LATENCY.labels(template).observe(time.perf_counter() - start)
