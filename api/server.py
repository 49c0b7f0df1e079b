"""Running the application with uvicorn, in the foreground or in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import uvicorn
from elasticsearch import Elasticsearch

from socmon.api.app import build
from socmon.settings import Settings

log = logging.getLogger(__name__)


def make_server(
    settings: Settings,
    client: Elasticsearch | None = None,
    engine_ready: Callable[[], bool] | None = None,
    port: int | None = None,
) -> uvicorn.Server:
    app = build(settings, client, engine_ready)
    config = uvicorn.Config(
        app,
        host=settings.api.bind,
        port=settings.api.port if port is None else port,
        log_config=None,  # socmon's JSON logging
        access_log=False,  # requests are counted in socmon_api_requests_total
        limit_concurrency=1000,
        timeout_keep_alive=30,
        server_header=False,
    )
    return uvicorn.Server(config)


class ApiService:
    """uvicorn in a thread, for `socmon run`."""

    name = "api"

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        self._thread = threading.Thread(target=self._run, name="api", daemon=True)

    def _run(self) -> None:
        # uvicorn installs signal handlers only in the main thread; the runner owns signals.
        self.server.run()

    def start(self) -> None:
        self._thread.start()
        host, port = self.server.config.host, self.server.config.port
        log.info("api listening", extra={"bind": host, "port": port})
        log.info(f"web console: open http://{host}:{port}/ in a browser")

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
