"""Security headers on every response (unless a route set its own): a Content-Security-Policy
fitting the kind of page, no MIME sniffing, no framing, no referrer, no caching, and HSTS
when the API itself serves TLS.

Policies: JSON and problem+json answers load nothing (``default-src 'none'``); the HTML
report has inline styles and SVG only; /docs runs Swagger UI from /docs/static (no CDN, no
inline script: the page's only script is ``docs-init.js``); the web console (every path
outside /api, /docs and the health/metrics routes) loads scripts, styles, images and htmx
requests from this server only and posts its forms to it, with no inline script or style.
A route that needs another policy sets ``Content-Security-Policy`` itself.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# Swagger UI sets style attributes at run time, hence 'unsafe-inline' for styles only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
REPORT_PATHS = ("/api/v1/reports/html",)
API_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")


def policy_for(path: str) -> str:
    if path == "/docs" or path.startswith("/docs/"):
        return DOCS_CSP
    if path in REPORT_PATHS:
        return REPORT_CSP
    if path.startswith(API_PREFIXES):
        return API_CSP
    return CONSOLE_CSP


class SecurityHeaders:
    """Adds the headers above to each HTTP response; ``hsts_max_age`` > 0 adds
    Strict-Transport-Security to responses sent over TLS."""

    def __init__(self, app: ASGIApp, hsts_max_age: int = 0) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains" if hsts_max_age > 0 else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = policy_for(scope.get("path", ""))
        tls = scope.get("scheme") == "https"

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = MutableHeaders(scope=msg)
                headers.setdefault("Content-Security-Policy", csp)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                if tls and self.hsts:
                    headers.setdefault("Strict-Transport-Security", self.hsts)
            await send(msg)

        await self.app(scope, receive, send_with_headers)
