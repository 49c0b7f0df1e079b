"""`socmon run`: the API as a service (uvicorn in a thread) when ``api.enabled``.

Readiness reports the detection engine: a layer may put ``engine_ready`` (a callable) in
``ctx.extras``; otherwise the sinks of ``ctx.events`` that offer ``ready()`` (the rules layer's
streaming detection: ready once it holds a compiled engine and its worker runs) are asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socmon.api.report_schedule import ReportScheduler
from socmon.api.server import ApiService, make_server
from socmon.runner import RunContext, Service


def _engine_ready(ctx: RunContext) -> Callable[[], bool] | None:
    given: Any = ctx.extras.get("engine_ready")
    if callable(given):
        return given
    found: list[Any] = [getattr(s, "ready", None) for s in ctx.events.others]
    checks: list[Callable[[], bool]] = [c for c in found if callable(c)]
    if not checks:
        return None  # no streaming detection in this process
    return lambda: all(ready() for ready in checks)


def build(ctx: RunContext) -> list[Service]:
    if not ctx.settings.api.enabled:
        return []
    server = make_server(ctx.settings, engine_ready=_engine_ready(ctx))
    services: list[Service] = [ApiService(server)]
    if ctx.settings.reports.schedules:
        # Refuses to start (ScheduleError) without Chromium or with a wrong channel.
        app: Any = server.config.app
        services.append(ReportScheduler(app.state.ctx))
    return services
