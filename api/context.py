"""What every route needs: settings, the Elasticsearch client, index names, shared helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch
from fastapi import Request

from socmon.indices import IndexNames
from socmon.settings import Settings


def apikeys_index(names: IndexNames) -> str:
    """The index holding API keys (hashes only)."""
    return f"{names.prefix}-apikeys"


@dataclass
class ApiContext:
    settings: Settings
    client: Elasticsearch
    names: IndexNames
    # Reports whether the detection engine has loaded its rules (None: not part of this process).
    engine_ready: Callable[[], bool] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _pit_lock: threading.Lock = field(default_factory=threading.Lock)
    _pit: tuple[str, float] | None = None
    _pit_generation: int = 0

    @property
    def api(self) -> Any:
        return self.settings.api

    def search_timeout(self) -> str:
        return f"{int(self.settings.api.query_timeout * 1000)}ms"

    def es(self) -> Elasticsearch:
        """The client with the API's query time limit (plus a margin for the transport).

        Made once per time limit: ``options()`` builds a whole client object each call."""
        timeout = self.settings.api.query_timeout + 2.0
        cached = self.extras.get("es_timed")
        if cached is None or cached[0] != timeout or cached[1] is not self.client:
            cached = (timeout, self.client, self.client.options(request_timeout=timeout))
            self.extras["es_timed"] = cached
        es: Elasticsearch = cached[2]
        return es

    # ------------------------------------------------------------ shared points in time

    def alerts_pit(self) -> str:
        """A point in time over the alerts index, shared by first pages for ``pit_max_age``.

        Elasticsearch refreshes every second anyway, so sharing a PIT younger than a second
        costs no freshness; it saves one open-PIT round trip per request and keeps the number
        of open PITs bounded. Writes through the API invalidate it (read-your-writes).
        """
        max_age = self.settings.api.pit_max_age
        now = time.monotonic()
        with self._pit_lock:
            if self._pit is not None and now - self._pit[1] < max_age:
                return self._pit[0]
            resp = self.es().open_point_in_time(
                index=self.names.alerts, keep_alive=self.settings.api.cursor_keep_alive
            )
            self._pit = (str(resp["id"]), time.monotonic())
            return self._pit[0]

    def invalidate_pit(self) -> None:
        with self._pit_lock:
            self._pit = None


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
