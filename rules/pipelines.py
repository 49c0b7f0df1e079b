"""Field mapping and logsource routing: Sigma field names -> the ECS fields socmon's events carry.

One pySigma processing pipeline, ``socmon_pipeline()``, used by BOTH the streaming matcher and
the scheduled Elasticsearch queries, so that both modes look at the same fields with the same
logsource conditions. It is composed of:

1. placeholders (``%name%`` with the ``expand`` modifier) replaced by the value lists in
   ``detection.placeholders`` (undefined placeholders are left for the engine to report);
2. Windows logsource routing: a ``service`` becomes a ``winlog.channel`` condition (pySigma's
   ``generate_windows_logsource_items``, as in ``ecs_windows``); a ``category`` becomes
   ``event.code`` + ``winlog.channel`` conditions (Sysmon event ids, Security 4688 for
   process_creation, PowerShell 4103/4104/400/600/800);
3. pySigma's ``ecs_windows`` field mapping (Winlogbeat 7+ layout: ``winlog.event_data.*``,
   ``process.*``, ``file.*`` ...) with the ``.caseless`` sub-fields removed: socmon's event
   template has no such sub-fields;
4. socmon's own mappings for Linux, web servers, proxies, firewalls and DNS, each routed on
   ``event.dataset`` (``LOGSOURCE_DATASETS``).

Rule fields that are already dotted ECS names (``source.ip``) are left alone, so rules written
directly against socmon's ECS events need no mapping. The table is rendered in
docs/detection.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.pipelines.common import logsource_windows, windows_logsource_mapping
from sigma.pipelines.elasticsearch.windows import ecs_windows
from sigma.processing.conditions import (
    IncludeFieldCondition,
    LogsourceCondition,
    MatchStringCondition,
)
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    SetValueTransformation,
    ValueListPlaceholderTransformation,
)
from sigma.types import SigmaNull

CASELESS = ".caseless"

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL_CHANNELS = ["Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational"]
POWERSHELL_CLASSIC_CHANNEL = "Windows PowerShell"

# Windows generic categories -> (channels, event ids). Sysmon ids follow pySigma's sysmon
# pipeline; process_creation also comes from the Security log (4688); PowerShell categories
# follow pySigma's windows pipeline.
WINDOWS_CATEGORIES: dict[str, tuple[list[str], list[int]]] = {
    "process_creation": ([SYSMON_CHANNEL, "Security"], [1, 4688]),
    "file_change": ([SYSMON_CHANNEL], [2]),
    "network_connection": ([SYSMON_CHANNEL], [3]),
    "sysmon_status": ([SYSMON_CHANNEL], [4, 16]),
    "process_termination": ([SYSMON_CHANNEL], [5]),
    "driver_load": ([SYSMON_CHANNEL], [6]),
    "image_load": ([SYSMON_CHANNEL], [7]),
    "create_remote_thread": ([SYSMON_CHANNEL], [8]),
    "raw_access_thread": ([SYSMON_CHANNEL], [9]),
    "process_access": ([SYSMON_CHANNEL], [10]),
    "file_event": ([SYSMON_CHANNEL], [11]),
    "registry_add": ([SYSMON_CHANNEL], [12]),
    "registry_delete": ([SYSMON_CHANNEL], [12]),
    "registry_set": ([SYSMON_CHANNEL], [13]),
    "registry_rename": ([SYSMON_CHANNEL], [14]),
    "registry_event": ([SYSMON_CHANNEL], [12, 13, 14]),
    "create_stream_hash": ([SYSMON_CHANNEL], [15]),
    "pipe_created": ([SYSMON_CHANNEL], [17, 18]),
    "wmi_event": ([SYSMON_CHANNEL], [19, 20, 21]),
    "dns_query": ([SYSMON_CHANNEL], [22]),
    "file_delete": ([SYSMON_CHANNEL], [23, 26]),
    "clipboard_capture": ([SYSMON_CHANNEL], [24]),
    "process_tampering": ([SYSMON_CHANNEL], [25]),
    "file_delete_detected": ([SYSMON_CHANNEL], [26]),
    "file_block_executable": ([SYSMON_CHANNEL], [27]),
    "file_block_shredding": ([SYSMON_CHANNEL], [28]),
    "file_executable_detected": ([SYSMON_CHANNEL], [29]),
    "sysmon_error": ([SYSMON_CHANNEL], [255]),
    "ps_module": (POWERSHELL_CHANNELS, [4103]),
    "ps_script": (POWERSHELL_CHANNELS, [4104]),
    "ps_classic_start": ([POWERSHELL_CLASSIC_CHANNEL], [400]),
    "ps_classic_provider_start": ([POWERSHELL_CLASSIC_CHANNEL], [600]),
    "ps_classic_script": ([POWERSHELL_CLASSIC_CHANNEL], [800]),
}

# Non-Windows logsources -> the event.dataset values socmon's collectors emit for them.
# Keys are (product, category, service); None matches any value of that logsource field.
LOGSOURCE_DATASETS: dict[tuple[str | None, str | None, str | None], list[str]] = {
    ("linux", None, "auth"): ["linux.auth", "system.auth", "sshd", "sudo", "su", "xrdp"],
    ("linux", None, "sshd"): ["linux.auth", "system.auth", "sshd"],
    ("linux", None, "sudo"): ["linux.auth", "system.auth", "sudo"],
    ("linux", None, "xrdp"): ["xrdp"],
    ("linux", None, "syslog"): ["syslog", "linux.syslog", "system.syslog"],
    ("linux", None, "auditd"): ["auditd", "linux.auditd", "auditd.log"],
    ("linux", None, "vsftpd"): ["vsftpd", "vsftpd.log"],
    ("linux", None, "proftpd"): ["proftpd"],
    ("linux", None, "clamav"): ["clamav", "clamav.log"],
    ("linux", None, "cron"): ["cron", "syslog", "linux.syslog", "system.syslog"],
    ("linux", None, "guacamole"): ["guacamole", "guacamole.log"],
    ("linux", "process_creation", None): ["auditd", "linux.process", "auditd.log"],
    ("linux", "network_connection", None): ["auditd", "linux.network", "auditd.log"],
    ("linux", "file_event", None): ["auditd", "linux.file", "auditd.log"],
    (None, "webserver", None): [
        "nginx.access",
        "apache.access",
        "access",
        "web.access",
        "iis.access",
    ],
    (None, "proxy", None): ["proxy.access", "squid.access"],
    (None, "firewall", None): [
        "iptables",
        "ufw",
        "fortinet.firewall",
        "cef",
        "network.flow",
        "zeek.conn",
        "suricata.flow",
        "suricata.eve",  # socmon's Suricata parser: every EVE record, flow ones included
        "windows.firewall",
    ],
    (None, "dns", None): ["network.dns", "zeek.dns", "suricata.dns"],
    ("zeek", None, None): ["zeek", "zeek.conn", "zeek.dns", "zeek.http", "zeek.ssl", "zeek.ssh"],
}

# Sigma taxonomy field names (non-Windows) -> ECS, per logsource. Keys as in LOGSOURCE_DATASETS.
PROCESS_FIELDS = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "CurrentDirectory": "process.working_directory",
    "ProcessId": "process.pid",
    "ParentProcessId": "process.parent.pid",
    "User": "user.name",
    "LogonId": "process.user.id",
    "TargetFilename": "file.path",
    "DestinationIp": "destination.ip",
    "DestinationPort": "destination.port",
    "DestinationHostname": "destination.domain",
    "SourceIp": "source.ip",
    "SourcePort": "source.port",
    "Initiated": "network.direction",
}
WEB_FIELDS = {
    "c-ip": "source.ip",
    "c-uri": "url.original",
    "c-uri-query": "url.query",
    "c-uri-stem": "url.path",
    "c-uri-extension": "url.extension",
    "cs-uri": "url.original",
    "cs-uri-query": "url.query",
    "cs-uri-stem": "url.path",
    "cs-method": "http.request.method",
    "cs-version": "http.version",
    "cs-host": "url.domain",
    "cs-referrer": "http.request.referrer",
    "cs-cookie": "http.request.cookie",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "sc-status": "http.response.status_code",
    "sc-bytes": "http.response.bytes",
    "cs-bytes": "http.request.bytes",
    "r-dns": "url.domain",
    "s-ip": "destination.ip",
    "cs-username": "user.name",
}
NETWORK_FIELDS = {
    "src_ip": "source.ip",
    "src_port": "source.port",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "action": "event.action",
    "protocol": "network.transport",
    "query": "dns.question.name",
    "answer": "dns.answers.data",
    "record_type": "dns.question.type",
    "qtype_name": "dns.question.type",
    "rcode_name": "dns.response_code",
}
LOGSOURCE_FIELDS: dict[tuple[str | None, str | None, str | None], dict[str, str]] = {
    ("linux", None, None): PROCESS_FIELDS,
    ("macos", None, None): PROCESS_FIELDS,
    (None, "webserver", None): WEB_FIELDS,
    (None, "proxy", None): WEB_FIELDS,
    (None, "firewall", None): NETWORK_FIELDS,
    (None, "dns", None): NETWORK_FIELDS,
}


def _strip_caseless(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for k, v in mapping.items():
        if isinstance(v, str):
            out[k] = v.removesuffix(CASELESS)
        elif isinstance(v, list):
            out[k] = [x.removesuffix(CASELESS) for x in v]
        else:
            out[k] = v
    return out


def windows_field_mapping() -> dict[str, str]:
    """The ecs_windows fixed field mapping (Sigma field -> ECS field), ``.caseless`` removed.
    The Windows event shaper (``rules.winevent``) inverts it."""
    for item in ecs_windows().items:
        if item.identifier == "ecs_windows_field_mapping":
            tr = item.transformation
            assert isinstance(tr, FieldMappingTransformation)
            return {str(k): str(v) for k, v in _strip_caseless(tr.mapping).items()}
    return {}


def windows_variable_mapping() -> dict[tuple[str, str], dict[str, str]]:
    """ecs_windows' logsource-dependent mappings: (logsource field, value) -> {field: ecs}."""
    from sigma.pipelines.elasticsearch.windows import ecs_windows_variable_mappings

    out: dict[tuple[str, str], dict[str, str]] = {}
    for field, mappings in ecs_windows_variable_mappings.items():
        for ls_field, ls_value, mapped in mappings:
            out.setdefault((ls_field, ls_value), {})[field] = mapped.removesuffix(CASELESS)
    return out


# Fields of the Windows System element (what Winlogbeat itself writes); with
# ``windows_event_data`` every other Windows field stays under ``winlog.event_data``.
SYSTEM_TARGETS = frozenset(
    ("event.code", "winlog.channel", "winlog.provider_name", "winlog.computer_name")
)


@dataclass
class _Alternatives(FieldMappingTransformation):
    """A field that may also be spelled another way: a value matches in any of them. Null
    checks (``field: null``) are left on the first spelling: "absent in one of them" would
    hold for nearly every event."""

    def apply_detection_item(self, detection_item: Any) -> Any:
        if any(isinstance(v, SigmaNull) for v in detection_item.value):
            return None
        return super().apply_detection_item(detection_item)


@dataclass
class AlsoUserData(_Alternatives):
    """``winlog.event_data.X`` -> that or ``winlog.user_data.X``: Winlogbeat keeps the fields
    of ``<UserData>`` (WMI-Activity, ...) apart, where socmon's Windows events have them
    beside EventData."""

    def apply_field_name(self, field: str | None) -> str | list[str] | None:
        prefix = "winlog.event_data."
        if field and field.startswith(prefix):
            return [field, "winlog.user_data." + field[len(prefix) :]]
        return None


@dataclass
class SpacedNames(_Alternatives):
    """``winlog.event_data.ThreatName`` -> that or ``winlog.event_data.Threat Name``: Windows
    Defender names its EventData with spaces; socmon's Windows events also carry them without
    (the Sigma spelling), Winlogbeat's only with (the Lucene backend escapes the space)."""

    def apply_field_name(self, field: str | None) -> str | list[str] | None:
        prefix = "winlog.event_data."
        if not field or not field.startswith(prefix):
            return None
        words = re.findall(r"[A-Z][a-z0-9]+|[A-Z]+(?![a-z])", field[len(prefix) :])
        if len(words) < 2 or "".join(words) != field[len(prefix) :]:
            return None
        return [field, prefix + " ".join(words)]


def _ecs_windows_items(event_data: bool = False) -> list[ProcessingItem]:
    """ecs_windows' items. ``event_data``: map only the System fields; every EventData field
    stays ``winlog.event_data.<Name>`` (documents as Winlogbeat sends them, without the ECS
    fields its Elasticsearch ingest pipelines would add)."""
    items = []
    base = ecs_windows()
    base._clear_pipeline()  # its items are re-parented into socmon's pipeline
    for item in base.items:
        tr = item.transformation
        if isinstance(tr, FieldMappingTransformation):
            tr.mapping = _strip_caseless(tr.mapping)
            if event_data:
                tr.mapping = {k: v for k, v in tr.mapping.items() if v in SYSTEM_TARGETS}
                if not tr.mapping:
                    continue
        items.append(item)
    return items


def shared_target_fields() -> dict[str, str]:
    """Windows Sigma fields whose ``ecs_windows`` target is also the target of another
    EventData name (``SubjectDomainName`` and ``TargetDomainName`` -> ``user.domain``,
    ``ProcessId``/``NewProcessId``/``SourceProcessId`` -> ``process.pid``, ``IpAddress``/
    ``SourceAddress``/... -> ``source.ip``): field -> ``winlog.event_data.<field>``.

    One event often carries two of them (Security 4624: SubjectDomainName and
    TargetDomainName) and the ECS field holds one value only, so a rule on the other name
    compared against the wrong value; the ECS field also holds a normalised value (a hex
    ``0x2cc`` process id as the number 716, no ``-`` in an address) that the rule's value, as
    Windows writes it, does not equal. ``winlog.event_data`` keeps every name with its value as
    written."""
    by_target: dict[str, set[str]] = {}
    for f, target in windows_field_mapping().items():
        by_target.setdefault(target, set()).add(f)
    for mapping in windows_variable_mapping().values():
        for f, target in mapping.items():
            by_target.setdefault(target, set()).add(f)
    return {
        f: "winlog.event_data." + f
        for target, names in by_target.items()
        if len(names) > 1 and target not in SYSTEM_TARGETS
        for f in sorted(names)
    }


def _service_event_data_item() -> ProcessingItem:
    """Rules of a Windows service other than Sysmon (Security, System, Defender, ...) name the
    EventData fields of those events: the fields of ``shared_target_fields`` are matched in
    ``winlog.event_data``. Category rules keep the ECS fields: they also serve as the alias
    across event kinds (``Image`` of Sysmon 1 and ``NewProcessName`` of Security 4688 are both
    ``process.executable`` for process_creation), and Sysmon events have no two such names."""
    return ProcessingItem(
        identifier="socmon_windows_service_event_data",
        transformation=FieldMappingTransformation(_mapping(shared_target_fields())),
        rule_conditions=[
            LogsourceCondition(product="windows", service=service)
            for service in windows_logsource_mapping
            if service != "sysmon"
        ],
        rule_condition_linking=any,
    )


# System fields of a Windows record that SigmaHQ rules name and ecs_windows leaves to the
# ``winlog.event_data.`` prefix (where they never are): where socmon's Windows events keep them.
WINDOWS_SYSTEM_FIELDS = {"Keywords": "winlog.keywords", "Computer": "winlog.computer_name"}


def _system_fields_item() -> ProcessingItem:
    return ProcessingItem(
        identifier="socmon_windows_system_fields",
        transformation=FieldMappingTransformation(_mapping(WINDOWS_SYSTEM_FIELDS)),
        rule_conditions=[LogsourceCondition(product="windows")],
    )


def _direction_items() -> list[ProcessingItem]:
    """``Initiated: 'true'`` -> ``network.direction: egress`` (``'false'``: ingress).

    ecs_windows maps Sysmon's ``Initiated`` to ``network.direction`` and turns the value into
    ``egress``/``ingress`` only when the rule gives a YAML boolean; 48 of the 50 SigmaHQ rules
    that test it write the string ``'true'`` (one ``'True'``), which stayed ``true`` and never
    equalled the event's ``egress``: every such network_connection rule was dead. Strings of
    any case get the same treatment as booleans (Linux rules' ``Initiated`` too)."""
    return [
        ProcessingItem(
            identifier=f"socmon_network_direction_{word}",
            transformation=SetValueTransformation(direction),
            detection_item_conditions=[MatchStringCondition(cond="all", pattern=f"^(?i:{word})$")],
            field_name_conditions=[IncludeFieldCondition(fields=["network.direction"])],
        )
        for word, direction in (("true", "egress"), ("false", "ingress"))
    ]


def _windows_category_items() -> list[ProcessingItem]:
    items = []
    for category, (channels, codes) in WINDOWS_CATEGORIES.items():
        cond: dict[str, Any] = {
            "EventID": codes if len(codes) > 1 else codes[0],
            "Channel": channels if len(channels) > 1 else channels[0],
        }
        items.append(
            ProcessingItem(
                identifier=f"socmon_windows_{category}_route",
                transformation=AddConditionTransformation(cond, name=f"_route_{category}"),
                rule_conditions=[LogsourceCondition(category=category, product="windows")],
            )
        )
    return items


def _logsource_condition(key: tuple[str | None, str | None, str | None]) -> LogsourceCondition:
    product, category, service = key
    return LogsourceCondition(product=product, category=category, service=service)


def _mapping(fields: Mapping[str, str]) -> dict[str | None, str | list[str]]:
    return {k: v for k, v in fields.items()}


def _other_items() -> list[ProcessingItem]:
    items = []
    for key, fields in LOGSOURCE_FIELDS.items():
        items.append(
            ProcessingItem(
                identifier="socmon_fields_" + "_".join(k or "any" for k in key),
                transformation=FieldMappingTransformation(_mapping(fields)),
                rule_conditions=[_logsource_condition(key)],
            )
        )
    for key, datasets in LOGSOURCE_DATASETS.items():
        items.append(
            ProcessingItem(
                identifier="socmon_route_" + "_".join(k or "any" for k in key),
                transformation=AddConditionTransformation(
                    {"event.dataset": datasets if len(datasets) > 1 else datasets[0]},
                    name="_route_" + "_".join(k or "any" for k in key),
                ),
                rule_conditions=[_logsource_condition(key)],
            )
        )
    return items


def socmon_pipeline(
    placeholders: Mapping[str, Sequence[str]] | None = None,
    *,
    windows_event_data: bool = False,
    field_map: Mapping[str, str] | None = None,
) -> ProcessingPipeline:
    """The processing pipeline both detection modes apply to every rule.

    ``placeholders``: values for ``%name%`` placeholders (the ``expand`` modifier), usually
    ``settings.detection.placeholders``. Placeholders without values are left in the rule; the
    streaming engine reports them (and never matches them), scheduled mode reports the
    conversion error.

    For indices other shippers write (``detection.external_sources``): ``windows_event_data``
    keeps Windows EventData fields under ``winlog.event_data`` (raw Winlogbeat documents);
    ``field_map`` renames socmon's field names to the ones those documents use, last.
    """
    variables = {k: list(v) for k, v in (placeholders or {}).items()}
    items: list[ProcessingItem] = []
    if variables:
        items.append(
            ProcessingItem(
                identifier="socmon_placeholders",
                transformation=ValueListPlaceholderTransformation(include=list(variables)),
            )
        )
    items += _windows_category_items()
    items.append(_system_fields_item())
    if not windows_event_data:  # (with it, every EventData field stays there anyway)
        items.append(_service_event_data_item())
    items += _ecs_windows_items(windows_event_data)
    if windows_event_data:
        items.append(
            ProcessingItem(
                identifier="socmon_winlogbeat_spaced_names",
                transformation=SpacedNames({}),
                rule_conditions=[LogsourceCondition(product="windows", service="windefend")],
            )
        )
        items.append(
            ProcessingItem(
                identifier="socmon_winlogbeat_user_data",
                transformation=AlsoUserData({}),
                rule_conditions=[LogsourceCondition(product="windows")],
            )
        )
    items += _other_items()
    items += _direction_items()
    if field_map:
        items.append(
            ProcessingItem(
                identifier="socmon_external_field_map",
                transformation=FieldMappingTransformation(_mapping(field_map)),
            )
        )
    return ProcessingPipeline(
        name="socmon: Sigma -> socmon ECS events",
        priority=20,
        items=items,
        vars=variables,
    )


__all__ = [
    "LOGSOURCE_DATASETS",
    "LOGSOURCE_FIELDS",
    "WINDOWS_CATEGORIES",
    "logsource_windows",
    "shared_target_fields",
    "socmon_pipeline",
    "windows_field_mapping",
    "windows_variable_mapping",
]
