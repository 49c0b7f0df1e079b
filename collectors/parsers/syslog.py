"""Syslog lines to ECS: RFC 5424 (with structured data), RFC 3164 / BSD (with or without
``<PRI>``, BSD ``-v``/``-vv`` priority tags, ISO timestamps as rsyslog writes them, no
timestamp as journalctl prints), then the message through the program parsers
(:mod:`collectors.parsers.apps`: sshd, sudo, su, PAM, auditd, iptables/ufw, FTP, xrdp).

Hand-written splitting rather than one big regex: this is the hot path (see bench/collect.py).
"""

from __future__ import annotations

import re
from typing import Any

from socmon.collectors.event import failure, mark_failure
from socmon.collectors.parsers import apps
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
_FAC_CODE = {n: i for i, n in enumerate(FACILITIES)}
_SEV_CODE = {n: i for i, n in enumerate(SEVERITIES)}
_SEV_CODE.update({"emerg": 0, "crit": 2, "err": 3, "warn": 4, "panic": 0})

_BSD_TS = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d:\d\d:\d\d(?:\.\d+)?)(?: (\d{4}))? ")
_ISO_TS = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) ")
_CTIME_TS = re.compile(
    r"((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \d{4}) "
)
_BRACKET_TS = re.compile(r"\[(\d{8}-\d\d:\d\d:\d\d)\] ")
_BRACKET_TAG = re.compile(r"\[([A-Za-z][\w.-]{0,30})\]:? ")
_VERSION = re.compile(r"[1-9]\d? [-\d]")
_TAG = re.compile(r"([^\s\[\]:]+)(?:\[([^\]\s]*)\])?(:?)(?: |$)")
_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
# The common RFC 3164 shape in one match: optional <PRI>, "Mmm dd HH:MM:SS", host, then
# program with [pid] and/or a colon; exactly what _rfc3164 reads from such a line (its host
# and tag are _TAG matches: a word followed by a space, then a word with a pid or a colon).
# Everything else (and any doubt: no timestamp, PRI >= 192) takes the general path.
_FAST_3164 = re.compile(
    r"(?:<([0-9]{1,3})>)?([A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) "
    r"([^\s\[\]:<][^\s\[\]:]*) ([^\s\[\]:]+)(?:\[([^\]\s]*)\]:?|:)(?: |$)"
)


def _pri(ev: Event, pri: int) -> None:
    fac, sev = divmod(pri, 8)
    ev["log"]["syslog"] = {
        "priority": pri,
        "facility": {"code": fac, "name": FACILITIES[fac] if fac < len(FACILITIES) else str(fac)},
        "severity": {"code": sev, "name": SEVERITIES[sev]},
    }
    ev["event"]["severity"] = sev


def _unescape_sd(v: str) -> str:
    return v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\") if "\\" in v else v


def parse_structured_data(s: str) -> tuple[dict[str, dict[str, str]] | None, str, str | None]:
    """RFC 5424 STRUCTURED-DATA at the start of ``s`` -> (elements, rest, error)."""
    if s.startswith("- ") or s == "-":
        return None, s[2:], None
    out: dict[str, dict[str, str]] = {}
    i = 0
    n = len(s)
    while i < n and s[i] == "[":
        j = i + 1
        while j < n and s[j] not in " ]":
            j += 1
        sd_id = s[i + 1 : j]
        params: dict[str, str] = {}
        while j < n and s[j] == " ":
            m = _SD_PARAM.match(s, j + 1)
            if not m:
                return out or None, s[i:], "malformed structured data"
            params[m.group(1)] = _unescape_sd(m.group(2))
            j = m.end()
        if j >= n or s[j] != "]":
            return out or None, s[i:], "unterminated structured data"
        out[sd_id] = params
        i = j + 1
    rest = s[i:]
    if rest.startswith(" "):
        rest = rest[1:]
    return out or None, rest, None


class SyslogParser:
    """One instance per source (it keeps the sshd connection state and time caches)."""

    dataset = "syslog"

    def __init__(self, tp: TimeParser | None = None) -> None:
        self.tp = tp or TimeParser()
        self.apps = apps.AppParsers()

    def __call__(self, line: str) -> Event:
        m = _FAST_3164.match(line)
        if m is not None:
            ev = self._fast_3164(line, m)
            if ev is not None:
                return ev
        return self.general(line)

    def _fast_3164(self, line: str, m: re.Match[str]) -> Event | None:
        """The event :meth:`general` gives for a line :data:`_FAST_3164` matched (the same
        fields in the same order), built in one go; None when the line needs the general
        path after all."""
        pri_s, ts_s, host, program, pid = m.groups()
        ts = self.tp.bsd(ts_s)
        if ts is None:
            return None
        sl: dict[str, Any]
        if pri_s is None:
            event: dict[str, Any] = {"original": line, "kind": "event", "dataset": "syslog"}
            sl = {"hostname": host, "appname": program}
        else:
            pri = int(pri_s)
            if pri >= 192:
                return None
            fac, sev = divmod(pri, 8)
            event = {"original": line, "kind": "event", "dataset": "syslog", "severity": sev}
            sl = {
                "priority": pri,
                "facility": {
                    "code": fac,
                    "name": FACILITIES[fac] if fac < len(FACILITIES) else str(fac),
                },
                "severity": {"code": sev, "name": SEVERITIES[sev]},
                "hostname": host,
                "appname": program,
            }
        proc: dict[str, Any] = {"name": program}
        if pid:
            if pid.isdigit():
                proc["pid"] = int(pid)
            sl["procid"] = pid
        msg = line[m.end() :]
        ev: Event = {
            "event": event,
            "log": {"syslog": sl},
            "@timestamp": ts,
            "host": {"hostname": host, "name": host},
            "process": proc,
            "message": msg,
        }
        self.apps.dispatch(ev, program, msg)
        return ev

    def general(self, line: str) -> Event:
        """Every shape (the reference the fast path agrees with)."""
        ev: Event = {"event": {"original": line, "kind": "event", "dataset": "syslog"}, "log": {}}
        s = line
        if s.startswith("<"):
            end = s.find(">", 1, 5)
            if end > 1 and s[1:end].isdigit():
                pri = int(s[1:end])
                if pri < 192:
                    _pri(ev, pri)
                s = s[end + 1 :]
                if _VERSION.match(s):
                    return self._rfc5424(ev, s, line)
        return self._rfc3164(ev, s, line)

    # ------------------------------------------------------------------ RFC 5424

    def _rfc5424(self, ev: Event, s: str, line: str) -> Event:
        parts = s.split(" ", 6)
        if len(parts) < 7:
            if len(parts) == 6:
                parts.append("-")
            else:
                return self._rfc3164(ev, s, line)
        ver, ts, host, app, procid, msgid, rest = parts
        sl: dict[str, Any] = ev["log"].setdefault("syslog", {})
        sl["version"] = ver
        if ts != "-":
            t = self.tp.isoish(ts)
            if t:
                ev["@timestamp"] = t
        if host != "-":
            sl["hostname"] = host
            ev["host"] = {"hostname": host, "name": host}
        if app != "-":
            sl["appname"] = app
            ev["process"] = {"name": app}
        if procid != "-":
            sl["procid"] = procid
            if procid.isdigit():
                ev.setdefault("process", {})["pid"] = int(procid)
        if msgid != "-":
            sl["msgid"] = msgid
        sd, msg, err = parse_structured_data(rest)
        if sd:
            sl["structured_data"] = sd
        if msg.startswith("\ufeff"):
            msg = msg[1:]
        ev["message"] = msg
        if err:
            mark_failure(ev, err)
        if "@timestamp" not in ev and ts != "-":
            mark_failure(ev, f"bad RFC 5424 timestamp {ts[:40]!r}")
        self.apps.dispatch(ev, app if app != "-" else "", msg)
        return ev

    # ------------------------------------------------------------------ RFC 3164 and kin

    def _rfc3164(self, ev: Event, s: str, line: str) -> Event:
        tp = self.tp
        ts: str | None = None
        m = None
        if len(s) > 16 and s[3] == " " and s[9] == ":" and s[15] == " " and s[12] == ":":
            ts = tp.bsd(s[:15])  # fast path: "Mmm dd HH:MM:SS "
            if ts is not None:
                s = s[16:]
        if ts is not None:
            pass
        elif m := _BSD_TS.match(s):
            if m.group(4):
                ts = tp.ctime(f"Mon {m.group(1)} {m.group(2)} {m.group(3)} {m.group(4)}")
            else:
                ts = tp.bsd(f"{m.group(1)} {m.group(2)} {m.group(3)}")
            s = s[m.end() :]
        elif s[:4].isdigit() and (m := _ISO_TS.match(s)):
            ts = tp.isoish(m.group(1))
            s = s[m.end() :]
        elif (m := _CTIME_TS.match(s)) is not None:
            ts = tp.ctime(m.group(1))
            s = s[m.end() :]
        elif (m := _BRACKET_TS.match(s)) is not None:
            ts = tp.isoish(m.group(1))
            s = s[m.end() :]
        if ts:
            ev["@timestamp"] = ts
        # BSD syslogd -v / -vv: "<4.3>" or "<auth.info>" after the timestamp
        if s.startswith("<"):
            end = s.find("> ", 1, 24)
            if end > 0:
                tag = s[1:end]
                a, _, b = tag.partition(".")
                if a.isdigit() and b.isdigit():
                    _pri(ev, int(a) * 8 + int(b))
                elif a in _FAC_CODE and b in _SEV_CODE:
                    _pri(ev, _FAC_CODE[a] * 8 + _SEV_CODE[b])
                s = s[end + 2 :]
        host = program = pid = None
        msg = s
        if s.startswith("[") and (m := _BRACKET_TAG.match(s)) is not None:  # "[sshd]: msg"
            s = s[m.end() :]
            msg = s
            program = m.group(1)
        # host? then tag[pid]: ...
        m = None if program else _TAG.match(s)
        if m and (m.group(2) is not None or m.group(3)):
            program, pid = m.group(1), m.group(2)
            msg = s[m.end() :]
        elif m:
            m2 = _TAG.match(s, m.end())
            if m2 and (m2.group(2) is not None or m2.group(3)):
                host = m.group(1)
                program, pid = m2.group(1), m2.group(2)
                msg = s[m2.end() :]
            elif m2 and ts and not m.group(1).startswith(("[", "(")):
                # "host program msg" (e.g. "host proftpd[1] x" handled above; here no tag)
                host = m.group(1)
                msg = s[m.end() :]
        if host:
            ev["log"].setdefault("syslog", {})["hostname"] = host
            ev["host"] = {"hostname": host, "name": host}
        if program:
            ev["log"].setdefault("syslog", {})["appname"] = program
            proc: dict[str, Any] = {"name": program}
            if pid:
                if pid.isdigit():
                    proc["pid"] = int(pid)
                ev["log"]["syslog"]["procid"] = pid
            ev["process"] = proc
        ev["message"] = msg
        if not ev["log"]:
            del ev["log"]
        if not ts and not program:
            return failure(line, "not a syslog line (no timestamp, no program tag)", "syslog")
        self.apps.dispatch(ev, program or "", msg)
        return ev
