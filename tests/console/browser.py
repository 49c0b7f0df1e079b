"""The real-browser harness: the application served by uvicorn on a free port, Debian's
headless Chromium driven by Playwright (never `playwright install`), axe-core from npm.

Every request the browser makes is recorded: a page that reaches another host fails the test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from socmon.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and a port the system chose; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now.

    Injected with ``evaluate`` (the DevTools protocol), so a strict CSP on the page does not
    block it; the page itself never loads axe."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text("utf-8"))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def watched_page(
    browser: Any, local: tuple[str, ...], block: bool = False, allowed: str | None = None
) -> Iterator[Any]:
    """A page at 1366x768 in Vietnamese whose requests are recorded; at the end, a request to
    any host but ``local`` fails the test (``allowed``: a URL part that may, e.g. a test
    provider's own stylesheet). ``block``: such requests are refused as they are made."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    if block:
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith(local) else route.abort()
            ),
        )
    pg = context.new_page()
    requested: list[str] = []
    pg.on("request", lambda r: requested.append(r.url))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    foreign = [u for u in requested if not u.startswith(local) and not (allowed and allowed in u)]
    assert not foreign, f"requests left for other hosts: {foreign}"
