"""Translations: every string the console shows is in both catalogues, every Vietnamese entry
is translated (placeholders kept), no visible text in a template escapes gettext; the
language is chosen per user, by cookie, then Accept-Language, Vietnamese by default; dates
are shown in alerting.timezone."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from socmon.api.console.i18n import LOCALE_DIR, date_formatter, from_accept_language
from socmon.settings import PROJECT_ROOT

API = PROJECT_ROOT / "api"
TEMPLATES = API / "templates"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
LETTER = re.compile(r"[^\W\d_]")
# Not translated on purpose: the product's name and the languages' own names.
UNTRANSLATED = {"socmon", "Tiếng Việt", "English"}
TEXT_ATTRS = ("title", "aria-label", "placeholder", "alt", "label")


def extracted() -> set[str]:
    with (API / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "N_": None}
    found = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(API), method_map, options_map, keywords=keywords
    ):
        found.add(msg if isinstance(msg, str) else msg[0])
    return found


def catalogue(lang: str):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def test_catalogues_hold_every_string_and_vietnamese_is_complete():
    msgs = extracted()
    assert len(msgs) > 100  # the extraction really ran over the templates and modules
    for lang in ("vi", "en"):
        cat = catalogue(lang)
        ids = {m.id for m in cat if m.id}
        assert not msgs - ids, f"{lang}: not in the catalogue (run pybabel update): {msgs - ids}"
        assert not ids - msgs, f"{lang}: stale entries: {ids - msgs}"
    bad = []
    for m in catalogue("vi"):
        if not m.id:
            continue
        if not m.string or m.fuzzy:
            bad.append(f"untranslated: {m.id}")
        elif set(PLACEHOLDER.findall(m.id)) != set(PLACEHOLDER.findall(str(m.string))):
            bad.append(f"placeholders differ: {m.id}")
    assert not bad, "\n".join(bad)


class _Text(HTMLParser):
    """Visible text and text attributes of a template once its Jinja parts are removed."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "pre", "kbd"):
            self.skip += 1
        for name, value in attrs:
            if name in TEXT_ATTRS and value and LETTER.search(value):
                self.found.append(f"{name}={value}")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre", "kbd"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        text = data.strip(" \n\t·→:,.()+")
        if text and not self.skip and LETTER.search(text) and text not in UNTRANSLATED:
            self.found.append(text)


def _strip_jinja(source: str) -> str:
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", "", source, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", "", source, flags=re.S)


def test_no_visible_template_text_outside_gettext():
    leaks = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        p = _Text()
        p.feed(_strip_jinja(path.read_text("utf-8")))
        if p.found:
            leaks[str(path.relative_to(TEMPLATES))] = p.found
    assert not leaks, f"visible text not passed through _(): {leaks}"


def test_the_leak_detector_finds_leaks():
    p = _Text()
    p.feed(_strip_jinja('<p>{{ _("ok") }} Hello</p><button aria-label="Close"></button>'))
    assert p.found == ["Hello", "aria-label=Close"]


def test_accept_language():
    assert from_accept_language("en-US,en;q=0.9,vi;q=0.8") == "en"
    assert from_accept_language("fr-FR, vi;q=0.5, en;q=0.4") == "vi"
    assert from_accept_language("fr, de") is None
    assert from_accept_language("vi;q=0, en;q=0.1") == "en"
    assert from_accept_language(None) is None


def test_language_of_pages(client):
    assert "Đăng nhập socmon" in client.get("/login").text  # default: Vietnamese
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Sign in to socmon" in page.text and '<html lang="en">' in page.text
    client.cookies.set("socmon_lang", "vi")
    page = client.get("/login", headers={"Accept-Language": "en"})
    assert "Đăng nhập socmon" in page.text  # the switch's cookie beats the header


def test_dates_in_the_site_time_zone():
    # Asia/Ho_Chi_Minh is UTC+7 all year (no daylight saving time).
    fmt = date_formatter("vi", "Asia/Ho_Chi_Minh")
    assert fmt("2026-11-24T20:30:00.000Z") == "2026-11-25 03:30:00"
    assert date_formatter("en", "UTC")("2026-11-24T20:30:00Z") == "2026-11-24 20:30:00"
    assert fmt(None) == ""


def test_compiled_catalogues_exist():
    for lang in ("vi", "en"):
        assert Path(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo").is_file()
