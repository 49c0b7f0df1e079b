"""Beats events (the JSON of a lumberjack data frame) to socmon events, with their identity.

- **Winlogbeat** (a ``winlog`` object): through the Windows mapping ``socmon parse`` uses for
  EVTX (``WindowsRecordParser.winlogbeat``), so every Windows Sigma rule sees the same fields.
  Identity ``evtx:<computer>:<channel>`` and ``<record id>@<time>``: the id an EVTX file of
  the same record gets (the time to the microsecond, as the EVTX path writes it), so a record
  both shipped and imported is stored once when Winlogbeat's ``@timestamp`` carries the
  record's time to the microsecond (its own output does; a Beat that rounds it to the
  millisecond gets other ids: the record is then stored once per path, never lost).
- **Filebeat** lines (a string ``message`` from a line input: ``log``, ``filestream``,
  ``tcp``, ``udp``, ``syslog``, ...): the line goes through socmon's parser chosen by
  ``event.dataset`` (Filebeat modules), else the file name in ``log.file.path``, else the line
  itself (as ``--format auto``). The Beat's own fields (agent, host, log.file, input, fields,
  tags, ...) are kept where the parser set nothing. A line no parser reads keeps the Beat's
  document as it is (tag ``_beats_unparsed``, not a parse failure: it is valid ECS).
  Identity: agent id + file identity (device/inode or fingerprint) + ``log.offset``.
- **Elastic Agent** and other ECS documents (integrations, journald, metrics): kept as they
  are. Identity: agent id + a hash of the payload (a resent event is byte-identical).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import hashlib
import re
from typing import Any

from socmon.collectors.event import PARSE_FAILURE, add_tag, failure
from socmon.collectors.parsers.jsonfmt import loads
from socmon.collectors.parsers.registry import Parser, detect_line
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

# Filebeat module datasets -> socmon line format (the module's own parsing runs in an
# Elasticsearch ingest pipeline, which socmon replaces)
DATASET_FORMATS = {
    "system.auth": "syslog",
    "system.syslog": "syslog",
    "iptables.log": "syslog",
    "nginx.access": "nginx",
    "nginx.error": "nginx",
    "apache.access": "apache",
    "apache.error": "apache",
    "suricata.eve": "suricata",
    "auditd.log": "auditd",
    "cef.log": "cef",
    "fortinet.firewall": "kv",
}
PATH_FORMATS = (
    ("*/nginx/*", "nginx"),
    ("*/apache*/*", "apache"),
    ("*/httpd/*", "apache"),
    ("*eve*.json", "suricata"),
    ("*/audit/audit.log*", "auditd"),
    ("*/zeek/*", "zeek"),
    ("*/bro/*", "zeek"),
)
UNPARSED = "_beats_unparsed"  # a Filebeat line no socmon parser reads: the Beat's ECS kept
LINE_INPUTS = {"log", "filestream", "tcp", "udp", "syslog", "stdin", "unix", "container"}


def line_format(doc: dict[str, Any], line: str) -> str | None:
    """The parser for a Filebeat line: by dataset, file path, then the line's look."""
    ev = doc.get("event")
    dataset = ev.get("dataset") if isinstance(ev, dict) else None
    if isinstance(dataset, str):
        if dataset in DATASET_FORMATS:
            return DATASET_FORMATS[dataset]
        if dataset.startswith("zeek."):
            return "zeek"
    path = _file_path(doc)
    if path:
        fmt = _path_format(path)
        if fmt:
            return fmt
    return detect_line(line)


@functools.lru_cache(maxsize=4096)
def _path_format(path: str) -> str | None:
    for pat, fmt in PATH_FORMATS:
        if fnmatch.fnmatch(path, pat):
            return fmt
    return None


def _file_path(doc: dict[str, Any]) -> str | None:
    lg = doc.get("log")
    f = lg.get("file") if isinstance(lg, dict) else None
    p = f.get("path") if isinstance(f, dict) else None
    return p if isinstance(p, str) else None


def _input_type(doc: dict[str, Any]) -> str | None:
    inp = doc.get("input")
    t = inp.get("type") if isinstance(inp, dict) else None
    return t if isinstance(t, str) else None


def _agent_id(doc: dict[str, Any]) -> str:
    ag = doc.get("agent")
    if isinstance(ag, dict):
        for k in ("id", "name"):
            if isinstance(ag.get(k), str) and ag[k]:
                return str(ag[k])
    host = doc.get("host")
    if isinstance(host, dict) and isinstance(host.get("name"), str):
        return str(host["name"])
    return ""


def _file_identity(doc: dict[str, Any]) -> str:
    """Filebeat's own file identity (``log.file.device_id``/``inode``, or its fingerprint),
    else the path."""
    lg = doc.get("log")
    f = lg.get("file") if isinstance(lg, dict) else None
    if not isinstance(f, dict):
        return ""
    fp = f.get("fingerprint")
    if fp:
        return f"fp:{fp}"
    if f.get("inode") is not None:
        return f"ino:{f.get('device_id', '')}:{f['inode']}"
    return f"path:{f.get('path', '')}"


def merge_under(ev: Event, doc: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """Add the Beat's fields to ``ev`` where the parser set nothing (one level deep)."""
    for k, v in doc.items():
        if k in skip:
            continue
        cur = ev.get(k)
        if isinstance(cur, dict) and isinstance(v, dict):
            for k2, v2 in v.items():
                cur.setdefault(k2, v2)
        elif k not in ev:
            ev[k] = v


class BeatsNormalizer:
    """One Beats payload -> (event, identity, position). ``parser(fmt)`` gives socmon's line
    parsers (``LineHandler.parser``, so they are built once per connection)."""

    def __init__(self, tp: TimeParser, parser: Any, max_depth: int = 32) -> None:
        self.tp = tp
        self.parser: Any = parser
        self.max_depth = max_depth
        self.win = WindowsRecordParser(tp)

    def __call__(self, payload: bytes, text: str) -> tuple[Event, str, str | int]:
        try:
            doc = loads(text, self.max_depth)
        except RecursionError:
            return self._failure(payload, text, "JSON nested too deeply")
        except ValueError as e:
            return self._failure(payload, text, f"not JSON: {e}")
        if not isinstance(doc, dict):
            return self._failure(payload, text, "not a JSON object")
        agent = _agent_id(doc)
        wl = doc.get("winlog")
        if isinstance(wl, dict):
            ev = self.win.winlogbeat(doc, text)
            wl2 = ev.get("winlog", {})
            rid = wl2.get("record_id")
            if isinstance(rid, int | str) and str(rid).isdigit():
                ident = f"evtx:{wl2.get('computer_name', '')}:{wl2.get('channel', '')}"
                ts = doc.get("@timestamp")
                created = evtx_time(ts) if isinstance(ts, str) else None
                return ev, ident, f"{int(rid)}@{created}" if created else int(rid)
            return ev, f"beats:{agent}", _digest(payload)
        msg = doc.get("message")
        if isinstance(msg, str) and _input_type(doc) in LINE_INPUTS:
            ev = self._line(doc, msg)
            lg = doc.get("log")
            off = lg.get("offset") if isinstance(lg, dict) else None
            fid = _file_identity(doc)
            if fid and isinstance(off, int):
                return ev, f"beats:{agent}:{fid}", off
            return ev, f"beats:{agent}", _digest(payload)
        ev = dict(doc)
        return ev, f"beats:{agent}", _digest(payload)

    def _line(self, doc: dict[str, Any], line: str) -> Event:
        fmt = line_format(doc, line)
        if fmt is not None:
            parsed: Event = self._parse(fmt, line)
            if PARSE_FAILURE not in parsed.get("tags", ()):
                merge_under(parsed, doc, skip=("message", "@timestamp", "event"))
                e = parsed.setdefault("event", {})
                be = doc.get("event")
                if isinstance(be, dict):
                    for k, v in be.items():
                        if k != "dataset":
                            e.setdefault(k, v)
                if "@timestamp" not in parsed and isinstance(doc.get("@timestamp"), str):
                    parsed["@timestamp"] = doc["@timestamp"]
                return parsed
        ev = dict(doc)
        e = ev["event"] = dict(ev["event"]) if isinstance(ev.get("event"), dict) else {}
        e.setdefault("original", line)
        add_tag(ev, UNPARSED)
        return ev

    def _parse(self, fmt: str, line: str) -> Event:
        p: Parser = self.parser(fmt)
        try:
            return p(line)
        except RecursionError:
            return failure(line, "input nested too deeply", fmt)

    def _failure(self, payload: bytes, text: str, reason: str) -> tuple[Event, str, str]:
        return failure(text, reason, "beats"), "beats:", _digest(payload)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)")


def evtx_time(ts: str) -> str | None:
    """A time as the EVTX path writes a record's ``SystemTime`` in its id (the ``evtx``
    package: UTC, microseconds, ``Z``); None when ``ts`` is not RFC 3339."""
    m = _RFC3339.fullmatch(ts)
    if m is None:
        return None
    frac = (m[2] or "")[:6].ljust(6, "0")
    if m[3] == "Z":
        return f"{m[1]}.{frac}Z"
    try:
        t = dt.datetime.fromisoformat(f"{m[1]}.{frac}{m[3]}").astimezone(dt.UTC)
    except ValueError:
        return None
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()
