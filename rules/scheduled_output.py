"""Where detections go until (or unless) alerting takes them: ``ctx.detection_handler`` when
set, else the alerts index in a simple form.

The simple form uses the alerts template's fields (``kind: "detection"``, ``rule.*``,
``severity``, ``detection_mode``, ``event_refs``, ``events``, ``group``) and is written with
``create`` under the detection's deterministic id, so a detection found twice (a re-run over
an overlapping window, a restart) is stored once (the duplicate is answered 409).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from elasticsearch import ConflictError, Elasticsearch

from socmon.indices import IndexNames
from socmon.rules.detection import Detection
from socmon.timestamps import now_iso

log = logging.getLogger(__name__)


def detection_document(d: Detection) -> dict[str, Any]:
    """The alerts-index document of a detection (simple form, before alerting exists)."""
    now = now_iso()
    return {
        "kind": "detection",
        "id": d.id,
        "@timestamp": d.timestamp,
        "first_seen": d.first_timestamp,
        "last_seen": d.timestamp,
        "created": now,
        "rule": {
            "id": d.rule_id,
            "name": d.rule_title,
            "level": d.level,
            "status": d.status,
            "tags": d.tags,
            "description": d.rule_description,
        },
        "severity": d.level,
        "detection_mode": d.mode,
        "event_count": len(d.events),
        "event_refs": [{"id": e.id, "index": e.index} for e in d.events],
        "events": [e.event for e in d.events],
        "group": [{"field": k, "value": str(v)} for k, v in d.group_by.items()],
        "group_key": "|".join(f"{k}={v}" for k, v in sorted(d.group_by.items())),
    }


class DetectionOutput:
    """Deliver a detection to the handler, else store it (idempotently) in the alerts index."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        handler: Callable[[Any], None] | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.handler = handler

    def __call__(self, d: Detection) -> bool:
        """True when delivered as new (False: a duplicate of one already stored)."""
        if self.handler is not None:
            self.handler(d)
            return True
        try:
            self.client.create(index=self.names.alerts, id=d.id, document=detection_document(d))
        except ConflictError:
            return False
        return True
