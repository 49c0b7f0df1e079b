"""Notifications: channels, routing, digests, rate limits, retries and dead letters."""

from socmon.alerting.notify.message import Notification

__all__ = ["Notification"]
