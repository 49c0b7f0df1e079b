"""Windows events to ECS, shaped for Sigma with pySigma's Elasticsearch ``ecs_windows``
pipeline (the one the detection layer uses):

- ``event.code`` (the EventID as a string), ``winlog.channel`` (canonical case, e.g.
  ``Security``, ``Microsoft-Windows-Sysmon/Operational``), ``winlog.provider_name``,
  ``winlog.computer_name``, ``winlog.record_id``, ``winlog.event_id``, ...
- **every** EventData field under ``winlog.event_data.<OriginalName>`` (the pipeline prefixes
  all Sigma fields it does not map with ``winlog.event_data.``), values as strings;
- the ECS fields the pipeline maps Sigma fields to (``process.command_line``,
  ``process.executable``, ``process.parent.executable``, ``source.ip``, ``file.path``,
  ``registry.path``, ``user.name``, ...), filled from the EventData field the mapping names,
  with the original value (Sigma compares against it).

Inputs: records of the ``evtx`` package (``{"Event": {"System": ..., "EventData": ...}}``,
also the JSON export in sigmahq/regression_data), Winlogbeat documents (``winlog`` object) and
flat NXLog/mordor lines (System fields and EventData fields side by side).
"""

from __future__ import annotations

from typing import Any

from socmon.collectors.event import put
from socmon.collectors.parsers.windata import event_data
from socmon.collectors.parsers.winmap import map_fields, map_plan, to_num, to_str
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

CHANNELS = {
    c.lower(): c
    for c in (
        "Security",
        "System",
        "Application",
        "Setup",
        "Windows PowerShell",
        "Microsoft-Windows-Sysmon/Operational",
        "Microsoft-Windows-PowerShell/Operational",
        "Microsoft-Windows-Windows Defender/Operational",
        "Microsoft-Windows-TaskScheduler/Operational",
        "Microsoft-Windows-WMI-Activity/Operational",
        "Microsoft-Windows-Bits-Client/Operational",
        "Microsoft-Windows-DNS-Client/Operational",
        "Microsoft-Windows-CodeIntegrity/Operational",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
    )
}

# System fields of flat (NXLog/mordor) records: not EventData.
_FLAT_SYSTEM = {
    "EventID",
    "Channel",
    "SourceName",
    "ProviderName",
    "Hostname",
    "Computer",
    "TimeCreated",
    "EventTime",
    "EventReceivedTime",
    "@timestamp",
    "@version",
    "Task",
    "Level",
    "Keywords",
    "ProviderGuid",
    "Message",
    "RecordNumber",
    "EventRecordID",
    "Opcode",
    "OpcodeValue",
    "Version",
    "SeverityValue",
    "Severity",
    "EventType",
    "ExecutionProcessID",
    "ExecutionThreadID",
    "ThreadID",
    "Category",
    "SourceModuleName",
    "SourceModuleType",
    "host",
    "port",
    "tags",
    "AccountType",
    "UserID",
    "Domain",
    "AccountName_",
    "LevelText",
    "TaskText",
    "OpcodeText",
}


# NXLog's own EventType (the record's severity or audit outcome). Sysmon's registry events
# (12-14) have an EventData field of that name (CreateKey, SetValue, DeleteKey, RenameKey...)
# which takes its place in the line: that one is EventData (SigmaHQ's registry rules test it).
_NXLOG_EVENT_TYPES = frozenset(
    ("INFO", "AUDIT_SUCCESS", "AUDIT_FAILURE", "WARNING", "ERROR", "CRITICAL", "VERBOSE")
)


def _flat_data(k: str, v: Any) -> bool:
    if k == "EventType":
        return not (isinstance(v, str) and v.upper() in _NXLOG_EVENT_TYPES)
    return k not in _FLAT_SYSTEM


_str = to_str
_num = to_num


def canonical_channel(ch: str) -> str:
    return CHANNELS.get(ch.lower(), ch)


def _unspaced(data: dict[str, Any]) -> dict[str, Any]:
    """Also give names with spaces (Defender's ``Threat Name``) their Sigma spelling."""
    spaced = [k for k in data if " " in k]
    if not spaced:
        return data
    out = dict(data)
    for k in spaced:
        out.setdefault(k.replace(" ", ""), data[k])
    return out


def shape(
    *,
    event_id: Any,
    channel: str,
    provider: str | None,
    computer: str | None,
    timestamp: str | None,
    data: dict[str, Any],
    original: str | None,
    extra_winlog: dict[str, Any] | None = None,
    owned: bool = False,
) -> Event:
    """Build the ECS event from the parts every Windows input has. ``owned``: ``data`` was
    built for this event and becomes ``winlog.event_data`` itself (its non-string values
    turned into strings in place) instead of being copied."""
    channel = canonical_channel(channel) if channel else ""
    code = event_id if type(event_id) is str else _str(event_id)
    winlog: dict[str, Any] = {"channel": channel, "event_id": code}
    if provider:
        winlog["provider_name"] = provider
    if computer:
        winlog["computer_name"] = computer
    if extra_winlog:
        winlog.update(extra_winlog)
    return _build(winlog, channel, code, provider, computer, timestamp, data, original, owned)


def _build(
    winlog: dict[str, Any],
    channel: str,
    code: str,
    provider: str | None,
    computer: str | None,
    timestamp: str | None,
    data: dict[str, Any],
    original: str | None,
    owned: bool,
) -> Event:
    plan = map_plan(channel, code)
    event: dict[str, Any] = {
        "kind": "event",
        "code": code,
        "module": "windows",
        "dataset": plan.dataset,
    }
    ev: Event = {"event": event, "winlog": winlog}
    if original is not None:
        event["original"] = original
    if provider:
        event["provider"] = provider
    if timestamp:
        ev["@timestamp"] = timestamp
    if computer:
        ev["host"] = {"name": computer, "hostname": computer}
    if data:
        map_fields(ev, plan, data)
        if owned:
            for k, v in data.items():
                if type(v) is not str:
                    if type(v) is int:
                        data[k] = str(v)
                    elif not isinstance(v, dict | list):
                        data[k] = _str(v)
            winlog["event_data"] = data
        else:
            winlog["event_data"] = {
                k: v if type(v) is str or isinstance(v, dict | list) else _str(v)
                for k, v in data.items()
            }
    return ev


_NO_ATTRS: dict[str, Any] = {}


def _attrs(node: Any) -> dict[str, Any]:
    """The ``#attributes`` of an element (an empty dict, never to be modified, if none)."""
    if isinstance(node, dict):
        a = node.get("#attributes")
        if isinstance(a, dict):
            return a
    return _NO_ATTRS


class WindowsRecordParser:
    """evtx-package records and their JSON export (``{"Event": {...}}``)."""

    def __init__(self, tp: TimeParser | None = None) -> None:
        self.tp = tp or TimeParser()

    def from_record(self, rec: dict[str, Any], original: str | None = None) -> Event:
        ev_node = rec.get("Event", rec)
        if not isinstance(ev_node, dict):
            raise ValueError("no Event element")
        system = ev_node.get("System")
        if not isinstance(system, dict):
            raise ValueError("no System element")
        sget = system.get
        eid = sget("EventID")
        if isinstance(eid, dict):
            eid = eid.get("#text", eid.get("value"))
        code = eid if type(eid) is str else _str(eid)
        ch = sget("Channel")
        channel = canonical_channel(ch if type(ch) is str else _str(ch)) if ch else ""
        pattrs = _attrs(sget("Provider"))
        provider = pattrs.get("Name")
        computer = sget("Computer")
        st = _attrs(sget("TimeCreated")).get("SystemTime")
        ts = self.tp.system_time(st) if isinstance(st, str) else None
        winlog: dict[str, Any] = {"channel": channel, "event_id": code}
        if provider:
            winlog["provider_name"] = provider
        if computer:
            winlog["computer_name"] = computer
        v = sget("EventRecordID")
        if v is not None:
            winlog["record_id"] = v if type(v) is int else _num(v)
        v = sget("Task")
        if v is not None:
            winlog["task"] = v if type(v) is str else _str(v)
        v = sget("Opcode")
        if v is not None:
            winlog["opcode"] = v if type(v) is str else _str(v)
        v = sget("Keywords")
        if v is not None:
            winlog["keywords"] = v if type(v) is str else _str(v)
        v = sget("Version")
        if v is not None:
            winlog["version"] = v if type(v) is int else _num(v)
        pguid = pattrs.get("Guid")
        if pguid:
            winlog["provider_guid"] = pguid
        xattrs = _attrs(sget("Execution"))
        pid = xattrs.get("ProcessID")
        if pid is not None:
            tid = xattrs.get("ThreadID")
            winlog["process"] = {
                "pid": pid if type(pid) is int else _num(pid),
                "thread": {"id": tid if type(tid) is int else _num(tid)},
            }
        uid = _attrs(sget("Security")).get("UserID")
        if uid:
            winlog["user"] = {"identifier": uid}
        user_data = ev_node.get("UserData")
        if isinstance(user_data, dict):
            winlog["user_data"] = user_data
        return _build(
            winlog,
            channel,
            code,
            provider,
            computer,
            ts,
            event_data(ev_node),
            original,
            True,
        )

    def flat(self, obj: dict[str, Any], original: str | None) -> Event:
        """NXLog / mordor flat records."""
        data = _unspaced({k: v for k, v in obj.items() if _flat_data(k, v)})
        ts_raw = obj.get("@timestamp") or obj.get("TimeCreated") or obj.get("EventTime")
        ts = self.tp.isoish(ts_raw) if isinstance(ts_raw, str) else None
        extra: dict[str, Any] = {}
        for k_src, k_dst in (("Task", "task"), ("Keywords", "keywords"), ("Opcode", "opcode")):
            if obj.get(k_src) is not None:
                extra[k_dst] = _str(obj[k_src])
        if obj.get("ProviderGuid"):
            extra["provider_guid"] = obj["ProviderGuid"]
        rn = obj.get("RecordNumber", obj.get("EventRecordID"))
        if rn is not None:
            extra["record_id"] = _num(rn)
        ev = shape(
            event_id=obj.get("EventID"),
            channel=_str(obj.get("Channel") or ""),
            provider=obj.get("SourceName") or obj.get("ProviderName"),
            computer=obj.get("Hostname") or obj.get("Computer"),
            timestamp=ts,
            data=data,
            original=original,
            extra_winlog=extra,
            owned=True,
        )
        msg = obj.get("Message")
        if isinstance(msg, str):
            ev["message"] = msg
        return ev

    def winlogbeat(self, obj: dict[str, Any], original: str | None) -> Event:
        """Winlogbeat documents are ECS already; make sure the Sigma fields exist."""
        wl = obj.get("winlog") if isinstance(obj.get("winlog"), dict) else {}
        assert isinstance(wl, dict)
        data = wl.get("event_data") if isinstance(wl.get("event_data"), dict) else {}
        assert isinstance(data, dict)
        data = _unspaced(data)
        user_data = wl.get("user_data")
        if isinstance(user_data, dict):
            # as for EVTX (windata.event_data): UserData's fields beside EventData's, which
            # win a clash; Winlogbeat gives them flat with the element name in xml_name
            data = {
                **{k: v for k, v in user_data.items() if k != "xml_name"},
                **data,
            }
        if "param1" in data and "Data" not in data:
            # unnamed <Data> items: Winlogbeat numbers them; the EVTX path also lists them
            n = 1
            while f"param{n}" in data:
                n += 1
            data = {**data, "Data": [data[f"param{i}"] for i in range(1, n)]}
        ev = shape(
            event_id=wl.get("event_id", (obj.get("event") or {}).get("code")),
            channel=_str(wl.get("channel") or ""),
            provider=wl.get("provider_name"),
            computer=wl.get("computer_name"),
            timestamp=self.tp.isoish(obj["@timestamp"])
            if isinstance(obj.get("@timestamp"), str)
            else None,
            data=data,
            original=original,
            extra_winlog={k: v for k, v in wl.items() if k not in ("event_data", "channel")},
        )
        # Keep what Winlogbeat computed; our mapping only fills what is missing.
        for k, v in obj.items():
            if k in ("@timestamp", "winlog"):
                continue
            if isinstance(v, dict) and isinstance(ev.get(k), dict):
                merged = dict(v)
                for k2, v2 in ev[k].items():
                    merged.setdefault(k2, v2)
                ev[k] = merged
            else:
                ev.setdefault(k, v)
        if original is not None:
            put(ev, "event.original", original)
        return ev
