"""Parser registry: a format name -> a callable ``line -> Event``, and format detection.

Line formats: syslog, nginx, apache, access, jsonl, suricata, zeek (JSON or TSV), cef, kv,
winjson, auditd, pfirewall (Windows Firewall). Formats with header lines (Zeek TSV,
pfirewall) have a parser with a ``header(line) -> bool`` method (``LineHandler.header``).
``auto`` is resolved per file by :func:`detect` from its first lines (and per line when a
file mixes formats: the chosen parser's failures are retried with the others).
"""

from __future__ import annotations

from collections.abc import Callable

from socmon.collectors.event import failure
from socmon.collectors.parsers.apps import parse_audit
from socmon.collectors.parsers.cefkv import CefParser, KvParser
from socmon.collectors.parsers.jsonfmt import (
    JsonLinesParser,
    SuricataParser,
    WindowsJsonParser,
    ZeekParser,
)
from socmon.collectors.parsers.pfirewall import RECORD as PFIREWALL_RECORD
from socmon.collectors.parsers.pfirewall import WindowsFirewallParser
from socmon.collectors.parsers.syslog import SyslogParser
from socmon.collectors.parsers.web import AccessParser, WebParser, compile_log_format
from socmon.collectors.parsers.zeektsv import HEADER_KEYS as ZEEK_HEADERS
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event
from socmon.settings.collectors import LINE_FORMATS

Parser = Callable[[str], Event]


class AuditdParser:
    """audit.log lines (``type=... msg=audit(ts:serial): ...``)."""

    def __init__(self, tp: TimeParser) -> None:
        self.tp = tp

    def __call__(self, line: str) -> Event:
        ev: Event = {"event": {"original": line, "kind": "event", "dataset": "auditd"}}
        if not parse_audit(ev, line):
            # maybe a syslog-wrapped audit line
            return failure(line, "not an auditd record", "auditd")
        seq = line.find("msg=audit(")
        if seq >= 0:
            stamp = line[seq + 10 : line.find(":", seq + 10)]
            ts = self.tp.epoch(stamp)
            if ts:
                ev["@timestamp"] = ts
        return ev


def make(
    fmt: str,
    tp: TimeParser | None = None,
    *,
    max_depth: int = 32,
    log_format: str | None = None,
    zeek_path: str | None = None,
) -> Parser:
    tp = tp or TimeParser()
    if fmt == "syslog":
        return SyslogParser(tp)
    if fmt in ("nginx", "apache"):
        return WebParser(fmt, tp, log_format)
    if fmt == "access":
        return AccessParser(tp, "access", compile_log_format(log_format) if log_format else None)
    if fmt == "jsonl":
        return JsonLinesParser(tp, max_depth)
    if fmt == "suricata":
        return SuricataParser(tp, max_depth)
    if fmt == "zeek":
        return ZeekParser(tp, max_depth, zeek_path)
    if fmt == "winjson":
        return WindowsJsonParser(tp, max_depth)
    if fmt == "cef":
        return CefParser(tp)
    if fmt == "kv":
        return KvParser(tp)
    if fmt == "auditd":
        return AuditdParser(tp)
    if fmt == "pfirewall":
        return WindowsFirewallParser(tp)
    raise ValueError(f"unknown line format {fmt!r} (known: {', '.join(LINE_FORMATS)})")


def detect_line(line: str) -> str | None:
    """The most likely format of one line, or None."""
    s = line.lstrip()
    if not s:
        return None
    c = s[0]
    if c == "#":
        if (s[1:].split(None, 1) or [""])[0] in ZEEK_HEADERS:
            return "zeek"
        if s.startswith(("#Software: Microsoft Windows Firewall", "#Fields: date time action")):
            return "pfirewall"
        return None
    if c.isdigit() and PFIREWALL_RECORD.match(s):
        return "pfirewall"
    if c == "{":
        if '"event_type"' in s and ('"src_ip"' in s or '"flow_id"' in s):
            return "suricata"
        if '"id.orig_h"' in s or '"_path"' in s:
            return "zeek"
        if '"EventID"' in s or '"winlog"' in s or '"Event"' in s:
            return "winjson"
        return "jsonl"
    if "CEF:" in s[:200]:
        return "cef"
    if s.startswith("type=") and "msg=audit(" in s:
        return "auditd"
    if c == "[" and "] [" in s[:80]:
        return "apache"
    if c.isdigit() and s[4:5] == "/" and "] " in s[:40] and "#" in s[:60]:
        return "nginx"
    if " [" in s[:120] and '] "' in s[:200] and ("HTTP/" in s or '" ' in s):
        return "access"
    if c == "<" or (s[:3].isalpha() and s[3:4] == " "):
        return "syslog"
    if c.isdigit() and s[4:5] == "-" and s[10:11] in ("T", " "):
        if s.count("=") >= 3 and s.find("=") < 40:
            return "kv"
        return "syslog"
    if s.count("=") >= 3:
        return "kv"
    return None


def detect(lines: list[str]) -> str:
    """The format most of ``lines`` look like (syslog when nothing is recognised)."""
    votes: dict[str, int] = {}
    for ln in lines:
        f = detect_line(ln)
        if f:
            votes[f] = votes.get(f, 0) + 1
    if not votes:
        return "syslog"
    return max(votes.items(), key=lambda kv: kv[1])[0]
