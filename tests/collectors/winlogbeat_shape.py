"""EVTX records -> documents shaped as Winlogbeat 8 writes them (its output before any
Elasticsearch ingest pipeline), for the Beats input and external-source tests.

The shape follows Winlogbeat's own expected output (elastic/beats,
x-pack/winlogbeat/module/sysmon/test/testdata/collection/*.evtx.golden.json, and the
Winlogbeat field reference): ``winlog.event_data`` holds every named ``<Data>`` as a string,
unnamed ones as ``param1``, ``param2``, ...; ``<UserData>`` goes to ``winlog.user_data`` with
its element name in ``xml_name``; ``winlog.event_id`` is a string, ``winlog.record_id`` a
number; ``event.code`` the event id as a string; ``host.name`` the computer name; libbeat adds
``agent`` and ``ecs``. Written here from that description, not from socmon's mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LEVELS = {0: "information", 1: "critical", 2: "error", 3: "warning", 4: "information", 5: "verbose"}


def _text(v: Any) -> Any:
    return v["#text"] if isinstance(v, dict) and "#text" in v else v


def _s(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(_s(x) for x in v)
    return str(v)


def _attrs(v: Any) -> dict[str, Any]:
    a = v.get("#attributes") if isinstance(v, dict) else None
    return a if isinstance(a, dict) else {}


def event_data(block: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(block, dict):
        if block is not None:
            out["param1"] = _s(block)
        return out
    for k, v in block.items():
        if k == "#attributes":
            continue
        if k == "Data":  # unnamed <Data> items
            items = _text(v)
            items = items if isinstance(items, list) else [items]
            for i, x in enumerate(items, 1):
                out[f"param{i}"] = _s(_text(x))
        else:
            out[k] = _s(_text(v))
    return out


def winlogbeat_doc(rec: dict[str, Any], agent_name: str, agent_id: str) -> dict[str, Any]:
    ev = rec.get("Event", rec)
    system = ev["System"]
    eid = _s(_text(system.get("EventID")))
    computer = system.get("Computer")
    provider = _attrs(system.get("Provider"))
    winlog: dict[str, Any] = {
        "api": "wineventlog",
        "channel": system.get("Channel"),
        "computer_name": computer,
        "event_id": eid,
        "provider_name": provider.get("Name"),
        "record_id": int(system["EventRecordID"]),
    }
    if provider.get("Guid"):
        winlog["provider_guid"] = provider["Guid"]
    execution = _attrs(system.get("Execution"))
    if "ProcessID" in execution:
        winlog["process"] = {
            "pid": int(execution["ProcessID"]),
            "thread": {"id": int(execution.get("ThreadID") or 0)},
        }
    sid = _attrs(system.get("Security")).get("UserID")
    if sid:
        winlog["user"] = {"identifier": sid}
    if system.get("Version") is not None:
        winlog["version"] = int(system["Version"])
    data = event_data(ev.get("EventData"))
    if data:
        winlog["event_data"] = data
    user = ev.get("UserData")
    if isinstance(user, dict) and user:
        name, inner = next(iter(user.items()))
        fields = event_data(inner) if isinstance(inner, dict) else {}
        winlog["user_data"] = {**fields, "xml_name": name}
    doc: dict[str, Any] = {
        "@timestamp": _attrs(system.get("TimeCreated"))["SystemTime"],
        "agent": {
            "name": agent_name,
            "id": agent_id,
            "type": "winlogbeat",
            "version": "8.15.0",
            "ephemeral_id": "5c2b0c4e-0000-4000-8000-000000000000",
        },
        "ecs": {"version": "8.0.0"},
        "host": {"name": computer},
        "event": {"code": eid, "kind": "event", "provider": provider.get("Name")},
        "winlog": winlog,
    }
    level = system.get("Level")
    if isinstance(level, int) and level in LEVELS:
        doc["log"] = {"level": LEVELS[level]}
    return doc


def evtx_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The (JSON text, record) of every record of an EVTX file (the evtx package)."""
    import evtx
    import orjson

    out = []
    for r in evtx.PyEvtxParser(str(path)).records_json():
        out.append((r["data"], orjson.loads(r["data"])))
    return out
