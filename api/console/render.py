"""Rendering pages: the Jinja2 environment, the per-request language, and what every
template receives (``_``, ``lang``, ``user``, ``csrf``, ``when`` for dates)."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from socmon.api.auth import RateLimiter
from socmon.api.console import i18n
from socmon.api.console.throttle import LoginThrottle

if TYPE_CHECKING:
    from socmon.api.console.deps import ConsoleUser

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
ROLE_LABELS = {
    "viewer": i18n.N_("Viewer"),
    "analyst": i18n.N_("Analyst"),
    "admin": i18n.N_("Administrator"),
}


@dataclass
class Console:
    """What the console keeps for the life of the application (in ``ctx.extras``)."""

    templates: Jinja2Templates
    catalogues: dict[str, gettext.GNUTranslations]
    throttle: LoginThrottle
    oidc_starts: RateLimiter  # OIDC sign-ins started per address (each writes a document)
    timezone: str
    poll_seconds: int


def get_console(request: Request) -> Console:
    console: Console = request.app.state.ctx.extras["console"]
    return console


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    # The templates ship with the package and do not change while it runs: checking each
    # one's modification time on every page was a fifth of a page's server time.
    templates.env.auto_reload = False
    return templates


def language(request: Request, user: ConsoleUser | None) -> str:
    return i18n.choose(request, user.user.language if user else None)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    user: ConsoleUser | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    csrf: str = "",
) -> Response:
    console = get_console(request)
    lang = language(request, user)
    tr = i18n.translator(console.catalogues[lang])
    ctx: dict[str, Any] = {
        "_": tr,
        # {key: label} -> {key: translated label}: for lists, translate once per page
        "translated": lambda labels: {k: tr(v) for k, v in labels.items()},
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "user": user,
        "csrf": user.session.csrf if user else csrf,
        "when": i18n.date_formatter(lang, console.timezone),
        "timezone": console.timezone,
        "poll_seconds": console.poll_seconds,
        "role_labels": ROLE_LABELS,
        "path": request.url.path,
        **(context or {}),
    }
    return console.templates.TemplateResponse(
        request, template, ctx, status_code=status_code, headers=headers
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
