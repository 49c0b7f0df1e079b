"""Translations (gettext catalogues compiled by ``pybabel compile`` at bootstrap) and dates.

Vietnamese is the default; English is chosen per user (stored on the user), before sign-in by
the ``socmon_lang`` cookie the language switch sets, else by Accept-Language. Python code marks
the strings it shows with ``N_`` (Babel extracts ``_`` and ``N_``); templates translate them.
Dates are shown in ``alerting.timezone``.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "socmon_lang"


class CatalogueMissing(RuntimeError):
    """A compiled catalogue is missing: the console must not start untranslated."""


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def load_catalogues(locale_dir: Path = LOCALE_DIR) -> dict[str, gettext.GNUTranslations]:
    out: dict[str, gettext.GNUTranslations] = {}
    for lang in LANGUAGES:
        mo = locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not mo.is_file():
            raise CatalogueMissing(
                f"console translations not compiled: {mo} is missing "
                "(run deploy/bootstrap.sh, or `pybabel compile -d api/locale -D messages`)"
            )
        with mo.open("rb") as f:
            out[lang] = gettext.GNUTranslations(f)
    return out


def from_accept_language(header: str | None) -> str | None:
    """The first of our languages in an Accept-Language header, by its q weights."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    for neg_q, _, tag in sorted(ranked):
        if neg_q < 0 and tag in LANGUAGES:
            return tag
    return None


def choose(request: Request, user_language: str | None) -> str:
    if user_language in LANGUAGES:
        return str(user_language)
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGUAGES:
        return str(cookie)
    return from_accept_language(request.headers.get("accept-language")) or DEFAULT


def translator(catalogue: gettext.GNUTranslations) -> Callable[..., str]:
    """``_(msgid, **params)``: the translation, ``%(name)s`` placeholders filled."""

    def _(message: str, **params: Any) -> str:
        text = catalogue.gettext(message)
        return text % params if params else text

    return _


def _local(value: dt.datetime, zone: ZoneInfo) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    # digits only, the same in every language: strftime, ~7x cheaper than Babel's
    # formatting (one per row of a list page)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


# List pages show the same instants again and again (the queue's first page, polled).
@functools.lru_cache(maxsize=8192)
def _local_text(value: str, zone: ZoneInfo) -> str:
    try:
        return _local(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), zone)
    except ValueError:
        return value


def date_formatter(lang: str, tz: str) -> Callable[[Any], str]:
    """Format an ISO 8601 string or datetime in the site's time zone ('' for nothing)."""
    zone = ZoneInfo(tz)  # one object per zone (ZoneInfo's own cache): a stable cache key

    def fmt(value: Any) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            return _local_text(value, zone)
        if not isinstance(value, dt.datetime):
            return str(value)
        return _local(value, zone)

    return fmt
