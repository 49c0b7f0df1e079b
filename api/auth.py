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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from socmon.api.context import ApiContext, get_ctx
from socmon.api.keys import PREFIX, PROVINCE, ROLES, hash_key, verify_key
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


class KeyCache:
    """Verified keys for ``api.key_cache_seconds``, unknown/revoked ones for
    ``api.negative_cache_seconds``; at most ``size`` entries, the least recently used evicted
    first (valid keys in use stay while random keys come and go). Keys are held by hash."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    def get(self, key: str, ttl: float, negative_ttl: float) -> tuple[bool, Principal | None]:
        h = hash_key(key)
        with self._lock:
            hit = self._items.get(h)
            if hit is None:
                return False, None
            age = time.monotonic() - hit[0]
            if age > (ttl if hit[1] is not None else negative_ttl):
                del self._items[h]
                return False, None
            self._items.move_to_end(h)
            return True, hit[1]

    def put(self, key: str, p: Principal | None) -> None:
        with self._lock:
            self._items[hash_key(key)] = (time.monotonic(), p)
            self._items.move_to_end(hash_key(key))
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def key_cache(ctx: ApiContext) -> KeyCache:
    cache: KeyCache | None = ctx.extras.get("key_cache")
    if cache is None:
        cache = ctx.extras.setdefault("key_cache", KeyCache(ctx.settings.api.key_cache_size))
    return cache


def _from_key(ctx: ApiContext, key: str) -> Principal | None:
    s = ctx.settings.api
    cache = key_cache(ctx)
    found, p = cache.get(key, s.key_cache_seconds, s.negative_cache_seconds)
    if found:
        return p
    rec = verify_key(ctx.client, ctx.names, key)
    p = None if rec is None else Principal(f"key:{rec.name}", rec.role, rec.units, rec.key_id)
    if (p is not None and s.key_cache_seconds > 0) or (p is None and s.negative_cache_seconds > 0):
        cache.put(key, p)
    return p


def _from_jwt(ctx: ApiContext, token: str) -> Principal:
    s = ctx.settings.api
    if not s.oidc_issuer or not s.oidc_jwks_url or not s.oidc_audience:
        raise _unauthorized(
            "bearer tokens are not accepted (no OIDC issuer and audience configured)"
        )
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
            options={"require": ["exp", "iss", "sub", "aud"], "verify_aud": True},
        )
    except jwt.PyJWKClientError as e:
        log.warning("jwks: cannot get signing key", extra={"error": str(e)})
        raise _unauthorized("token signing key unknown") from None
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired") from None
    except jwt.InvalidTokenError as e:
        # PyJWT's reason is logged, not echoed: it describes the verification internals
        log.info("jwt refused", extra={"error": type(e).__name__, "reason": str(e)[:200]})
        raise _unauthorized("invalid token") from None
    return Principal(
        f"oidc:{claims['sub']}",
        token_role(claims.get(s.oidc_role_claim), s.oidc_role_claim),
        token_units(claims.get(s.oidc_units_claim), s.oidc_units_claim),
        f"jwt:{claims['sub']}",
    )


def token_role(role: Any, claim: str) -> str:
    """The role a token's claim grants: one of ``ROLES``, anything else is 403. Used for the
    API's bearer JWTs and the console's OIDC ID tokens alike."""
    if not isinstance(role, str) or role not in ROLES:
        AUTH_FAILURES.labels("no_role").inc()
        raise ProblemError(403, f"the token has no valid '{claim}' claim")
    return role


def token_units(units: Any, claim: str) -> tuple[str, ...] | None:
    """The units a token's claim grants, failing closed: ``'*'`` or ``['*']`` is the
    province, a list of non-blank unit ids those units; absent, empty, blank or any other
    shape is 403 (never the province by default)."""
    if units == PROVINCE or units == [PROVINCE]:
        return None
    if (
        isinstance(units, list)
        and units
        and all(isinstance(u, str) and u.strip() and u != PROVINCE for u in units)
    ):
        return tuple(units)
    AUTH_FAILURES.labels("no_units").inc()
    raise ProblemError(
        403,
        f"the token's '{claim}' claim must be a list of unit ids, or ['*'] for the province",
    )


def _known_valid(ctx: ApiContext, token: str) -> bool:
    """A key verified moments ago: let it through a throttled address (a valid user behind
    the same address as a guesser keeps working)."""
    s = ctx.settings.api
    found, p = key_cache(ctx).get(token, s.key_cache_seconds, s.negative_cache_seconds)
    return found and p is not None


def _unauthorized(detail: str) -> ProblemError:
    AUTH_FAILURES.labels("unauthenticated").inc()
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="socmon", ApiKey'})


def authenticate(
    request: Request,
    x_api_key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    """Who is calling: from ``X-API-Key``, ``Authorization: Bearer <key or JWT>``.

    Failed authentications are throttled per client address (``api.auth_failures_per_minute``):
    past the budget the answer is 429 before any lookup, so guessing keys costs the guesser,
    not Elasticsearch."""
    ctx = get_ctx(request)
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = x_api_key or (credentials.credentials if credentials is not None else "")
    if not token:
        raise _unauthorized("authentication required: X-API-Key or Authorization: Bearer")
    failures: RateLimiter | None = ctx.extras.get("auth_failures")
    address = request.client.host if request.client else "-"
    if failures is not None:
        wait = failures.wait(address)
        if wait > 0 and not _known_valid(ctx, token):
            AUTH_FAILURES.labels("throttled").inc()
            raise ProblemError(
                429,
                "too many failed authentications from this address",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
    try:
        if x_api_key or token.startswith(PREFIX):
            p = _from_key(ctx, token)
            if p is None:
                raise _unauthorized("invalid or revoked API key")
        else:
            p = _from_jwt(ctx, token)
    except ProblemError as e:
        if e.status == 401 and failures is not None:
            failures.take(address)
        raise
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
    """A token bucket per key: ``per_minute`` sustained, ``burst`` at once. Buckets that
    have refilled are dropped once there are more than ``max_keys``."""

    def __init__(self, per_minute: int, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``take`` would succeed (0: now), without taking anything."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(key, time.monotonic())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: str) -> float:
        """0 when allowed; otherwise the seconds until a request would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:  # all busy: forget the oldest half
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for k in oldest[: len(oldest) // 2]:
                del self._buckets[k]
