"""The API inside `socmon run`: uvicorn in a thread on a free port, readiness with the engine."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import httpx

from socmon.api import services
from socmon.runner import build_context


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_service_serves_and_stops(settings, names):
    s = settings.model_copy(deep=True)
    s.api.port = _free_port()
    ctx = build_context(s)
    engine = SimpleNamespace(ready=lambda: False)
    ctx.events.add(engine)  # a streaming sink that has not loaded its engine yet
    (svc,) = services.build(ctx)
    svc.start()
    try:
        url = f"http://127.0.0.1:{s.api.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "API did not start"
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        r = httpx.get(f"{url}/readyz", timeout=5)
        assert r.status_code == 503 and r.json()["checks"]["engine"] is False
        assert httpx.get(f"{url}/api/v1/alerts", timeout=5).status_code == 401
    finally:
        svc.stop()
        svc.stop()  # idempotent
    s.api.enabled = False
    assert services.build(ctx) == []
