"""/healthz, /readyz and /metrics (outside /api/v1: for probes and Prometheus)."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from socmon.api.auth import public
from socmon.api.context import get_ctx
from socmon.api.problems import ProblemError, problem_responses
from socmon.es import is_reachable
from socmon.indices import templates_applied
from socmon.metrics import CONTENT_TYPE_LATEST, exposition

router = APIRouter(tags=["system"], dependencies=[Depends(public)])


class Health(BaseModel):
    status: str = Field(..., examples=["ok"])


class Readiness(BaseModel):
    ready: bool = Field(..., examples=[True])
    checks: dict[str, bool] = Field(
        ...,
        examples=[{"elasticsearch": True, "templates": True, "engine": True}],
        description="Each check: Elasticsearch reachable, index templates applied at the "
        "current version, detection engine loaded (true when not part of this process).",
    )


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Ready to serve: Elasticsearch reachable, templates applied, engine loaded",
    responses={503: {"model": Readiness, "description": "Not ready (see checks)"}},
)
def readyz(request: Request, response: Response) -> Readiness:
    ctx = get_ctx(request)
    checks = {"elasticsearch": is_reachable(ctx.client)}
    checks["templates"] = checks["elasticsearch"] and templates_applied(ctx.client, ctx.names)
    if ctx.engine_ready is not None:
        try:
            checks["engine"] = bool(ctx.engine_ready())
        except Exception:
            checks["engine"] = False
    else:
        checks["engine"] = not ctx.settings.api.engine_required
    ready = all(checks.values())
    if not ready:
        response.status_code = 503
    return Readiness(ready=ready, checks=checks)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Metrics in the Prometheus text format",
        },
        **problem_responses(401, 403),
    },
)
def metrics(request: Request) -> Response:
    """Readable without a token from ``api.metrics_networks`` (default: loopback only), from
    elsewhere with the bearer ``api.metrics_token``; 401/403 otherwise (docs/security.md)."""
    ctx = get_ctx(request)
    s = ctx.settings.api
    address = request.client.host if request.client else ""
    if not _in_networks(address, s.metrics_networks):
        token = s.metrics_token
        if token is None:
            raise ProblemError(
                403,
                "/metrics is readable from api.metrics_networks only (or set api.metrics_token)",
            )
        auth = request.headers.get("authorization", "")
        given = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise ProblemError(
                401,
                "/metrics needs the bearer token (api.metrics_token)",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)
