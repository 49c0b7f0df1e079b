"""The audit trail's document: who changed what, when, before and after.

The API writes one per change (``api.audit.record``); commands of earlier layers that change
objects the API also changes (``socmon rules import``) write the same document, so the trail
has one form whoever made the change.
"""

from __future__ import annotations

from typing import Any

from socmon.timestamps import now_iso


def audit_document(
    actor: str,
    role: str,
    key: str,
    action: str,
    object_type: str,
    object_id: str,
    before: Any,
    after: Any,
    units: list[str] | None = None,
) -> dict[str, Any]:
    """One audit document of the ``<prefix>-audit`` index."""
    doc: dict[str, Any] = {
        "@timestamp": now_iso(),
        "actor": actor,
        "actor_role": role,
        "actor_key": key,
        "action": action,
        "object": {"type": object_type, "id": object_id},
        "before": before,
        "after": after,
    }
    if units:
        doc["organization"] = {"id": units}
    return doc
