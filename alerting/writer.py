"""What the components that write alerts (grouping, operational checks) share: the cluster,
index names, settings, clock and the hand-off of notifications to the notifier."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch

from socmon.alerting import model
from socmon.alerting.notify.message import Notification
from socmon.indices import IndexNames
from socmon.settings.alerting import AlertingSettings

SYSTEM = "system"  # the actor of the changes socmon itself makes

Notify = Callable[[Notification], None]
# Makes notifications durable before the alert writes they announce (the notifier's outbox).
Persist = Callable[[list[Notification]], None]


class AlertWriter:
    """Base of the alert writers; a subclass sets up its own state in ``_post_init``."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        settings: AlertingSettings,
        notify: Notify | None = None,
        clock: Callable[[], dt.datetime] = model.utcnow,
        persist: Persist | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.settings = settings
        self.notify = notify
        self.persist = persist
        self.clock = clock
        self._post_init()

    def _post_init(self) -> None:
        pass

    def _emit(self, kind: str, alert: dict[str, Any], alert_id: str | None = None) -> None:
        """Hand a notification to ``notify`` (if any); a failing hand-off is logged, not raised."""
        if self.notify is None:
            return
        try:
            self.notify(Notification(kind, alert, model.iso(self.clock())))
        except Exception:
            # logged under the subclass's module, as each writer logged before
            logging.getLogger(type(self).__module__).exception(
                "notification hand-off failed",
                extra={"alert_id": alert.get("id") if alert_id is None else alert_id},
            )

    def _persist_ahead(self, pending: list[tuple[str, dict[str, Any]]]) -> None:
        """Make the notifications ``_emit`` will hand over for these (kind, alert) pairs
        durable first; raises when they cannot be stored (the caller retries its batch)."""
        if self.persist is not None and pending:
            at = model.iso(self.clock())
            self.persist([Notification(kind, dict(alert), at) for kind, alert in pending])

    def _open_state(self, now: dt.datetime, sla: dt.timedelta, seen: str | None) -> dict[str, Any]:
        """The lifecycle fields of a newly raised alert (open, no events yet, SLA running),
        the same for every kind of alert."""
        return {
            "first_seen": seen,
            "last_seen": seen,
            "event_count": 0,
            "event_refs": [],
            "events": [],
            "status": model.OPEN,
            "assignee": None,
            "notes": [],
            "history": [
                model.history_entry(SYSTEM, "create", "status", None, model.OPEN, None, now)
            ],
            "sla_due": model.iso(now + sla),
            "sla_breached": False,
            "reopened_count": 0,
        }
