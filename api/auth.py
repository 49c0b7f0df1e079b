"""Authentication (API keys, optional OIDC/JWT bearer tokens), roles and unit scoping.

Every route declares what it needs with ``Depends(require(role))`` (or ``Depends(public)``);
``api.app.check_routes`` refuses to start an application with a route that declares nothing.

Roles are ordered: viewer < analyst < admin. A principal is bound to organisation units, or
to the whole province (``units is None``); routes apply ``unit_filter`` inside their
Elasticsearch queries, so out-of-unit documents are never read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from socmon.api.context import ApiContext, get_ctx
from socmon.api.keys import PREFIX, PROVINCE, ROLES, verify_key
from socmon.api.problems import ProblemError
from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

RANK = {r: i for i, r in enumerate(ROLES)}

AUTH_FAILURES = Counter(
    "socmon_api_auth_failures_total",
    "Requests refused by authentication or authorisation, by reason.",
    ["reason"],
    registry=REGISTRY,
)

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key made with `socmon keys create`."
)
bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`Bearer smk_...`) or an OIDC access token (JWT) from the issuer "
    "configured in api.oidc_issuer.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    actor: str
    role: str
    units: tuple[str, ...] | None  # None: the whole province
    key_id: str  # API key id, or "jwt:<sub>"

    @property
    def province(self) -> bool:
        return self.units is None

    def may(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]

    def sees_unit(self, unit: str | None) -> bool:
        return self.units is None or (unit is not None and unit in self.units)


def unit_filter(p: Principal, field: str = "organization.id") -> list[dict[str, Any]]:
    """The filter clauses restricting a query to the principal's units (none: province)."""
    if p.units is None:
        return []
    return [{"terms": {field: list(p.units)}}]


# ---------------------------------------------------------------------------- key cache


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Principal | None]] = {}

    def get(self, key: str, ttl: float) -> tuple[bool, Principal | None]:
        if ttl <= 0:
            return False, None
        with self._lock:
            hit = self._items.get(key)
        if hit is None or time.monotonic() - hit[0] > ttl:
            return False, None
        return True, hit[1]

    def put(self, key: str, p: Principal | None) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic(), p)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _from_key(ctx: ApiContext, key: str) -> Principal | None:
    cache: _KeyCache = ctx.extras.setdefault("key_cache", _KeyCache())
    found, p = cache.get(key, ctx.settings.api.key_cache_seconds)
    if found:
        return p
    rec = verify_key(ctx.client, ctx.names, key)
    p = None if rec is None else Principal(f"key:{rec.name}", rec.role, rec.units, rec.key_id)
    cache.put(key, p)
    return p


def _from_jwt(ctx: ApiContext, token: str) -> Principal:
    s = ctx.settings.api
    if not s.oidc_issuer or not s.oidc_jwks_url:
        raise _unauthorized("bearer tokens are not accepted (no OIDC issuer configured)")
    jwks: jwt.PyJWKClient | None = ctx.extras.get("jwks")
    if jwks is None:
        jwks = jwt.PyJWKClient(s.oidc_jwks_url, cache_keys=True, lifespan=300, timeout=5)
        ctx.extras["jwks"] = jwks
    try:
        signing_key = jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=s.oidc_algorithms,
            audience=s.oidc_audience,
            issuer=s.oidc_issuer,
            options={"require": ["exp", "iss", "sub"], "verify_aud": s.oidc_audience is not None},
        )
    except jwt.PyJWKClientError as e:
        log.warning("jwks: cannot get signing key", extra={"error": str(e)})
        raise _unauthorized("token signing key unknown") from None
    except jwt.InvalidTokenError as e:
        raise _unauthorized(f"invalid token: {e}") from None
    role = claims.get(s.oidc_role_claim)
    if role not in ROLES:
        AUTH_FAILURES.labels("no_role").inc()
        raise ProblemError(403, f"the token has no valid '{s.oidc_role_claim}' claim")
    units = claims.get(s.oidc_units_claim)
    if isinstance(units, str):
        units = [units]
    if not units or PROVINCE in units:
        scope: tuple[str, ...] | None = None
    else:
        scope = tuple(str(u) for u in units)
    return Principal(f"oidc:{claims['sub']}", role, scope, f"jwt:{claims['sub']}")


def _unauthorized(detail: str) -> ProblemError:
    AUTH_FAILURES.labels("unauthenticated").inc()
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="socmon", ApiKey'})


def authenticate(
    request: Request,
    x_api_key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    """Who is calling: from ``X-API-Key``, ``Authorization: Bearer <key or JWT>``."""
    ctx = get_ctx(request)
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if x_api_key:
        p = _from_key(ctx, x_api_key)
        if p is None:
            raise _unauthorized("invalid or revoked API key")
    elif credentials is not None and credentials.credentials:
        token = credentials.credentials
        if token.startswith(PREFIX):
            p = _from_key(ctx, token)
            if p is None:
                raise _unauthorized("invalid or revoked API key")
        else:
            p = _from_jwt(ctx, token)
    else:
        raise _unauthorized("authentication required: X-API-Key or Authorization: Bearer")
    limiter: RateLimiter | None = ctx.extras.get("limiter")
    if limiter is not None:
        wait = limiter.take(p.key_id)
        if wait > 0:
            AUTH_FAILURES.labels("rate_limited").inc()
            raise ProblemError(
                429,
                f"rate limit of {ctx.settings.api.rate_limit_per_minute} requests per minute "
                "exceeded",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
    request.state.principal = p
    return p


# ---------------------------------------------------------------------------- roles

ROLE_ATTR = "__socmon_role__"


def require(role: str, province: bool = False) -> Callable[..., Principal]:
    """A dependency admitting principals with at least ``role`` (and, with ``province``,
    only principals bound to the whole province: for global objects such as rules)."""
    if role not in RANK:
        raise ValueError(f"unknown role {role}")

    def dependency(p: Principal = Depends(authenticate)) -> Principal:
        if not p.may(role):
            AUTH_FAILURES.labels("role").inc()
            raise ProblemError(403, f"this needs the '{role}' role (you have '{p.role}')")
        if province and not p.province:
            AUTH_FAILURES.labels("unit").inc()
            raise ProblemError(403, "this needs a key bound to the whole province")
        return p

    setattr(dependency, ROLE_ATTR, (role, province))
    dependency.__name__ = f"require_{role}{'_province' if province else ''}"
    return dependency


def public() -> None:
    """Declares a route open to anyone (health, readiness, metrics with its own token)."""


setattr(public, ROLE_ATTR, ("public", False))


def declared_role(dependant: Any) -> tuple[str, bool] | None:
    """The role a route's dependency tree declares (None: none declared)."""
    for dep in dependant.dependencies:
        marker = getattr(dep.call, ROLE_ATTR, None)
        if marker is not None:
            role, province = marker
            return str(role), bool(province)
        inner = declared_role(dep)
        if inner is not None:
            return inner
    return None


# ---------------------------------------------------------------------------- rate limit


class RateLimiter:
    """A token bucket per key: ``per_minute`` sustained, ``burst`` at once."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when allowed; otherwise the seconds until a request would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
