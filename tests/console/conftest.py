"""Fixtures for the console tests: the API application (tests/api/conftest.py), console users
of every role bound to unit A, unit B or the province, and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socmon.api.console import users
from socmon.api.context import ApiContext
from tests.api import conftest as api_fixtures
from tests.api.conftest import UNIT_A, UNIT_B

# The API tests' fixtures: the application on the test's index prefix.
api_settings = api_fixtures.api_settings
ctx = api_fixtures.ctx
app = api_fixtures.app
client = api_fixtures.client

PASSWORD = "correct horse battery"
ROLES = ("viewer", "analyst", "admin")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no csrf_token field in the page"
    return m.group(1)


@dataclass
class Signed:
    """A browser-like client signed in as a console user."""

    http: TestClient
    name: str
    csrf: str

    def post(self, url: str, data: dict | None = None, **kw):  # type: ignore[no-untyped-def]
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.http.post(url, data=form, follow_redirects=False, **kw)

    def get(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.get(url, follow_redirects=False, **kw)


def make_user(ctx: ApiContext, name: str, role: str, units: list[str] | None) -> None:
    users.create_user(ctx.client, ctx.names, name, role, units, PASSWORD, "test", refresh=False)


def sign_in(app: FastAPI, name: str, password: str = PASSWORD, **client_kw) -> Signed:  # type: ignore[no-untyped-def]
    http = TestClient(app, raise_server_exceptions=False, **client_kw)
    page = http.get("/login")
    assert page.status_code == 200, page.text
    r = http.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, (r.status_code, r.text[:500])
    home = http.get("/alerts", follow_redirects=False)
    assert home.status_code == 200, home.text[:500]
    return Signed(http, name, csrf_of(home.text))


@pytest.fixture
def console_users(ctx: ApiContext) -> dict[str, str]:
    """'<role>' (province), '<role>@A', '<role>@B' -> user name (password PASSWORD)."""
    out: dict[str, str] = {}
    for role in ROLES:
        for suffix, units in (("", None), ("@A", [UNIT_A]), ("@B", [UNIT_B])):
            name = f"{role}{suffix.replace('@', '-').lower()}"
            make_user(ctx, name, role, units)
            out[f"{role}{suffix}"] = name
    ctx.client.indices.refresh(index=users.users_index(ctx.names))
    return out


@pytest.fixture
def signed(app: FastAPI, console_users: dict[str, str]) -> Iterator[dict[str, Signed]]:
    """Who -> a client signed in (made on first use)."""
    cache: dict[str, Signed] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, who: str) -> Signed:
            cache[who] = sign_in(app, console_users[who])
            self[who] = cache[who]
            return cache[who]

    yield Lazy()
    for s in cache.values():
        s.http.close()
