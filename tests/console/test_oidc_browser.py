"""OIDC sign-in in a real browser: Debian's headless Chromium clicks the provider's button on
/login, signs in on oidc-provider-mock's own form and lands signed in on the overview; signing
out passes through the provider's end-session page back to /login; a refusal at the provider
comes back as a message on /login. axe-core on both pages.

The mock's pages load their stylesheet from a CDN: that request is aborted (the machine may
be offline) and left out of the check that socmon's pages reach no other host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from socmon.api.console import users
from socmon.api.context import ApiContext
from tests.api.conftest import UNIT_A
from tests.console.browser import axe_violations, serve, watched_page
from tests.console.oidc_provider import MockProvider, running
from tests.console.test_browser import browser

pytestmark = [pytest.mark.browser, pytest.mark.es]
__all__ = ["browser"]


@pytest.fixture
def provider(ctx: ApiContext) -> Iterator[MockProvider]:
    with running() as p:
        yield p


@pytest.fixture
def site(app: FastAPI, ctx: ApiContext, provider: MockProvider) -> Iterator[str]:
    for base in serve(app):
        s = ctx.settings.api
        s.oidc_issuer, s.oidc_client_id = provider.issuer, "socmon-console"
        s.oidc_client_secret = SecretStr("s3cret")
        s.oidc_provider_name, s.oidc_redirect_base = "Sở TTTT SSO", base
        yield base


@pytest.fixture
def page(browser: Any, site: str, provider: MockProvider) -> Iterator[Any]:
    # the mock provider's page asks for a stylesheet from a CDN: refused, not counted
    yield from watched_page(browser, (site, provider.issuer), block=True, allowed="picocss")


def test_sign_in_at_the_provider(page, site, ctx, provider):
    provider.set_user(
        "sub-ana", preferred_username="ana", socmon_role="analyst", socmon_units=[UNIT_A]
    )
    page.goto(f"{site}/login")
    assert not axe_violations(page), axe_violations(page)
    page.get_by_role("link", name="Đăng nhập bằng Sở TTTT SSO").click()
    page.wait_for_url(f"{provider.issuer}/oauth2/authorize*")
    page.fill("input[name=sub]", "sub-ana")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{site}/")
    assert "oidc:ana" in page.locator("header").inner_text()
    assert not axe_violations(page), axe_violations(page)
    user = users.get_user(ctx.client, ctx.names, "oidc:ana")
    assert user is not None and user.units == (UNIT_A,)
    # signing out ends the session at the provider too (RP-Initiated Logout: the console's
    # page refreshes to the provider's end-session page), which sends the browser to /login
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(f"{provider.issuer}/oauth2/end_session*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{site}/login")
    # then refuse at the provider: the reason is on the sign-in page
    page.get_by_role("link", name="Đăng nhập bằng Sở TTTT SSO").click()
    page.wait_for_url(f"{provider.issuer}/oauth2/authorize*")
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{site}/login/oidc/callback*")
    alert = page.get_by_role("alert")
    assert "Việc đăng nhập đã bị hủy hoặc bị từ chối tại nhà cung cấp." in alert.inner_text()
    assert not axe_violations(page), axe_violations(page)
