"""`socmon run`: the API as a service (uvicorn in a thread) when ``api.enabled``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.server import ApiService, make_server
from socmon.runner import RunContext, Service


def build(ctx: RunContext) -> list[Service]:
    if not ctx.settings.api.enabled:
        return []
    ready: Any = ctx.extras.get("engine_ready")
    engine_ready: Callable[[], bool] | None = ready if callable(ready) else None
    server = make_server(ctx.settings, engine_ready=engine_ready)
    return [ApiService(server)]
