"""Signing in at the OIDC provider (``api.oidc_client_id`` set): ``GET /login/oidc`` sends
the browser to the provider, ``GET /login/oidc/callback`` completes the sign-in.

The protocol is ``console.oidc``, the sign-ins under way ``console.oidc_logins``; a
successful sign-in opens the same session as a password (``account.open_session``). Refusals
show the sign-in page with the reason; those of a verified identity (no role, no units,
disabled, name taken) are audited as ``console.login_refused``.
"""

from __future__ import annotations

import hmac
import logging
import re

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from socmon.api import audit
from socmon.api.auth import Principal, public
from socmon.api.console import oidc, oidc_logins, users
from socmon.api.console.deps import current_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.pages.account import login_page, open_session, safe_next
from socmon.api.console.render import get_console
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError

log = logging.getLogger(__name__)

router = console_router()

CALLBACK = "/login/oidc/callback"
ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")
THROTTLED = N_("Too many sign-ins started from your address. Try again in %(minutes)s minute(s).")
DISABLED = N_("This account is disabled in socmon. Ask an administrator.")
NAME_TAKEN = N_(
    "Another account at the provider has already signed in with this user name. "
    "Ask an administrator."
)


def _settings_on(request: Request) -> ApiContext:
    ctx = get_ctx(request)
    if not oidc.enabled(ctx.settings.api):
        raise ProblemError(404, "OIDC sign-in is not configured")
    return ctx


def redirect_uri(request: Request, ctx: ApiContext) -> str:
    """Where the provider sends the browser back: ``api.oidc_redirect_base``, else
    ``alerting.base_url`` when it was configured, else this request's own base URL."""
    return oidc.console_base(ctx.settings, str(request.base_url)) + CALLBACK


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login/oidc")
async def start(
    request: Request,
    next: str = Query("/", max_length=2048),
    _: None = Depends(public),
) -> Response:
    """A link, not a form: the console's CSP (``form-action 'self'``) would stop a form's
    redirect to the provider. Starting grants nothing: the callback needs this browser's
    state cookie, and the account is the one the browser signs in with at the provider."""
    ctx = _settings_on(request)
    if await current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return await run_in_threadpool(_start, request, ctx, safe_next(next))


def _start(request: Request, ctx: ApiContext, target: str) -> Response:
    s = ctx.settings.api
    wait = get_console(request).oidc_starts.take(_address(request))
    if wait > 0:
        log.warning("oidc sign-ins throttled", extra={"address": _address(request)})
        resp = login_page(request, target, THROTTLED, 429, minutes=int(wait + 59) // 60)
        resp.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return resp
    try:
        provider = oidc.provider(ctx)
    except oidc.OidcError as e:
        log.warning("oidc sign-in cannot start", extra={"reason": e.reason})
        return login_page(request, target, e.message, e.status, **e.params)
    verifier, challenge = oidc.pkce_pair()
    back = redirect_uri(request, ctx)
    state, pending = oidc_logins.start(
        ctx.client,
        ctx.names,
        verifier,
        target,
        back,
        _address(request),
        s.oidc_login_timeout_seconds,
    )
    url = oidc.authorization_url(provider, s, back, state, pending.nonce, challenge)
    resp = RedirectResponse(url, status_code=303)
    resp.set_cookie(
        oidc_logins.COOKIE,
        state,
        max_age=s.oidc_login_timeout_seconds,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: the cookie comes
        secure=request.url.scheme == "https",
        path=oidc_logins.COOKIE_PATH,
    )
    return resp


def _refused(
    request: Request, ctx: ApiContext, who: str, sub: str, e: oidc.OidcError, audited: bool
) -> Response:
    address = _address(request)
    log.warning(
        "console oidc sign-in refused: %s",
        e.reason,
        extra={"user": who, "reason": e.reason, "address": address},
    )
    if audited:
        actor = Principal(f"user:{who}", "none", None, f"oidc:{sub}")
        details = {"address": address, "method": "oidc", "subject": sub, "reason": e.reason}
        audit.record(ctx, actor, "console.login_refused", "user", who, None, details)
    resp = login_page(request, "/", e.message, e.status, **e.params)
    resp.delete_cookie(oidc_logins.COOKIE, path=oidc_logins.COOKIE_PATH)
    return resp


@router.get(CALLBACK)
def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    _: None = Depends(public),
) -> Response:
    ctx = _settings_on(request)
    s = ctx.settings.api
    try:
        cookie = request.cookies.get(oidc_logins.COOKIE, "")
        if error:
            # Nothing is granted, so the message needs no state (some providers leave it
            # out of error answers); the browser's sign-in under way ends here.
            oidc_logins.consume(ctx.client, ctx.names, cookie)
            reason = f"the provider answered {error}: {(error_description or '')[:200]}"
            if error == "access_denied":
                raise oidc.OidcError(oidc.DENIED, reason, 401)
            # Shown only when shaped like an error code (RFC 6749 section 4.1.2.1): the page
            # must not display sentences of whoever crafted the link.
            answer = error if ERROR_CODE.match(error) else "?"
            raise oidc.OidcError(oidc.PROVIDER_ERROR, reason, 400, answer=answer)
        if not state or not cookie or not hmac.compare_digest(cookie, state):
            raise oidc.OidcError(oidc.BAD_STATE, "the state is not the one of this browser")
        pending = oidc_logins.consume(ctx.client, ctx.names, state)
        if pending is None:
            raise oidc.OidcError(oidc.BAD_STATE, "the state is unknown, used or expired")
        if not code:
            raise oidc.OidcError(oidc.CODE_REFUSED, "the callback holds no code")
        provider = oidc.provider(ctx)
        token = oidc.exchange(provider, s, code, pending.redirect_uri, pending.verifier)
        claims = oidc.verify_id_token(provider, s, token, pending.nonce)
    except oidc.OidcError as e:
        return _refused(request, ctx, "-", "-", e, audited=False)
    # From here the provider vouched for who this is: refusals are audited.
    sub = str(claims["sub"])
    name = claims.get(s.oidc_username_claim)
    who = users.OIDC_PREFIX + (name if isinstance(name, str) and name else f"sub:{sub}")[:128]
    try:
        ident = oidc.identity(claims, s)
        user = users.record_oidc_user(
            ctx.client, ctx.names, ident.name, sub, provider.issuer, ident.role, ident.units
        )
    except oidc.OidcError as e:
        return _refused(request, ctx, who, sub, e, audited=True)
    except users.OidcConflict as e:
        return _refused(request, ctx, who, sub, oidc.OidcError(NAME_TAKEN, str(e), 403), True)
    if user.disabled:
        off = oidc.OidcError(DISABLED, "the user is disabled", 403)
        return _refused(request, ctx, who, sub, off, audited=True)
    details = {"address": _address(request), "method": "oidc", "subject": sub}
    resp = open_session(request, user, pending.next, details)
    resp.delete_cookie(oidc_logins.COOKIE, path=oidc_logins.COOKIE_PATH)
    return resp
