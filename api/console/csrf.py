"""CSRF protection: a token per session, required on every state-changing request.

Forms send it as the ``csrf_token`` field, htmx as the ``X-CSRF-Token`` header (set once on
``<body hx-headers>``). Before sign-in there is no session: the login form uses a
double-submit cookie (``socmon_login_csrf``) so a foreign site cannot sign a browser in to an
account of its choosing.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from socmon.api.problems import ProblemError

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "socmon_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(ProblemError):
    def __init__(self) -> None:
        super().__init__(403, "the form has expired or did not come from this site: reload it")


async def submitted_token(request: Request) -> str:
    token = request.headers.get(HEADER)
    if token:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check(request: Request, expected: str) -> None:
    """Refuse (403) a state-changing request whose token is not ``expected``."""
    if request.method in SAFE_METHODS:
        return
    got = await submitted_token(request)
    if not got or not expected or not hmac.compare_digest(got, expected):
        raise CsrfError()


def login_token(request: Request, response: Response) -> str:
    """The login form's token (reusing the browser's cookie when it has one)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return token
