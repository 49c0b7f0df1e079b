"""One router module per page group. Each router comes from ``console_router()`` so its
errors render as pages and it stays out of the API's OpenAPI document; each route declares
its role with ``deps.require_user(role)`` (or ``socmon.api.auth.public``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from socmon.api.console.deps import mark_console


def console_router() -> APIRouter:
    return APIRouter(include_in_schema=False, dependencies=[Depends(mark_console)])


def routers() -> list[APIRouter]:
    from socmon.api.console.pages import account, alerts, oidc, overview, views

    # views before alerts: /alerts/views is not the alert "views"
    out = [account.router, oidc.router, overview.router, views.router, alerts.router]
    # console pages 4 and 7 (h-con2); Administration, Reports (pages 9, 8);
    # Rules, Exceptions (pages 5, 6)
    from socmon.api.console.pages import admin, entities, exceptions, reports, rules, units

    out += [
        entities.router,
        units.router,
        admin.router,
        reports.router,
        rules.router,
        exceptions.router,
    ]
    return out
