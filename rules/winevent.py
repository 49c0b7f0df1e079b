"""Windows event records (EVTX / their JSON export) -> socmon ECS events, the shape the
``ecs_windows`` field mapping expects (Winlogbeat 7+ layout).

This is the inverse of ``rules.pipelines.windows_field_mapping``: every EventData field goes to
``winlog.event_data.<Name>``, and the fields the mapping renames also go to their ECS name
(``Image`` -> ``process.executable``, ``EventID`` -> ``event.code``, ...), including the
logsource-dependent ones (``CommandLine`` of process creation -> ``process.command_line``).
``socmon hunt`` uses it until the collectors' EVTX parser is available; the collectors must
produce the same fields (docs/detection.md, "Windows event contract").
"""

from __future__ import annotations

import functools
from typing import Any

from socmon.collectors.event import put
from socmon.collectors.parsers.windata import event_data
from socmon.rules.pipelines import (
    POWERSHELL_CHANNELS,
    POWERSHELL_CLASSIC_CHANNEL,
    SYSMON_CHANNEL,
    WINDOWS_CATEGORIES,
    windows_field_mapping,
    windows_variable_mapping,
)

_SERVICE_BY_CHANNEL = {
    "security": "security",
    POWERSHELL_CLASSIC_CHANNEL.lower(): "powershell-classic",
    **{c.lower(): "powershell" for c in POWERSHELL_CHANNELS},
}


@functools.cache
def _categories_by_event() -> dict[tuple[str, int], list[str]]:
    out: dict[tuple[str, int], list[str]] = {}
    for cat, (channels, codes) in WINDOWS_CATEGORIES.items():
        for ch in channels:
            for code in codes:
                if ch == "Security" and cat != "process_creation":
                    continue
                out.setdefault((ch.lower(), code), []).append(cat)
    return out


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


def is_windows_record(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("Event"), dict) and "System" in obj["Event"]


def record_to_ecs(record: dict[str, Any]) -> dict[str, Any]:
    """One EVTX record as the ``evtx`` package's JSON (``{"Event": {"System": ..., "EventData":
    ...}}``) -> an ECS event."""
    ev = record.get("Event", record)
    system = ev.get("System") if isinstance(ev.get("System"), dict) else {}
    channel = str(system.get("Channel") or "")
    provider = _attr(system.get("Provider"), "Name") or ""
    eid_raw = system.get("EventID")
    if isinstance(eid_raw, dict):
        eid_raw = eid_raw.get("#text")
    try:
        eid = int(str(eid_raw))
    except (TypeError, ValueError):
        eid = -1
    ts = _attr(system.get("TimeCreated"), "SystemTime") or ""
    if isinstance(ts, str) and ts and not ts.endswith("Z") and "+" not in ts[10:]:
        ts += "Z"
    computer = system.get("Computer") or ""
    doc: dict[str, Any] = {
        "@timestamp": ts,
        "event": {
            "code": str(eid) if eid >= 0 else str(eid_raw),
            "kind": "event",
            "provider": provider,
            "dataset": "windows." + (channel.split("/")[0].lower().replace(" ", "_") or "unknown"),
            "module": "windows",
        },
        "winlog": {
            "channel": channel,
            "provider_name": provider,
            "computer_name": computer,
            "event_id": str(eid),
            "record_id": system.get("EventRecordID"),
            "event_data": {},
        },
        "host": {"name": computer},
    }
    keywords = system.get("Keywords")
    if keywords is not None:
        doc["winlog"]["keywords"] = str(keywords)
    uid = _attr(system.get("Security"), "UserID")
    if uid:
        put(doc, "winlog.user.identifier", uid, overwrite=False)
    data = event_data(ev)
    doc["winlog"]["event_data"] = data
    fixed = windows_field_mapping()
    variable = windows_variable_mapping()
    cats = _categories_by_event().get((channel.lower(), eid), [])
    service = _SERVICE_BY_CHANNEL.get(channel.lower())
    if channel.lower() == SYSMON_CHANNEL.lower():
        service = "sysmon"
    per_event: dict[str, str] = {}
    for cat in cats:
        per_event.update(variable.get(("category", cat), {}))
    if service:
        per_event.update(variable.get(("service", service), {}))
    for k, v in data.items():
        target = per_event.get(k) or fixed.get(k)
        if target and target not in ("event.code", "winlog.channel"):
            put(doc, target, v, overwrite=False)
    return doc
