"""Errors the alerting API raises (the HTTP layer maps them to 404 / 409 / 422)."""

from __future__ import annotations


class AlertingError(Exception):
    """Base of alerting errors."""


class AlertNotFound(AlertingError):
    """No alert with that id."""


class InvalidTransition(AlertingError):
    """The status change is not allowed from the alert's current status."""


class ConcurrentUpdate(AlertingError):
    """The document kept changing under us; the caller may retry."""


class ExceptionNotFound(AlertingError):
    """No exception with that id."""


class InvalidException(AlertingError):
    """The exception document is not valid (scope, conditions, expiry)."""
