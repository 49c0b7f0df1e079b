"""Mounting the console in the API's FastAPI application (called by ``create_app``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from socmon.api.auth import RateLimiter
from socmon.api.console import assets, errors, i18n
from socmon.api.console.pages import routers
from socmon.api.console.render import Console, make_templates
from socmon.api.console.throttle import LoginThrottle
from socmon.api.console.users import count_users
from socmon.api.context import ApiContext

log = logging.getLogger(__name__)

FIRST_USER_HINT = (
    "no console user exists yet: create the first administrator with "
    "`socmon users create --name admin --role admin --password-stdin`"
)


def install(app: FastAPI, ctx: ApiContext) -> None:
    """Static files, templates, catalogues, error pages and the page routers.

    Raises ``assets.AssetsMissing`` / ``i18n.CatalogueMissing`` when the install is not
    complete: the service must not start with a console that cannot work."""
    s = ctx.settings.api
    assets.mount(app, assets.assets_dir(s.console_assets_dir))
    ctx.extras["console"] = Console(
        templates=make_templates(),
        catalogues=i18n.load_catalogues(),
        throttle=LoginThrottle(
            s.console_login_user_failures,
            s.console_login_address_failures,
            s.console_login_window_seconds,
        ),
        # the budget of failed authentications (api.auth_failures_per_minute and _burst)
        oidc_starts=RateLimiter(s.auth_failures_per_minute, s.auth_failures_burst),
        timezone=ctx.settings.alerting.timezone,
        poll_seconds=s.console_poll_seconds,
    )
    errors.install(app)
    for r in routers():
        app.include_router(r)


def announce_first_user(ctx: ApiContext) -> None:
    """Say at start-up how to create the first user when there is none."""
    try:
        n = count_users(ctx.client, ctx.names)
    except Exception as e:  # Elasticsearch not up yet: the service starts and retries later
        log.warning("console: cannot count users", extra={"error": str(e)})
        return
    if n == 0:
        log.warning(FIRST_USER_HINT)
