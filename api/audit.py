"""The audit trail (document form in ``socmon.audit``): every change (alert, rule, exception,
key) with actor, time, before, after."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from prometheus_client import Counter

from socmon.api.auth import Principal
from socmon.api.context import ApiContext
from socmon.audit import audit_document
from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

AUDIT_WRITES = Counter(
    "socmon_api_audit_records_total",
    "Audit records written by the API, by object type.",
    ["object_type"],
    registry=REGISTRY,
)


def units_of(doc: dict[str, Any]) -> list[str] | None:
    """The units of a changed document (its ``organization.id``), for ``record``."""
    unit = (doc.get("organization") or {}).get("id")
    return [unit] if unit else None


def record(
    ctx: ApiContext,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    before: Any,
    after: Any,
    units: list[str] | None = None,
) -> dict[str, Any]:
    """Write one audit document (synchronously: a change is not done until it is audited)."""
    doc = audit_document(
        actor.actor,
        actor.role,
        actor.key_id,
        action,
        object_type,
        object_id,
        before,
        after,
        units,
    )
    ctx.client.index(index=ctx.names.audit, id=uuid.uuid4().hex, document=doc)
    AUDIT_WRITES.labels(object_type).inc()
    log.info(
        "audit",
        extra={
            "actor": actor.actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
        },
    )
    return doc
