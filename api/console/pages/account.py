"""Signing in and out, changing one's password, choosing the language."""

from __future__ import annotations

import hmac
import logging

from fastapi import Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from socmon.api import audit
from socmon.api.auth import public
from socmon.api.console import csrf, i18n, oidc, sessions, users
from socmon.api.console.deps import ConsoleUser, current_user, forget_user, require_user
from socmon.api.console.i18n import N_
from socmon.api.console.pages import console_router
from socmon.api.console.render import get_console, render
from socmon.api.context import ApiContext, get_ctx
from socmon.api.problems import ProblemError

log = logging.getLogger(__name__)

router = console_router()

WRONG = N_("Wrong user name or password.")
THROTTLED_USER = N_(
    "Too many failed sign-ins for this user name. Try again in %(minutes)s minute(s)."
)
THROTTLED_ADDRESS = N_(
    "Too many failed sign-ins from your address. Try again in %(minutes)s minute(s)."
)
PASSWORD_CHANGED = N_("Your password has been changed.")
PASSWORD_MISMATCH = N_("The two new passwords differ.")
PASSWORD_SHORT = N_("The new password must have at least %(n)s characters.")
WRONG_CURRENT = N_("The current password is wrong.")


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may follow sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):  # browsers drop tabs/newlines
        return "/"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_page(
    request: Request, next_url: str, error: str | None, status: int, **params: object
) -> Response:
    """The sign-in form (with the provider's button when OIDC is configured), an error
    message (a msgid and its parameters) when given."""
    ctx = get_ctx(request)
    no_users = users.count_users(ctx.client, ctx.names) == 0
    probe = Response()
    token = csrf.login_token(request, probe)
    s = ctx.settings.api
    context = {
        "next": next_url,
        "error": error,
        "error_params": params,
        "no_users": no_users,
        "oidc_provider": s.oidc_provider_name if oidc.enabled(s) else None,
    }
    resp = render(request, "pages/login.html", context, None, status, csrf=token)
    for k, v in probe.headers.items():
        if k.lower() == "set-cookie":
            resp.headers.append(k, v)
    return resp


@router.get("/login")
async def login_form(
    request: Request, next: str | None = None, _: None = Depends(public)
) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return await run_in_threadpool(login_page, request, safe_next(next), None, 200)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(..., max_length=256),
    password: str = Form(..., max_length=1024),
    csrf_token: str = Form("", max_length=256),
    next: str = Form("/", max_length=2048),
    _: None = Depends(public),
) -> Response:
    ctx = get_ctx(request)
    console = get_console(request)
    target = safe_next(next)
    cookie = request.cookies.get(csrf.LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        raise csrf.CsrfError()
    address = _address(request)
    refusal = console.throttle.check(username, address)
    if refusal is not None:
        log.warning("console sign-in throttled", extra={"user": username, "address": address})
        msg = THROTTLED_USER if refusal.by == "user" else THROTTLED_ADDRESS
        resp = login_page(request, target, msg, 429, minutes=(refusal.retry_after + 59) // 60)
        resp.headers["Retry-After"] = str(refusal.retry_after)
        return resp
    user = users.authenticate(ctx.client, ctx.names, username, password)
    if user is None:
        console.throttle.failed(username, address)
        log.warning("console sign-in failed", extra={"user": username, "address": address})
        return login_page(request, target, WRONG, 401)
    console.throttle.succeeded(username)
    return open_session(request, user, target, {"address": address})


def open_session(
    request: Request, user: users.User, target: str, details: dict[str, str]
) -> Response:
    """A signed-in user's new session (password or OIDC alike): created, audited
    (``console.login`` with ``details``), its cookie set, the browser sent to ``target``."""
    ctx = get_ctx(request)
    token, _sess = sessions.create(
        ctx.client,
        ctx.names,
        ctx.settings.api,
        user.name,
        _address(request),
        request.headers.get("user-agent", ""),
    )
    forget_user(request, user.name)  # role or units may have changed (OIDC claims)
    audit.record(ctx, users.principal(user), "console.login", "user", user.name, None, details)
    resp = RedirectResponse(target, status_code=303)
    sessions.set_cookie(request, resp, token)
    resp.delete_cookie(csrf.LOGIN_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    """Ends the session; a user who signed in at the OIDC provider is then sent to end the
    provider's session too (``api.oidc_logout_at_provider``), which brings them to /login."""
    ctx = get_ctx(request)
    sessions.delete(ctx.client, ctx.names, cu.session.sid)
    forget_user(request, cu.user.name)
    at_provider: str | None = None
    details: dict[str, bool] | None = None
    if cu.user.source == "oidc":
        at_provider = _provider_logout(request, ctx)
        details = {"provider_logout": at_provider is not None}
    audit.record(ctx, cu.principal, "console.logout", "user", cu.user.name, None, details)
    resp: Response
    if at_provider is None:
        resp = RedirectResponse("/login", status_code=303)
    else:
        provider = ctx.settings.api.oidc_provider_name
        # path: where the language switch returns to (there is no GET /logout)
        page = {"provider_logout": at_provider, "provider": provider, "path": "/login"}
        resp = render(request, "pages/signed_out.html", page)
    sessions.clear_cookie(resp)
    return resp


def _provider_logout(request: Request, ctx: ApiContext) -> str | None:
    """The provider's end-session URL, or None (none announced, the setting off, OIDC no
    longer configured, or the provider unreachable: the console session is ended anyway)."""
    if not oidc.enabled(ctx.settings.api):
        return None
    try:
        provider = oidc.provider(ctx)
    except oidc.OidcError as e:
        log.warning("oidc provider unreachable at sign-out", extra={"reason": e.reason})
        return None
    back = oidc.console_base(ctx.settings, str(request.base_url)) + "/login"
    return oidc.logout_url(provider, ctx.settings.api, back)


def _has_password(cu: ConsoleUser) -> None:
    if cu.user.source == "oidc":
        raise ProblemError(404, "a user signing in at the OIDC provider has no password here")


@router.get("/account/password")
def password_form(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    _has_password(cu)
    done = request.query_params.get("done") == "1"
    return render(request, "pages/password.html", {"error": None, "done": done}, cu)


@router.post("/account/password")
def change_password(
    request: Request,
    current: str = Form(..., max_length=1024),
    new: str = Form(..., max_length=1024),
    confirm: str = Form(..., max_length=1024),
    cu: ConsoleUser = Depends(require_user("viewer")),
) -> Response:
    _has_password(cu)
    ctx = get_ctx(request)
    error: str | None = None
    params: dict[str, object] = {}
    if new != confirm:
        error = PASSWORD_MISMATCH
    elif len(new) < users.MIN_PASSWORD:
        error, params = PASSWORD_SHORT, {"n": users.MIN_PASSWORD}
    elif users.authenticate(ctx.client, ctx.names, cu.user.name, current) is None:
        error = WRONG_CURRENT
    if error:
        context = {"error": error, "error_params": params, "done": False}
        return render(request, "pages/password.html", context, cu, 422)
    users.set_password(ctx.client, ctx.names, cu.user.name, new, cu.principal.actor)
    # Other browsers signed in with the old password are signed out; this one continues.
    sessions.delete_for_user(ctx.client, ctx.names, cu.user.name)
    forget_user(request, cu.user.name)
    token, _sess = sessions.create(
        ctx.client,
        ctx.names,
        ctx.settings.api,
        cu.user.name,
        _address(request),
        request.headers.get("user-agent", ""),
    )
    audit.record(ctx, cu.principal, "user.password", "user", cu.user.name, None, None)
    resp = RedirectResponse("/account/password?done=1", status_code=303)
    sessions.set_cookie(request, resp, token)
    return resp


@router.post("/language")
async def set_language(
    request: Request,
    lang: str = Form(..., max_length=8),
    next: str = Form("/", max_length=2048),
    csrf_token: str = Form("", max_length=256),
    _: None = Depends(public),
) -> Response:
    """Anyone may switch (the sign-in page too); a signed-in user's choice is stored."""
    if lang not in i18n.LANGUAGES:
        raise ProblemError(422, f"language must be one of {', '.join(i18n.LANGUAGES)}")
    cu = await current_user(request)
    if cu is not None:
        await csrf.check(request, cu.session.csrf)
        ctx = get_ctx(request)
        await run_in_threadpool(
            users.set_language, ctx.client, ctx.names, cu.user.name, lang, cu.principal.actor
        )
        forget_user(request, cu.user.name)
        await run_in_threadpool(
            audit.record, ctx, cu.principal, "user.language", "user", cu.user.name, None, lang
        )
    else:
        cookie = request.cookies.get(csrf.LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, csrf_token):
            raise csrf.CsrfError()
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp
