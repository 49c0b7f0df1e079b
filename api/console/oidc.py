"""OpenID Connect sign-in for the console: the authorization code flow with PKCE (S256),
``state`` and ``nonce`` (OpenID Connect Core 1.0 section 3.1, RFC 7636).

The provider's endpoints come from its discovery document
(``{api.oidc_issuer}/.well-known/openid-configuration``), cached for an hour; the ID token is
verified with PyJWT against the keys of the document's ``jwks_uri`` (signature, ``iss``,
``aud`` = ``api.oidc_client_id``, ``exp``, ``iat``, ``nonce``). Role and units come from the
same claims, with the same fail-closed rules, as the API's bearer JWTs
(``socmon.api.auth.token_role``/``token_units``). Every refusal is an ``OidcError`` whose
message is a translatable text for the sign-in page; the reason for the log stays separate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt

from socmon.api.auth import token_role, token_units
from socmon.api.console.i18n import N_
from socmon.api.console.users import NAME_RE
from socmon.api.context import ApiContext
from socmon.api.problems import ProblemError
from socmon.settings import Settings
from socmon.settings.api import ApiSettings

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600.0
HTTP_TIMEOUT = 5.0

UNREACHABLE = N_(
    "The sign-in provider cannot be reached. Try again later, or sign in with a password."
)
BAD_STATE = N_(
    "This sign-in did not start in this browser, was already completed or has expired. Start again."
)
DENIED = N_("The sign-in was cancelled or refused at the provider.")
PROVIDER_ERROR = N_("The sign-in provider reported an error: %(answer)s")
CODE_REFUSED = N_(
    "The provider refused to complete the sign-in (the code was already used or has "
    "expired). Start again."
)
INVALID_TOKEN = N_(
    "The provider's identity token could not be verified. Ask an administrator to check "
    "the sign-in settings."
)
NO_NAME = N_("The provider sent no usable user name (claim %(claim)s).")
NO_ROLE = N_(
    "Your account at the provider has no socmon role (claim %(claim)s). Ask an administrator."
)
NO_UNITS = N_(
    "Your account at the provider is not bound to any organisation unit (claim %(claim)s). "
    "Ask an administrator."
)


class OidcError(Exception):
    """A sign-in refused: ``message`` (a msgid, shown translated), its parameters, the HTTP
    status of the page, and the reason for the log and the audit record."""

    def __init__(self, message: str, reason: str, status: int = 400, **params: object) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason
        self.status = status
        self.params = params


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    auth_methods: tuple[str, ...]  # token_endpoint_auth_methods_supported
    jwks: jwt.PyJWKClient
    end_session_endpoint: str | None  # RP-Initiated Logout 1.0; None: the provider has none


@dataclass(frozen=True, slots=True)
class Identity:
    name: str  # the username claim's value (the user record is "oidc:<name>")
    subject: str
    role: str
    units: tuple[str, ...] | None


def enabled(s: ApiSettings) -> bool:
    return bool(s.oidc_issuer and s.oidc_client_id)


_lock = threading.Lock()


def provider(ctx: ApiContext) -> Provider:
    """The issuer's endpoints from its discovery document (cached ``DISCOVERY_TTL``)."""
    s = ctx.settings.api
    assert s.oidc_issuer
    with _lock:  # one fetch when many sign-ins start at once
        cached: tuple[float, Provider] | None = ctx.extras.get("oidc_provider")
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        url = s.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            resp = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
            resp.raise_for_status()
            doc = resp.json()
            if doc.get("issuer") != s.oidc_issuer:  # Discovery 1.0 section 4.3
                raise ValueError(f"the document names issuer {doc.get('issuer')!r}")
            p = Provider(
                issuer=doc["issuer"],
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                auth_methods=tuple(
                    doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
                ),
                jwks=jwt.PyJWKClient(
                    str(doc["jwks_uri"]), cache_keys=True, lifespan=300, timeout=HTTP_TIMEOUT
                ),
                end_session_endpoint=_web_url(doc.get("end_session_endpoint")),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            raise OidcError(UNREACHABLE, f"discovery {url}: {e}", 503) from None
        ctx.extras["oidc_provider"] = (time.monotonic(), p)
        return p


def _web_url(value: object) -> str | None:
    """An http(s) URL the browser may be sent to (a page refresh is not checked by the CSP)."""
    if isinstance(value, str) and urlsplit(value).scheme in ("https", "http"):
        return value
    return None


def console_base(s: Settings, request_base: str) -> str:
    """The console's URL as the provider must know it: ``api.oidc_redirect_base``, else
    ``alerting.base_url`` when it was configured, else the URL the request came to."""
    base = s.api.oidc_redirect_base
    if not base and "base_url" in s.alerting.model_fields_set:
        base = s.alerting.base_url
    return (base or request_base).rstrip("/")


def logout_url(p: Provider, s: ApiSettings, post_logout_redirect_uri: str) -> str | None:
    """Where to send a browser signing out so that the provider ends its session too
    (RP-Initiated Logout 1.0 section 2: ``client_id`` with ``post_logout_redirect_uri``, no
    ``id_token_hint``, so that no ID token is kept with the session); None when the provider
    has no end_session_endpoint or the setting is off."""
    if not s.oidc_logout_at_provider or p.end_session_endpoint is None:
        return None
    query = {"client_id": s.oidc_client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    sep = "&" if "?" in p.end_session_endpoint else "?"
    return p.end_session_endpoint + sep + urlencode(query)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636 section 4.1-4.2."""
    verifier = secrets.token_urlsafe(48)  # 64 characters of the unreserved set
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def scopes(s: ApiSettings) -> str:
    return " ".join(dict.fromkeys(["openid", *s.oidc_scopes]))


def authorization_url(
    p: Provider, s: ApiSettings, redirect_uri: str, state: str, nonce: str, challenge: str
) -> str:
    query = {
        "response_type": "code",
        "client_id": s.oidc_client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes(s),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in p.authorization_endpoint else "?"
    return p.authorization_endpoint + sep + urlencode(query)


def exchange(p: Provider, s: ApiSettings, code: str, redirect_uri: str, verifier: str) -> str:
    """The ID token for an authorization code (the token endpoint, RFC 6749 section 4.1.3),
    the client authenticated as the discovery document allows."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth: tuple[str, str] | None = None
    secret = s.oidc_client_secret.get_secret_value() if s.oidc_client_secret else None
    assert s.oidc_client_id
    if secret is None:
        form["client_id"] = s.oidc_client_id  # a public client: PKCE alone
    elif "client_secret_basic" in p.auth_methods:
        auth = (s.oidc_client_id, secret)
    elif "client_secret_post" in p.auth_methods:
        form.update(client_id=s.oidc_client_id, client_secret=secret)
    else:
        raise OidcError(
            UNREACHABLE, f"the provider takes neither secret method: {p.auth_methods}", 503
        )
    try:
        resp = httpx.post(p.token_endpoint, data=form, auth=auth, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as e:
        raise OidcError(UNREACHABLE, f"token endpoint: {e}", 503) from None
    try:
        body: dict[str, Any] = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        error = str(body.get("error", resp.status_code))[:100]
        raise OidcError(CODE_REFUSED, f"token endpoint answered {error}")
    token = body.get("id_token")
    if not isinstance(token, str):
        raise OidcError(INVALID_TOKEN, "the token answer holds no id_token")
    return token


def verify_id_token(p: Provider, s: ApiSettings, token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
    try:
        key = _signing_key(p, token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=s.oidc_algorithms,
            audience=s.oidc_client_id,
            issuer=p.issuer,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            leeway=30,
        )
    except (jwt.PyJWKClientError, jwt.InvalidTokenError) as e:
        raise OidcError(INVALID_TOKEN, f"id token: {type(e).__name__}: {str(e)[:200]}") from None
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
        raise OidcError(INVALID_TOKEN, "id token: nonce mismatch (a replayed or foreign token)")
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != s.oidc_client_id:
        raise OidcError(INVALID_TOKEN, "id token: several audiences and azp is not ours")
    return claims


def _signing_key(p: Provider, token: str) -> jwt.PyJWK:
    """The key named by the token's ``kid``; without one, the JWKS's only signing key
    (OpenID Connect Core 1.0 section 10.1: ``kid`` is required only among several keys)."""
    kid = jwt.get_unverified_header(token).get("kid")
    if kid:
        return p.jwks.get_signing_key(kid)
    keys = p.jwks.get_signing_keys()
    if len(keys) != 1:
        raise jwt.InvalidTokenError(f"no kid in the token and {len(keys)} keys in the JWKS")
    return keys[0]


def identity(claims: dict[str, Any], s: ApiSettings) -> Identity:
    """Who signed in, with the role and units of the API's JWT rules; refused otherwise."""
    name = claims.get(s.oidc_username_claim)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise OidcError(
            NO_NAME, f"no usable '{s.oidc_username_claim}' claim", 403, claim=s.oidc_username_claim
        )
    try:
        role = token_role(claims.get(s.oidc_role_claim), s.oidc_role_claim)
    except ProblemError as e:
        raise OidcError(NO_ROLE, str(e), 403, claim=s.oidc_role_claim) from None
    try:
        units = token_units(claims.get(s.oidc_units_claim), s.oidc_units_claim)
    except ProblemError as e:
        raise OidcError(NO_UNITS, str(e), 403, claim=s.oidc_units_claim) from None
    return Identity(name, str(claims["sub"]), role, units)
