"""Settings section for the log collectors (issue 3): files, syslog, EVTX, JSON lines, IDS
output, stdin; organisation units and GeoIP.

Every source kind is a list, so several of each run at once. The province's structure (which
source belongs to which organisation unit) is data here, never code. See docs/collectors.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator

from socmon.settings.base import Section

LineFormat = Literal[
    "auto",
    "syslog",
    "nginx",
    "apache",
    "access",
    "jsonl",
    "suricata",
    "zeek",
    "cef",
    "kv",
    "winjson",
    "auditd",
    "pfirewall",
]
# The formats a line can be in (``auto`` picks one of them per file), and every ``--format``
# of ``socmon parse``: these plus whole-file formats.
LINE_FORMATS: tuple[str, ...] = tuple(f for f in get_args(LineFormat) if f != "auto")
ALL_FORMATS: tuple[str, ...] = ("auto", *LINE_FORMATS, "evtx", "pcap")


class OrganizationUnit(Section):
    """One organisation unit and the sources that belong to it (first match wins)."""

    id: str = Field(..., min_length=1, description="organization.id")
    name: str = Field(..., min_length=1, description="organization.name")
    paths: list[str] = Field(
        default_factory=list, description="File path globs (fnmatch) of this unit's log files."
    )
    senders: list[str] = Field(
        default_factory=list,
        description="Syslog sender addresses or CIDR blocks (e.g. 10.1.0.0/16) of this unit.",
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="Host name globs (case-insensitive, e.g. 'fin-*') of this unit.",
    )
    agents: list[str] = Field(
        default_factory=list,
        description="Beats agent name globs (agent.name, case-insensitive) of this unit.",
    )


class FileSource(Section):
    paths: list[str] = Field(..., min_length=1, description="Glob patterns of files to follow.")
    exclude: list[str] = Field(default_factory=list, description="Globs of files to skip.")
    format: LineFormat = Field("auto", description="Line format; auto detects it per file.")
    start_at: Literal["beginning", "end"] = Field(
        "end",
        description="Where to start the files found when this source first runs (no "
        "checkpoint yet). Files appearing later (rotation), or while socmon was stopped, are "
        "always read from the beginning.",
    )
    read_gz: bool = Field(
        False,
        description="Also read matching .gz files (once, whole; a .gz copy of a file already "
        "read gets the same ids and is read from where that file was).",
    )
    forget_after: float = Field(
        30 * 86400.0,
        gt=0,
        description="Seconds the state of a file no longer found (rotated away, deleted) is "
        "kept, so that its return or a copy of it (.gz, copytruncate) is not read again.",
    )
    poll_interval: float = Field(0.2, gt=0, description="Seconds between checks for new data.")
    name: str | None = Field(None, description="Source name (default: derived from paths).")


class SyslogSource(Section):
    protocol: Literal["udp", "tcp", "tls", "relp"] = Field(
        "udp",
        description="Transport: udp, tcp, tls (RFC 5425), or relp (rsyslog's omrelp: each "
        "message acknowledged once stored, so none is lost when socmon stops; over TLS when "
        "cert_file and key_file are set).",
    )
    bind: str = Field("0.0.0.0", description="Listen address.")
    port: int = Field(5514, ge=0, le=65535, description="Listen port (0: any free port).")
    cert_file: Path | None = Field(
        None, description="TLS (protocol tls, or relp over TLS): server certificate (PEM)."
    )
    key_file: Path | None = Field(None, description="TLS: private key (PEM).")
    ca_file: Path | None = Field(
        None, description="TLS: CA bundle to require and verify client certificates."
    )
    max_message_bytes: int = Field(
        65536, ge=256, description="Longer messages are truncated and flagged."
    )
    idle_timeout: float = Field(
        300.0, gt=0, description="Seconds a TCP/TLS client may stay silent before we close it."
    )
    max_connections: int = Field(1000, ge=1, description="Concurrent TCP/TLS clients.")

    @model_validator(mode="after")
    def _tls_has_cert(self) -> SyslogSource:
        if self.protocol == "tls" and (self.cert_file is None or self.key_file is None):
            raise ValueError("protocol tls needs cert_file and key_file")
        if self.protocol == "relp" and (self.cert_file is None) != (self.key_file is None):
            raise ValueError("relp over TLS needs both cert_file and key_file")
        return self


class BeatsSource(Section):
    """A Beats (lumberjack v2) listener: Winlogbeat, Filebeat, Elastic Agent ``output.logstash``."""

    bind: str = Field("0.0.0.0", description="Listen address.")
    port: int = Field(5044, ge=0, le=65535, description="Listen port (0: any free port).")
    cert_file: Path | None = Field(None, description="TLS: server certificate (PEM).")
    key_file: Path | None = Field(None, description="TLS: private key (PEM).")
    ca_file: Path | None = Field(
        None, description="TLS: CA bundle to require and verify client certificates."
    )
    max_window: int = Field(
        16_384,
        ge=1,
        description="Largest window (events per batch) a client may announce; a larger one "
        "is reported and the connection closed (Beats' bulk_max_size default: 2048).",
    )
    max_event_bytes: int = Field(
        1_048_576, ge=1024, description="Longer events are kept cut and flagged _truncated."
    )
    max_batch_bytes: int = Field(
        64 * 1_048_576,
        ge=65536,
        description="Largest compressed frame, before and after decompression.",
    )
    max_inflight_events: int = Field(
        100_000,
        ge=1,
        description="Events read from all clients and not yet durable; beyond it no more is "
        "read (clients wait for their ACK: backpressure).",
    )
    idle_timeout: float = Field(
        300.0, gt=0, description="Seconds a client may stay silent before we close it."
    )
    max_connections: int = Field(1000, ge=1, description="Concurrent clients.")
    partial_ack_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between ACKs of the durable part of a window not yet complete "
        "(keeps the client from timing out on a slow store).",
    )
    protocol: Literal["beats"] = Field("beats", description="Always beats (lumberjack v2).")

    @model_validator(mode="after")
    def _tls_pair(self) -> BeatsSource:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("Beats over TLS needs both cert_file and key_file")
        return self


class EvtxSource(Section):
    paths: list[str] = Field(..., min_length=1, description="Glob patterns of .evtx files.")
    poll_interval: float = Field(5.0, gt=0, description="Seconds between checks for changes.")


class CollectorSettings(Section):
    """Log collectors (issue 3): files, syslog, EVTX, JSON lines, IDS output; organisation units."""

    enabled: bool = Field(True, description="Start the collectors in `socmon run`.")
    files: list[FileSource] = Field(default_factory=list, description="Files to follow.")
    syslog: list[SyslogSource] = Field(default_factory=list, description="Syslog listeners.")
    beats: list[BeatsSource] = Field(
        default_factory=list, description="Beats (lumberjack v2) listeners."
    )
    evtx: list[EvtxSource] = Field(default_factory=list, description="EVTX files to read.")
    stdin: bool = Field(False, description="Read events from standard input (`socmon collect`).")
    stdin_format: LineFormat = Field("auto", description="Line format of standard input.")
    checkpoint_dir: Path | None = Field(
        None, description="Where file checkpoints live (default: <var_dir>/checkpoints)."
    )
    max_line_bytes: int = Field(
        65536, ge=256, description="Longer lines are truncated to this and tagged _truncated."
    )
    max_json_depth: int = Field(
        32, ge=2, le=512, description="Deeper JSON is refused (kept as a parse failure)."
    )
    timezone: str = Field(
        "UTC",
        description="Time zone of timestamps that carry none (IANA name, e.g. Asia/Ho_Chi_Minh).",
    )
    default_org_id: str = Field("unassigned", description="organization.id of unmapped sources.")
    default_org_name: str = Field(
        "Unassigned", description="organization.name of unmapped sources."
    )
    organization_units: list[OrganizationUnit] = Field(
        default_factory=list, description="Source -> organisation unit mapping (first match wins)."
    )
    geoip_database: Path | None = Field(
        None,
        description="MaxMind GeoLite2/GeoIP2 City or Country .mmdb file for public addresses "
        "(optional; never downloaded).",
    )
    observer_name: str | None = Field(
        None, description="Name of this collector in socmon.collector (default: host name)."
    )
    checkpoint_interval: float = Field(
        0.5, gt=0, description="Seconds between checkpoint writes (only acked positions)."
    )
