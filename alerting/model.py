"""The alert document: statuses, allowed transitions, severity, ids and field helpers.

An alert is one document in ``<prefix>-alerts`` (see docs/alerting.md for every field). Its
id is deterministic: ``alert_id(rule_id, group_key, generation)``; a generation is a new
alert for the same rule and group key (after the window expired or after closure).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from socmon.ids import doc_id
from socmon.timestamps import iso

# ------------------------------------------------------------------ statuses

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
IN_PROGRESS = "in_progress"
RESOLVED = "resolved"
FALSE_POSITIVE = "false_positive"

STATUSES = (OPEN, ACKNOWLEDGED, IN_PROGRESS, RESOLVED, FALSE_POSITIVE)
ACTIVE_STATUSES = frozenset({OPEN, ACKNOWLEDGED, IN_PROGRESS})
CLOSED_STATUSES = frozenset({RESOLVED, FALSE_POSITIVE})

# from -> allowed targets. Reopening (closed -> open) keeps the whole history.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({ACKNOWLEDGED, IN_PROGRESS, RESOLVED, FALSE_POSITIVE}),
    ACKNOWLEDGED: frozenset({OPEN, IN_PROGRESS, RESOLVED, FALSE_POSITIVE}),
    IN_PROGRESS: frozenset({ACKNOWLEDGED, RESOLVED, FALSE_POSITIVE}),
    RESOLVED: frozenset({OPEN}),
    FALSE_POSITIVE: frozenset({OPEN}),
}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


# ------------------------------------------------------------------ severity

LEVELS = ("informational", "low", "medium", "high", "critical")
SEVERITY_RANK = {lvl: i for i, lvl in enumerate(LEVELS)}


def normalise_level(level: str | None) -> str:
    """A Sigma level, lower-cased; unknown levels become ``medium`` (and are reported)."""
    low = (level or "").strip().lower()
    return low if low in SEVERITY_RANK else "medium"


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_RANK.get(severity, 2) >= SEVERITY_RANK.get(minimum, 0)


# ------------------------------------------------------------------ kinds and ids

KIND_DETECTION = "detection"
KIND_SILENT_SOURCE = "silent_source"

SILENT_SOURCE_RULE_ID = "socmon-silent-source"

NO_UNIT = "_none"  # organization.id used in group keys when an event carries none


def alert_id(rule_id: str, group_key: str, generation: int) -> str:
    return doc_id("alert", rule_id, group_key, generation)


def head_id(rule_id: str, group_key: str) -> str:
    """Id of the state document pointing at the current generation of (rule, group key)."""
    return doc_id("alert-head", rule_id, group_key)


def marker_id(rule_id: str, group_key: str, event_id: str) -> str:
    """Id of the marker saying "this event was counted for this rule and group key"."""
    return doc_id("alert-event", rule_id, group_key, event_id)


# ------------------------------------------------------------------ time and fields


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_ts(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp (``Z`` or offset) as an aware UTC datetime; None if unparseable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def get_path(doc: Any, dotted: str) -> Any:
    """Value of a dotted ECS field in a nested dict (also accepts flat dotted keys)."""
    if not isinstance(doc, dict):
        return None
    if dotted in doc:
        return doc[dotted]
    cur: Any = doc
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(cur, dict):
            return None
        if part in cur:
            cur = cur[part]
            continue
        rest = ".".join(parts[i:])
        return cur.get(rest)
    return cur


def valid_ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def alert_url(base_url: str, path: str, alert_id_: str) -> str:
    return base_url.rstrip("/") + path.replace("{id}", alert_id_)


def history_entry(
    actor: str,
    action: str,
    field: str | None = None,
    from_: Any = None,
    to: Any = None,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One append-only history record: who, when, what changed from what to what."""
    entry: dict[str, Any] = {"at": iso(at or utcnow()), "by": actor, "action": action}
    if field is not None:
        entry["field"] = field
    if from_ is not None:
        entry["from"] = from_
    if to is not None:
        entry["to"] = to
    if note:
        entry["note"] = note
    return entry
