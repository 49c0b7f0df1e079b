"""What detection hands to alerting: one ``Detection`` per rule match.

This is the contract between the rules layer (producer: streaming matcher, correlation
engine, scheduled queries) and the alerting layer (consumer). Add fields with defaults;
do not rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class MatchedEvent:
    """A reference to an event that contributed to a detection, with the event itself
    (or the part of it alerting may embed as a sample)."""

    id: str  # the event's document id
    index: str | None  # its index when known (None for events not stored, e.g. `socmon hunt`)
    event: dict[str, Any]


@dataclass(slots=True)
class Detection:
    rule_id: str
    rule_title: str
    level: str  # informational | low | medium | high | critical
    status: str  # Sigma rule status: stable | test | experimental | ...
    tags: list[str]  # Sigma tags, e.g. attack.t1110.001, attack.credential_access
    events: list[MatchedEvent]  # every contributing event (one for a single-event rule)
    timestamp: str  # ISO 8601 UTC: the (last) matched event's @timestamp
    first_timestamp: str  # ISO 8601 UTC: the first contributing event's @timestamp
    mode: str = "streaming"  # streaming | scheduled | correlation
    # Correlation: the group-by values (field -> value); single-event rules: empty.
    group_by: dict[str, Any] = field(default_factory=dict)
    # Deterministic id of this detection: same rule + same events -> same id.
    id: str = ""
    rule_description: str = ""
    references: list[str] = field(default_factory=list)
    falsepositives: list[str] = field(default_factory=list)
    # Fields the rule declares interesting (Sigma `fields:`), passed to alerting.
    fields: list[str] = field(default_factory=list)
    # Sigma custom attributes, e.g. socmon-specific grouping hints.
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def attack_techniques(self) -> list[str]:
        """ATT&CK technique ids from tags (attack.t1059.001 -> T1059.001)."""
        out = []
        for t in self.tags:
            if t.lower().startswith("attack.t") and t[8:9].isdigit():
                out.append(t[7:].upper())
        return out

    @property
    def attack_tactics(self) -> list[str]:
        """ATT&CK tactic names from tags (attack.credential_access -> credential_access)."""
        out = []
        for t in self.tags:
            low = t.lower()
            is_id = low[7:8] in ("t", "g", "s") and low[8:9].isdigit()
            if low.startswith("attack.") and not is_id:
                out.append(low[7:])
        return out
