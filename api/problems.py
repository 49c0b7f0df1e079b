"""RFC 9457 problem details (``application/problem+json``) for every error the API returns."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from elasticsearch import ApiError, ConnectionError, ConnectionTimeout
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE = "about:blank"
MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """A problem details object (RFC 9457)."""

    type: str = Field(PROBLEM_TYPE, examples=["about:blank"])
    title: str = Field(..., examples=["Not Found"])
    status: int = Field(..., examples=[404])
    detail: str | None = Field(None, examples=["alert 'a1' not found"])
    instance: str | None = Field(None, examples=["/api/v1/alerts/a1"])
    errors: list[dict[str, Any]] | None = Field(
        None,
        description="Per-field problems (validation): location, message, and for Sigma rules "
        "the line and field.",
        examples=[[{"loc": ["body", "yaml"], "msg": "unknown modifier", "line": 7}]],
    )


class ProblemError(Exception):
    """Raise to answer with a problem+json document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.title = title
        self.errors = errors
        self.headers = headers


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _jsonable_errors(errs: Any) -> list[dict[str, Any]]:
    out = []
    for e in errs:
        out.append(
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "invalid")),
                "type": str(e.get("type", "")),
            }
        )
    return out


def install(app: FastAPI) -> None:
    """Turn every error into problem+json: ours, HTTP errors, validation, Elasticsearch."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            "the request is not valid",
            instance=request.url.path,
            errors=_jsonable_errors(exc.errors()),
        )

    @app.exception_handler(ConnectionTimeout)
    async def _es_slow(request: Request, exc: Exception) -> JSONResponse:
        log.warning("elasticsearch timed out", extra={"path": request.url.path})
        return problem_response(
            504, "the query took longer than allowed", instance=request.url.path
        )

    @app.exception_handler(ConnectionError)
    async def _es_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "elasticsearch unavailable", extra={"path": request.url.path, "error": str(exc)}
        )
        return problem_response(
            503,
            "Elasticsearch is not reachable",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(ApiError)
    async def _es_error(request: Request, exc: ApiError) -> JSONResponse:
        status = int(getattr(exc, "status_code", 500) or 500)
        text = str(exc)
        if "search_context_missing" in text or "No search context" in text:
            return problem_response(
                410,
                "the cursor has expired; start again from the first page",
                instance=request.url.path,
            )
        if status == 429:
            return problem_response(
                429,
                "Elasticsearch is overloaded",
                instance=request.url.path,
                headers={"Retry-After": "1"},
            )
        # Elasticsearch's reasons name indices, fields and internals: logged under a
        # reference the caller gets, never echoed (issue 16 item 12).
        ref = secrets.token_hex(6)
        if status == 400:
            log.info(
                "elasticsearch rejected a query",
                extra={"path": request.url.path, "error": text[:500], "reference": ref},
            )
            return problem_response(
                400,
                f"the query was rejected by the search engine; check its syntax (reference {ref})",
                instance=request.url.path,
            )
        log.error(
            "elasticsearch error",
            extra={"path": request.url.path, "error": text[:1000], "reference": ref},
        )
        return problem_response(
            502,
            f"Elasticsearch answered with an error (reference {ref})",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = secrets.token_hex(6)
        log.exception("unhandled error", extra={"path": request.url.path, "reference": ref})
        return problem_response(500, f"internal error (reference {ref})", instance=request.url.path)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json errors."""
    return {
        c: {
            "model": Problem,
            "description": _TITLES.get(c, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for c in codes
    }
