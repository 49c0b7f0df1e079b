"""What the alert manager and the operational checkers hand to the notifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from socmon.ids import doc_id

# Kinds of notification (routes select them with ``kinds``).
NEW = "new"
REOPENED = "reopened"
SLA_BREACH = "sla_breach"
SILENT = "silent"
RECOVERED = "recovered"
KINDS = (NEW, REOPENED, SLA_BREACH, SILENT, RECOVERED)


@dataclass(slots=True)
class Notification:
    kind: str  # one of KINDS
    alert: dict[str, Any]  # the alert document (with "id")
    at: str  # ISO 8601 UTC when it was raised
    # Deterministic: the same alert event never notifies twice (see Notifier dedup).
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            marker = self.alert.get("reopened_count", 0) if self.kind == REOPENED else ""
            self.id = doc_id("notification", self.kind, self.alert.get("id", ""), marker)

    @property
    def severity(self) -> str:
        return str(self.alert.get("severity") or "medium")

    @property
    def unit(self) -> str:
        return str((self.alert.get("organization") or {}).get("id") or "")

    @property
    def rule_id(self) -> str:
        return str((self.alert.get("rule") or {}).get("id") or "")
