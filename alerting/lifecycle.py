"""Alert lifecycle: status changes, assignment and notes, each appended to the history.

Every change is a read-modify-write guarded by optimistic concurrency (``if_seq_no`` /
``if_primary_term``; this Elasticsearch build has no scripts), retried on conflict. Each
function returns ``(before, after)`` documents (``_id`` included as ``id``) so the caller (the
API) can write its audit record.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from socmon.alerting import model
from socmon.alerting.errors import AlertNotFound, ConcurrentUpdate, InvalidTransition
from socmon.indices import IndexNames
from socmon.optimistic import UpdateConflict, read_document, update_document

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 10

Mutator = Callable[[dict[str, Any]], None]


def get_alert(client: Elasticsearch, names: IndexNames, alert_id: str) -> dict[str, Any]:
    """The alert document (with ``id``); raises AlertNotFound."""
    doc = read_document(client, names.alerts, alert_id)
    if doc is None:
        raise AlertNotFound(alert_id)
    return doc


def update_alert(
    client: Elasticsearch,
    names: IndexNames,
    alert_id: str,
    mutate: Mutator,
    refresh: bool | str = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``mutate`` to the alert's source under optimistic concurrency; retry conflicts.

    ``mutate`` edits the dict in place and may raise to abort. Returns (before, after).
    """

    def stamped(doc: dict[str, Any]) -> None:
        mutate(doc)
        doc["updated"] = model.iso(model.utcnow())

    try:
        before, after = update_document(
            client, names.alerts, alert_id, stamped, refresh, MAX_CONFLICT_RETRIES
        )
    except NotFoundError:
        raise AlertNotFound(alert_id) from None
    except UpdateConflict:
        raise ConcurrentUpdate(alert_id) from None
    before["id"] = after["id"] = alert_id
    return before, after


def apply_status(
    doc: dict[str, Any], to: str, actor: str, note: str | None, at: dt.datetime
) -> None:
    """Change ``doc``'s status in place (validated), recording history and timestamps."""
    current = doc.get("status", model.OPEN)
    if to not in model.STATUSES:
        raise InvalidTransition(f"unknown status {to!r}; use one of {list(model.STATUSES)}")
    if not model.can_transition(current, to):
        raise InvalidTransition(f"cannot go from {current} to {to}")
    action = "reopen" if current in model.CLOSED_STATUSES and to == model.OPEN else "status"
    doc["status"] = to
    stamp = model.iso(at)
    if to in (model.ACKNOWLEDGED, model.IN_PROGRESS):
        doc.setdefault("acknowledged_at", stamp)
    elif to in model.CLOSED_STATUSES:
        doc["resolved_at"] = stamp
        doc.setdefault("acknowledged_at", stamp)
    elif action == "reopen":
        doc.pop("resolved_at", None)
        doc["reopened_count"] = int(doc.get("reopened_count", 0)) + 1
    doc.setdefault("history", []).append(
        model.history_entry(actor, action, "status", current, to, note, at)
    )
    if note:
        doc.setdefault("notes", []).append({"at": stamp, "by": actor, "text": note})


def change_status(
    client: Elasticsearch,
    names: IndexNames,
    alert_id: str,
    to: str,
    actor: str,
    note: str | None = None,
    refresh: bool | str = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move an alert to status ``to`` (validated against model.TRANSITIONS).

    Raises AlertNotFound, InvalidTransition, ConcurrentUpdate.
    """

    def mutate(doc: dict[str, Any]) -> None:
        apply_status(doc, to, actor, note, model.utcnow())

    before, after = update_alert(client, names, alert_id, mutate, refresh)
    _count_transition(before, after)
    return before, after


def assign(
    client: Elasticsearch,
    names: IndexNames,
    alert_id: str,
    assignee: str | None,
    actor: str,
    note: str | None = None,
    refresh: bool | str = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set (or clear, with None) the assignee."""

    def mutate(doc: dict[str, Any]) -> None:
        now = model.utcnow()
        previous = doc.get("assignee")
        doc["assignee"] = assignee
        doc.setdefault("history", []).append(
            model.history_entry(actor, "assign", "assignee", previous, assignee, note, now)
        )
        if note:
            doc.setdefault("notes", []).append({"at": model.iso(now), "by": actor, "text": note})

    return update_alert(client, names, alert_id, mutate, refresh)


def add_note(
    client: Elasticsearch,
    names: IndexNames,
    alert_id: str,
    text: str,
    actor: str,
    refresh: bool | str = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Append a note (and a history record saying so)."""
    if not text or not text.strip():
        raise ValueError("a note needs text")

    def mutate(doc: dict[str, Any]) -> None:
        now = model.utcnow()
        doc.setdefault("notes", []).append({"at": model.iso(now), "by": actor, "text": text})
        doc.setdefault("history", []).append(
            model.history_entry(actor, "note", "notes", None, None, text, now)
        )

    return update_alert(client, names, alert_id, mutate, refresh)


def _count_transition(before: dict[str, Any], after: dict[str, Any]) -> None:
    from socmon.alerting.metrics import TRANSITIONS

    TRANSITIONS.labels(before.get("status", ""), after.get("status", "")).inc()
