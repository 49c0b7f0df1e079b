"""Errors of console requests as pages (the API keeps problem+json).

The application's handlers stay in place; for requests that reached a console route (marked
by ``deps.mark_console``) they are wrapped to render ``pages/error.html`` (or, for htmx, the
``partials/flash.html`` message retargeted to ``#flash``). No session: the sign-in form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from socmon.api.console.deps import LoginRequired, current_user
from socmon.api.console.i18n import N_
from socmon.api.console.render import is_htmx, render
from socmon.api.problems import ProblemError

TITLES = {
    400: N_("The request is not valid"),
    403: N_("You may not do this"),
    404: N_("Not found"),
    409: N_("Conflict: the object changed or cannot change this way"),
    410: N_("This page of results has expired: start again from the first page"),
    422: N_("The request is not valid"),
    429: N_("Too many requests: wait a moment"),
    503: N_("Elasticsearch is not reachable"),
    504: N_("The query took too long"),
}
OTHER = N_("Something went wrong")


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target, safe='')}"
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def error_page(
    request: Request, status: int, detail: str | None, headers: dict[str, str] | None = None
) -> Response:
    user = await current_user(request)
    context = {"status": status, "title": TITLES.get(status, OTHER), "detail": detail}
    if is_htmx(request):
        h = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", **(headers or {})}
        return render(request, "partials/flash.html", context, user, status, h)
    return render(request, "pages/error.html", context, user, status, headers)


def _console(request: Request) -> bool:
    return bool(getattr(request.state, "console", False))


def install(app: FastAPI) -> None:
    handlers: dict[Any, Any] = app.exception_handlers
    api_problem = handlers[ProblemError]
    api_http = handlers[StarletteHTTPException]
    api_validation = handlers[RequestValidationError]

    async def login_required(request: Request, exc: Exception) -> Response:
        return login_redirect(request)

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        if not _console(request):
            return await api_problem(request, exc)
        return await error_page(request, exc.status, exc.detail, exc.headers)

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _console(request):
            return await api_http(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return await error_page(request, exc.status_code, detail)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _console(request):
            return await api_validation(request, exc)
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return await error_page(request, 422, fields or None)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(ProblemError, problem)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, validation)
