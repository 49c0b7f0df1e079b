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

from collectors.event import put
from collectors.parsers.windata import event_data, split_hashes
from collectors.timeparse import TimeParser
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
_DATASET = {
    "Security": "windows.security",
    "System": "windows.system",
    "Application": "windows.application",
    "Microsoft-Windows-Sysmon/Operational": "windows.sysmon",
    "Microsoft-Windows-PowerShell/Operational": "windows.powershell",
    "Windows PowerShell": "windows.powershell_classic",
}

# EventData name -> ECS field (ecs_windows "ecs_windows_field_mapping"); first present wins.
FIELD_MAP: dict[str, str] = {
    "FileName": "file.path",
    "ProcessGuid": "process.entity_id",
    "ProcessId": "process.pid",
    "Image": "process.executable",
    "CurrentDirectory": "process.working_directory",
    "ParentProcessGuid": "process.parent.entity_id",
    "ParentProcessId": "process.parent.pid",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "TargetFilename": "file.path",
    "SourceIp": "source.ip",
    "SourceHostname": "source.domain",
    "SourcePort": "source.port",
    "DestinationIp": "destination.ip",
    "DestinationHostname": "destination.domain",
    "DestinationPort": "destination.port",
    "DestinationPortName": "network.protocol",
    "ImageLoaded": "file.path",
    "Signed": "file.code_signature.signed",
    "SignatureStatus": "file.code_signature.status",
    "Imphash": "file.pe.imphash",
    "SourceProcessGuid": "process.entity_id",
    "SourceProcessId": "process.pid",
    "SourceImage": "process.executable",
    "Device": "file.path",
    "SourceThreadId": "process.thread.id",
    "TargetObject": "registry.path",
    "PipeName": "file.name",
    "Destination": "process.executable",
    "QueryName": "dns.question.name",
    "QueryStatus": "sysmon.dns.status",
    "IsExecutable": "sysmon.file.is_executable",
    "Archived": "sysmon.file.archived",
    "CommandName": "powershell.command.name",
    "CommandPath": "powershell.command.path",
    "CommandType": "powershell.command.type",
    "HostApplication": "process.command_line",
    "HostId": "process.entity_id",
    "HostName": "process.title",
    "NewEngineState": "powershell.engine.new_state",
    "PipelineId": "powershell.pipeline_id",
    "PreviousEngineState": "powershell.engine.previous_state",
    "RunspaceId": "powershell.runspace_id",
    "ScriptName": "file.path",
    "SequenceNumber": "event.sequence",
    "NewProviderState": "powershell.provider.new_state",
    "ProviderName": "powershell.provider.name",
    "MessageNumber": "powershell.sequence",
    "MessageTotal": "powershell.total",
    "ScriptBlockText": "powershell.file.script_block_text",
    "ScriptBlockId": "powershell.file.script_block_id",
    "AccountDomain": "user.domain",
    "AccountName": "user.name",
    "Application": "process.executable",
    "ClientAddress": "source.ip",
    "ClientName": "source.domain",
    "DestAddress": "destination.ip",
    "DestPort": "destination.port",
    "IpAddress": "source.ip",
    "IpPort": "source.port",
    "NewProcessId": "process.pid",
    "NewProcessName": "process.executable",
    "ParentProcessName": "process.parent.name",
    "ProcessName": "process.executable",
    "SourceAddress": "source.ip",
    "TargetDomainName": "user.domain",
    "User": "user.name",
    "WorkstationName": "source.domain",
    "Payload": "powershell.file.script_block_text",
}
# Mappings that depend on the Sigma log source (ecs_windows_variable_mappings).
_PE = {
    "FileVersion": "file_version",
    "Description": "description",
    "Product": "product",
    "Company": "company",
    "OriginalFileName": "original_file_name",
}
_SECURITY = {
    "CommandLine": "process.command_line",
    "SubjectLogonId": "winlog.logon.id",
    "TargetLogonId": "winlog.logon.id",
    "ServiceName": "service.name",
    "SubjectDomainName": "user.domain",
    "SubjectUserName": "user.name",
    "SubjectUserSid": "user.id",
}
_POWERSHELL_CLASSIC = {
    "CommandLine": "powershell.command.value",
    "EngineVersion": "powershell.engine.version",
    "HostVersion": "powershell.process.executable_version",
}
_NUMERIC = {
    "process.pid",
    "process.parent.pid",
    "source.port",
    "destination.port",
    "process.thread.id",
    "event.sequence",
}
_IPS = {"source.ip", "destination.ip"}
_SYSMON_PROCESS_CREATION = "1"
_SYSMON_IMAGE_LOAD = "7"
_SYSMON_DRIVER_LOAD = "6"
_SYSMON_NETWORK = "3"

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


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return str(v)


def _num(v: Any) -> int | str:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    s = _str(v).strip()
    try:
        return int(s, 16) if s.lower().startswith("0x") else int(s)
    except ValueError:
        return s


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        a = node.get("#attributes")
        if isinstance(a, dict):
            return a.get(name)
    return None


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
) -> Event:
    """Build the ECS event from the parts every Windows input has."""
    channel = canonical_channel(channel) if channel else ""
    code = _str(event_id)
    winlog: dict[str, Any] = {"channel": channel, "event_id": code}
    if provider:
        winlog["provider_name"] = provider
    if computer:
        winlog["computer_name"] = computer
    if extra_winlog:
        winlog.update(extra_winlog)
    ev: Event = {
        "event": {
            "kind": "event",
            "code": code,
            "module": "windows",
            "dataset": _DATASET.get(channel, "windows"),
        },
        "winlog": winlog,
    }
    if original is not None:
        ev["event"]["original"] = original
    if provider:
        ev["event"]["provider"] = provider
    if timestamp:
        ev["@timestamp"] = timestamp
    if computer:
        ev["host"] = {"name": computer, "hostname": computer}
    if data:
        ev_data = {
            k: v if type(v) is str or isinstance(v, dict | list) else _str(v)
            for k, v in data.items()
        }
        winlog["event_data"] = ev_data
        _map_fields(ev, channel, code, data)
    return ev


_STR, _NUM, _IP = 0, 1, 2
_Plan = tuple[tuple[str, ...], int]


def _plan(field: str) -> _Plan:
    kind = _NUM if field in _NUMERIC else _IP if field in _IPS else _STR
    return tuple(field.split(".")), kind


_PLANS: dict[str, _Plan] = {}
# FIELD_MAP with its plans precomputed (the per-record loop does one lookup per field).
_FIELD_PLANS: dict[str, _Plan] = {name: _plan(target) for name, target in FIELD_MAP.items()}


def _set(ev: Event, field: str, value: Any) -> None:
    """Set an ECS field from an EventData value; the first value set wins."""
    plan = _PLANS.get(field)
    if plan is None:
        plan = _PLANS[field] = _plan(field)
    _put(ev, plan, value)


def _put(ev: Event, plan: _Plan, value: Any) -> None:
    parts, kind = plan
    if kind == _NUM:
        value = _num(value)
    elif kind == _IP:
        value = _str(value).strip()
        if not value or value == "-":
            return
    elif type(value) is not str:
        value = _str(value)
    d = ev
    for p in parts[:-1]:
        nxt = d.get(p)
        if nxt is None:
            nxt = d[p] = {}
        elif not isinstance(nxt, dict):
            return
        d = nxt
    d.setdefault(parts[-1], value)


def _map_fields(ev: Event, channel: str, code: str, data: dict[str, Any]) -> None:
    plans = _FIELD_PLANS
    for name, value in data.items():
        plan = plans.get(name)
        if plan is not None and value is not None:
            parts, kind = plan
            # the common case inline: a string into a two-level field (one call less per field)
            if kind == _STR and type(value) is str and len(parts) == 2:
                sub = ev.get(parts[0])
                if sub is None:
                    ev[parts[0]] = {parts[1]: value}
                elif type(sub) is dict:
                    sub.setdefault(parts[1], value)
            else:
                _put(ev, plan, value)
    sysmon = channel == "Microsoft-Windows-Sysmon/Operational"
    if channel == "Security":
        for name, target in _SECURITY.items():
            if name in data:
                _set(ev, target, data[name])
    elif channel == "Windows PowerShell":
        for name, target in _POWERSHELL_CLASSIC.items():
            if name in data:
                _set(ev, target, data[name])
    elif "CommandLine" in data:
        _set(ev, "process.command_line", data["CommandLine"])
    if sysmon and code == _SYSMON_IMAGE_LOAD:
        for name, sub in _PE.items():
            if name in data:
                _set(ev, f"file.pe.{sub}", data[name])
        if "Signature" in data:
            _set(ev, "file.code_signature.subject_name", data["Signature"])
    elif sysmon and code == _SYSMON_DRIVER_LOAD:
        if "Signature" in data:
            _set(ev, "file.code_signature.subject_name", data["Signature"])
    elif (sysmon and code == _SYSMON_PROCESS_CREATION) or (
        channel == "Security" and code == "4688"
    ):
        for name, sub in _PE.items():
            if name in data:
                _set(ev, f"process.pe.{sub}", data[name])
    elif sysmon and code == _SYSMON_NETWORK:
        if "Protocol" in data:
            _set(ev, "network.transport", data["Protocol"])
        init = data.get("Initiated")
        if init is not None:
            _set(ev, "network.direction", "egress" if _str(init).lower() == "true" else "ingress")
    hashes = data.get("Hashes")
    if hashes is None:
        hashes = data.get("Hash")
    if isinstance(hashes, str) and "=" in hashes:
        _map_hashes(ev, channel, code, hashes)
    proc = ev.get("process")
    if isinstance(proc, dict):
        exe = proc.get("executable")
        if isinstance(exe, str) and exe:
            proc.setdefault("name", exe.replace("/", "\\").rsplit("\\", 1)[-1])
        parent = proc.get("parent")
        if isinstance(parent, dict):
            pexe = parent.get("executable")
            if isinstance(pexe, str) and pexe:
                parent.setdefault("name", pexe.replace("/", "\\").rsplit("\\", 1)[-1])
    user = ev.get("user")
    if isinstance(user, dict) and isinstance(user.get("name"), str):
        ev["related"] = {"user": [user["name"]]}
    e = ev["event"]
    if sysmon:
        scat = _SYSMON_CATEGORY.get(code)
        if scat:
            e["category"], e["type"] = scat
    elif channel == "Security":
        cat = _SECURITY_CATEGORY.get(code)
        if cat:
            e["category"], e["type"], outcome = cat
            if outcome:
                e["outcome"] = outcome


# Sysmon events whose Hashes are those of the process (the others: of a file/driver/image).
_PROCESS_HASH_CODES = {"1"}


def _map_hashes(ev: Event, channel: str, code: str, hashes: str) -> None:
    """``Hashes`` -> ``process.hash.*`` (process creation) or ``file.hash.*``; IMPHASH ->
    ``*.pe.imphash``. The original stays in ``winlog.event_data.Hashes``."""
    split = split_hashes(hashes)
    if not split:
        return
    sysmon = channel == "Microsoft-Windows-Sysmon/Operational"
    base = "process" if sysmon and code in _PROCESS_HASH_CODES else "file"
    for algo, h in split.items():
        if algo == "imphash":
            _set(ev, f"{base}.pe.imphash", h)
        else:
            _set(ev, f"{base}.hash.{algo}", h)


_SYSMON_CATEGORY: dict[str, tuple[list[str], list[str]]] = {
    "1": (["process"], ["start"]),
    "3": (["network"], ["connection"]),
    "5": (["process"], ["end"]),
    "7": (["process"], ["info"]),
    "8": (["process"], ["change"]),
    "10": (["process"], ["access"]),
    "11": (["file"], ["creation"]),
    "12": (["registry"], ["change"]),
    "13": (["registry"], ["change"]),
    "14": (["registry"], ["change"]),
    "17": (["file"], ["creation"]),
    "18": (["file"], ["access"]),
    "22": (["network"], ["protocol"]),
    "23": (["file"], ["deletion"]),
    "26": (["file"], ["deletion"]),
}
_SECURITY_CATEGORY: dict[str, tuple[list[str], list[str], str | None]] = {
    "4624": (["authentication"], ["start"], "success"),
    "4625": (["authentication"], ["start"], "failure"),
    "4634": (["authentication"], ["end"], "success"),
    "4648": (["authentication"], ["start"], "success"),
    "4688": (["process"], ["start"], "success"),
    "4689": (["process"], ["end"], "success"),
    "4720": (["iam"], ["user", "creation"], "success"),
    "4740": (["iam"], ["user", "change"], "success"),
    "4771": (["authentication"], ["start"], "failure"),
    "4776": (["authentication"], ["start"], None),
    "1102": (["iam"], ["change"], "success"),
}


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
        eid = system.get("EventID")
        if isinstance(eid, dict):
            eid = eid.get("#text", eid.get("value"))
        provider = system.get("Provider")
        tc = system.get("TimeCreated")
        st = _attr(tc, "SystemTime")
        ts = self.tp.isoish(st) if isinstance(st, str) else None
        data = event_data(ev_node)
        user_data = ev_node.get("UserData")
        extra: dict[str, Any] = {}
        rid = system.get("EventRecordID")
        if rid is not None:
            extra["record_id"] = _num(rid)
        for k_src, k_dst in (("Task", "task"), ("Opcode", "opcode"), ("Keywords", "keywords")):
            v = system.get(k_src)
            if v is not None:
                extra[k_dst] = _str(v)
        if system.get("Version") is not None:
            extra["version"] = _num(system["Version"])
        pguid = _attr(provider, "Guid")
        if pguid:
            extra["provider_guid"] = pguid
        execution = system.get("Execution")
        pid, tid = _attr(execution, "ProcessID"), _attr(execution, "ThreadID")
        if pid is not None:
            extra["process"] = {"pid": _num(pid), "thread": {"id": _num(tid)}}
        uid = _attr(system.get("Security"), "UserID")
        if uid:
            extra["user"] = {"identifier": uid}
        if isinstance(user_data, dict):
            extra["user_data"] = user_data
        ev = shape(
            event_id=eid,
            channel=_str(system.get("Channel") or ""),
            provider=_attr(provider, "Name"),
            computer=system.get("Computer"),
            timestamp=ts,
            data=data,
            original=original,
            extra_winlog=extra,
        )
        return ev

    def flat(self, obj: dict[str, Any], original: str | None) -> Event:
        """NXLog / mordor flat records."""
        data = _unspaced({k: v for k, v in obj.items() if k not in _FLAT_SYSTEM})
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
