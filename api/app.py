"""The FastAPI application: routers, problem+json errors, limits, and the role check.

``create_app`` refuses to build an application with a route that declares no role: every
route depends on ``api.auth.require(role)`` or ``api.auth.public``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from elasticsearch import Elasticsearch
from fastapi import APIRouter, FastAPI, routing
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from socmon.api import docs, problems
from socmon.api.auth import RateLimiter, declared_role
from socmon.api.console.app import announce_first_user
from socmon.api.console.app import install as install_console
from socmon.api.context import ApiContext
from socmon.api.headers import SecurityHeaders
from socmon.api.middleware import BodyLimit, Metrics
from socmon.es import make_client
from socmon.indices import IndexNames
from socmon.settings import Settings

API_PREFIX = "/api/v1"

DESCRIPTION = """socmon's HTTP API: alerts, rules, exceptions, events, stats and reports, for
the security subcommittee (viewer), analysts and admins; /metrics for Prometheus.

**Authentication**: an API key (`X-API-Key: smk_...` or `Authorization: Bearer smk_...`) made
with `socmon keys create`, or an OIDC access token (`Authorization: Bearer <JWT>`).

**Roles**: viewer < analyst < admin; each operation names the role it needs.
**Organisation units**: a key is bound to units or to the whole province and only sees its
units' alerts, events, stats and reports. Errors are `application/problem+json` (RFC 9457).
"""

TAGS = [
    {"name": "alerts", "description": "Review and triage alerts (viewer reads, analyst changes)."},
    {"name": "rules", "description": "Sigma detection rules (admin)."},
    {"name": "exceptions", "description": "Alert exceptions (analyst)."},
    {"name": "events", "description": "Search stored events (viewer)."},
    {"name": "stats", "description": "Figures for dashboards (viewer)."},
    {"name": "reports", "description": "Period reports, JSON or printable HTML (viewer)."},
    {"name": "admin", "description": "API keys and the audit trail (admin)."},
    {"name": "system", "description": "Health, readiness, Prometheus metrics."},
]


class UndeclaredRoleError(RuntimeError):
    """A route without a declared role: the application must not start."""


def api_routes(app: FastAPI) -> list[Any]:
    """Every API route with its effective dependencies (those of its routers included)."""
    iter_contexts = getattr(routing, "iter_route_contexts", None)
    if iter_contexts is None:  # FastAPI before routers were included lazily
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [rc for rc in iter_contexts(app.routes) if isinstance(rc.original_route, APIRoute)]


def check_routes(app: FastAPI) -> None:
    missing = []
    for route in api_routes(app):
        if declared_role(route.dependant) is None:
            missing.append(f"{sorted(route.methods)} {route.path}")
    if missing:
        raise UndeclaredRoleError("routes without a declared role: " + ", ".join(missing))


# Errors any /api/v1 operation may answer, besides those it documents itself.
COMMON_ERRORS = (401, 403, 413, 429, 500, 502, 503, 504)


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API does on errors: every 4xx/5xx response is
    ``application/problem+json`` with the Problem schema, and every operation lists the
    errors any route may answer (authentication, limits, Elasticsearch unavailable)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        content = {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, ops in doc.get("paths", {}).items():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                codes = COMMON_ERRORS if path.startswith(API_PREFIX) else (500,)
                for code in codes:
                    responses.setdefault(str(code), {"description": problems.title(code)})
                if "parameters" in op or "requestBody" in op:
                    responses.setdefault("422", {"description": problems.title(422)})
                for code, resp in responses.items():
                    if code[0] in "45" and not (path == "/readyz" and code == "503"):
                        resp["content"] = content
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def routers() -> list[APIRouter]:
    from socmon.api.routes import (
        admin,
        alerts,
        coverage,
        events,
        exceptions,
        reports,
        rules,
        stats,
        system,
    )

    return [
        alerts.router,
        coverage.router,  # before rules: /rules/coverage is not a rule id
        rules.router,
        exceptions.router,
        events.router,
        stats.router,
        reports.router,
        admin.router,
        system.router,
    ]


def create_app(ctx: ApiContext, extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    s = ctx.settings.api

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Routes are sync (the Elasticsearch client blocks): size the thread pool for them.
        to_thread.current_default_thread_limiter().total_tokens = s.workers_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="socmon API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,  # api.docs serves /docs from local assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    if s.rate_limit_per_minute > 0:
        ctx.extras["limiter"] = RateLimiter(s.rate_limit_per_minute, s.rate_limit_burst)
    if s.auth_failures_per_minute > 0:
        ctx.extras["auth_failures"] = RateLimiter(s.auth_failures_per_minute, s.auth_failures_burst)
    problems.install(app)
    for r in [*routers(), *extra_routers]:
        app.include_router(r)
    docs.install(app)
    install_console(app, ctx)
    check_routes(app)
    _document_problems(app)
    app.add_middleware(BodyLimit, limit=s.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts_max_age=s.hsts_max_age)
    if s.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(Metrics)

    return app


def build(
    settings: Settings,
    client: Elasticsearch | None = None,
    engine_ready: Callable[[], bool] | None = None,
) -> FastAPI:
    """The application for these settings (a client is made when none is given)."""
    if client is None:
        client = make_client(
            settings.es, connections_per_node=max(10, settings.api.workers_threads)
        )
    ctx = ApiContext(
        settings=settings,
        client=client,
        names=IndexNames(settings.es.index_prefix),
        engine_ready=engine_ready,
    )
    app = create_app(ctx)
    announce_first_user(ctx)
    return app
