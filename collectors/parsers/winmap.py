"""Windows EventData -> the ECS fields pySigma's ``ecs_windows`` pipeline maps Sigma fields to.

The mapping of one record depends on its channel and event id only, so what used to be
decided per record (which channel-specific names apply, where ``Hashes`` go, the event
category) is computed once per ``(channel, event id)`` into a :class:`MapPlan` and cached; the
per-record work is one dict lookup per EventData name plus the few names the plan lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from socmon.collectors.parsers.windata import split_hashes
from socmon.pipeline import Event

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

SYSMON = "Microsoft-Windows-Sysmon/Operational"
_DATASET = {
    "Security": "windows.security",
    "System": "windows.system",
    "Application": "windows.application",
    SYSMON: "windows.sysmon",
    "Microsoft-Windows-PowerShell/Operational": "windows.powershell",
    "Windows PowerShell": "windows.powershell_classic",
}
# Sysmon events whose Hashes are those of the process (the others: of a file/driver/image).
_PROCESS_HASH_CODES = {"1"}


def to_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return str(v)


def to_num(v: Any) -> int | str:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    s = to_str(v).strip()
    try:
        return int(s, 16) if s.lower().startswith("0x") else int(s)
    except ValueError:
        return s


_STR, _NUM, _IP = 0, 1, 2
Plan = tuple[tuple[str, ...], int]


def _plan(field: str) -> Plan:
    kind = _NUM if field in _NUMERIC else _IP if field in _IPS else _STR
    return tuple(field.split(".")), kind


_PLANS: dict[str, Plan] = {}
# FIELD_MAP with its plans precomputed (the per-record loop does one lookup per field).
_FIELD_PLANS: dict[str, Plan] = {name: _plan(target) for name, target in FIELD_MAP.items()}


def field_plan(field: str) -> Plan:
    plan = _PLANS.get(field)
    if plan is None:
        if len(_PLANS) > 4096:  # names built from input (hash algorithms): keep it bounded
            _PLANS.clear()
        plan = _PLANS[field] = _plan(field)
    return plan


def put(ev: Event, plan: Plan, value: Any) -> None:
    """Set an ECS field from an EventData value; the first value set wins."""
    parts, kind = plan
    if kind == _NUM:
        value = to_num(value)
    elif kind == _IP:
        value = to_str(value).strip()
        if not value or value == "-":
            return
    elif type(value) is not str:
        value = to_str(value)
    d = ev
    for p in parts[:-1]:
        nxt = d.get(p)
        if nxt is None:
            nxt = d[p] = {}
        elif not isinstance(nxt, dict):
            return
        d = nxt
    d.setdefault(parts[-1], value)


@dataclass(frozen=True, slots=True)
class MapPlan:
    """What one ``(channel, event id)`` maps beyond FIELD_MAP, in order of precedence."""

    dataset: str
    # (EventData name, plan): applied when the name is present (its value even if null)
    extras: tuple[tuple[str, Plan], ...]
    network: bool  # Sysmon network connection: ``Initiated`` -> ``network.direction``
    hash_base: str  # ``process`` or ``file``: where ``Hashes`` go
    category: tuple[list[str], list[str], str | None] | None


def _extras(channel: str, code: str) -> list[tuple[str, str]]:
    sysmon = channel == SYSMON
    out: list[tuple[str, str]] = []
    if channel == "Security":
        out += _SECURITY.items()
    elif channel == "Windows PowerShell":
        out += _POWERSHELL_CLASSIC.items()
    else:
        out.append(("CommandLine", "process.command_line"))
    if sysmon and code == _SYSMON_IMAGE_LOAD:
        out += [(name, f"file.pe.{sub}") for name, sub in _PE.items()]
        out.append(("Signature", "file.code_signature.subject_name"))
    elif sysmon and code == _SYSMON_DRIVER_LOAD:
        out.append(("Signature", "file.code_signature.subject_name"))
    elif (sysmon and code == _SYSMON_PROCESS_CREATION) or (
        channel == "Security" and code == "4688"
    ):
        out += [(name, f"process.pe.{sub}") for name, sub in _PE.items()]
    elif sysmon and code == _SYSMON_NETWORK:
        out.append(("Protocol", "network.transport"))
    return out


def _make_plan(channel: str, code: str) -> MapPlan:
    sysmon = channel == SYSMON
    category: tuple[list[str], list[str], str | None] | None = None
    if sysmon:
        scat = _SYSMON_CATEGORY.get(code)
        if scat:
            category = (scat[0], scat[1], None)
    elif channel == "Security":
        category = _SECURITY_CATEGORY.get(code)
    return MapPlan(
        dataset=_DATASET.get(channel, "windows"),
        extras=tuple((name, field_plan(target)) for name, target in _extras(channel, code)),
        network=sysmon and code == _SYSMON_NETWORK,
        hash_base="process" if sysmon and code in _PROCESS_HASH_CODES else "file",
        category=category,
    )


_MAP_PLANS: dict[tuple[str, str], MapPlan] = {}


def map_plan(channel: str, code: str) -> MapPlan:
    """The cached plan of a canonical channel and an event id (bounded: odd inputs such as
    fuzzed event ids must not grow it without limit)."""
    key = (channel, code)
    plan = _MAP_PLANS.get(key)
    if plan is None:
        if len(_MAP_PLANS) > 4096:
            _MAP_PLANS.clear()
        plan = _MAP_PLANS[key] = _make_plan(channel, code)
    return plan


_MISSING = object()


def map_fields(ev: Event, plan: MapPlan, data: dict[str, Any]) -> None:
    """Fill the ECS fields of ``ev`` from ``data`` (EventData values as the input had them)."""
    plans = _FIELD_PLANS
    for name, value in data.items():
        fp = plans.get(name)
        if fp is None or value is None:
            continue
        parts, kind = fp
        # the common cases inline (a string, or an int into a number field, two or three
        # levels deep): one call less per field; the rest through put()
        tv = type(value)
        if (tv is str and kind == _STR) or (tv is int and kind == _NUM):
            n = len(parts)
            if n == 2:
                sub = ev.get(parts[0])
                if sub is None:
                    ev[parts[0]] = {parts[1]: value}
                elif type(sub) is dict:
                    sub.setdefault(parts[1], value)
                continue
            if n == 3:
                sub = ev.get(parts[0])
                if sub is None:
                    ev[parts[0]] = {parts[1]: {parts[2]: value}}
                elif type(sub) is dict:
                    sub2 = sub.get(parts[1])
                    if sub2 is None:
                        sub[parts[1]] = {parts[2]: value}
                    elif type(sub2) is dict:
                        sub2.setdefault(parts[2], value)
                continue
        put(ev, fp, value)
    get = data.get
    for name, fp in plan.extras:
        value = get(name, _MISSING)
        if value is _MISSING:
            continue
        parts = fp[0]
        if type(value) is str and fp[1] == _STR and len(parts) == 3:  # file/process.pe.*
            sub = ev.get(parts[0])
            if sub is None:
                ev[parts[0]] = {parts[1]: {parts[2]: value}}
            elif type(sub) is dict:
                sub2 = sub.get(parts[1])
                if sub2 is None:
                    sub[parts[1]] = {parts[2]: value}
                elif type(sub2) is dict:
                    sub2.setdefault(parts[2], value)
        else:
            put(ev, fp, value)
    if plan.network:
        init = get("Initiated")
        if init is not None:
            put(
                ev,
                field_plan("network.direction"),
                "egress" if to_str(init).lower() == "true" else "ingress",
            )
    hashes = get("Hashes")
    if hashes is None:
        hashes = get("Hash")
    if type(hashes) is str and "=" in hashes:
        _map_hashes(ev, plan.hash_base, hashes)
    proc = ev.get("process")
    if type(proc) is dict:
        exe = proc.get("executable")
        if type(exe) is str and exe:
            proc.setdefault("name", exe.replace("/", "\\").rsplit("\\", 1)[-1])
        parent = proc.get("parent")
        if type(parent) is dict:
            pexe = parent.get("executable")
            if type(pexe) is str and pexe:
                parent.setdefault("name", pexe.replace("/", "\\").rsplit("\\", 1)[-1])
    user = ev.get("user")
    if type(user) is dict:
        uname = user.get("name")
        if type(uname) is str:
            ev["related"] = {"user": [uname]}
    cat = plan.category
    if cat is not None:
        e = ev["event"]
        e["category"], e["type"] = cat[0], cat[1]
        if cat[2]:
            e["outcome"] = cat[2]


_HASH_PLANS: dict[tuple[str, str], Plan] = {}


def _map_hashes(ev: Event, base: str, hashes: str) -> None:
    """``Hashes`` -> ``process.hash.*`` (process creation) or ``file.hash.*``; IMPHASH ->
    ``*.pe.imphash``. The original stays in ``winlog.event_data.Hashes``."""
    for algo, h in split_hashes(hashes).items():
        plan = _HASH_PLANS.get((base, algo))
        if plan is None:
            if len(_HASH_PLANS) > 1024:  # algorithm names come from the input
                _HASH_PLANS.clear()
            target = f"{base}.pe.imphash" if algo == "imphash" else f"{base}.hash.{algo}"
            plan = _HASH_PLANS[(base, algo)] = _plan(target)
        put(ev, plan, h)


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
