"""Running the application with uvicorn, in the foreground or in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from elasticsearch import Elasticsearch

from socmon.api.app import build
from socmon.api.connections import guarded_protocol
from socmon.settings import Settings

log = logging.getLogger(__name__)


def make_server(
    settings: Settings,
    client: Elasticsearch | None = None,
    engine_ready: Callable[[], bool] | None = None,
    port: int | None = None,
) -> uvicorn.Server:
    s = settings.api
    app = build(settings, client, engine_ready)
    tls: dict[str, Any] = {}
    if s.tls_cert_file is not None and s.tls_key_file is not None:
        for f in (s.tls_cert_file, s.tls_key_file):
            if not f.is_file():
                raise FileNotFoundError(f"api TLS file not found: {f}")
        tls = {"ssl_certfile": str(s.tls_cert_file), "ssl_keyfile": str(s.tls_key_file)}
    config = uvicorn.Config(
        app,
        host=s.bind,
        port=s.port if port is None else port,
        log_config=None,  # socmon's JSON logging
        access_log=False,  # requests are counted in socmon_api_requests_total
        http=guarded_protocol(s.header_timeout, s.body_timeout, s.max_connections_per_address),
        limit_concurrency=s.max_connections,
        timeout_keep_alive=s.keep_alive_timeout,
        server_header=False,
        **tls,
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
