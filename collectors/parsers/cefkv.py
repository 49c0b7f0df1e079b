"""CEF (ArcSight Common Event Format, with its escaping rules) and key=value logs (FortiGate
and friends) to ECS. Both may follow a syslog header, which is parsed for the time and host.

CEF escaping: in the header ``\\|`` and ``\\\\``; in extension values ``\\=``, ``\\\\``,
``\\n``, ``\\r``. Extension values may contain spaces: a value runs until the next
`` key=``.
"""

from __future__ import annotations

import re

from socmon.collectors.event import failure, mark_failure, put, set_endpoint, set_user
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

_EXT_KEY = re.compile(r"(?:^|(?<=\s))([\w.\[\]-]+)=")
_HEADER_PREFIX = re.compile(
    r"^(?:<(?P<pri>\d{1,3})>)?(?:1 )?(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2}(?: \d{4})? \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\S+)?\s*(?P<host>\S+)?\s*"
)

CEF_MAP: dict[str, str] = {
    "src": "source.ip",
    "spt": "source.port",
    "smac": "source.mac",
    "shost": "source.domain",
    "suser": "source.user.name",
    "suid": "source.user.id",
    "dst": "destination.ip",
    "dpt": "destination.port",
    "dmac": "destination.mac",
    "dhost": "destination.domain",
    "duser": "destination.user.name",
    "duid": "destination.user.id",
    "act": "event.action",
    "app": "network.protocol",
    "proto": "network.transport",
    "request": "url.original",
    "requestMethod": "http.request.method",
    "requestClientApplication": "user_agent.original",
    "msg": "message",
    "outcome": "event.outcome",
    "in": "source.bytes",
    "out": "destination.bytes",
    "fname": "file.name",
    "filePath": "file.path",
    "fsize": "file.size",
    "fileHash": "file.hash.sha256",
    "sproc": "process.name",
    "spid": "process.pid",
    "dproc": "process.name",
    "dpid": "process.pid",
    "deviceExternalId": "observer.serial_number",
    "dvchost": "observer.hostname",
    "dvc": "observer.ip",
    "deviceInboundInterface": "observer.ingress.interface.name",
    "deviceOutboundInterface": "observer.egress.interface.name",
    "sntdom": "source.user.domain",
    "dntdom": "destination.user.domain",
    "cat": "event.category_raw",
}
_INT_FIELDS = {
    "source.port",
    "destination.port",
    "source.bytes",
    "destination.bytes",
    "file.size",
    "process.pid",
}
_SEVERITY_WORDS = {"unknown": 0, "low": 2, "medium": 5, "high": 8, "very-high": 10}


def _split_header(s: str) -> list[str]:
    """Split on unescaped pipes into 7 header fields + extension, unescaping \\| and \\\\."""
    out: list[str] = []
    buf: list[str] = []
    i = 0
    n = len(s)
    while i < n and len(out) < 7:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "|\\":
            buf.append(s[i + 1])
            i += 2
            continue
        if c == "|":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if len(out) == 7:
        out.append(s[i:])
    else:
        out.append("".join(buf))
    return out


def _unescape_ext(v: str) -> str:
    if "\\" not in v:
        return v
    out: list[str] = []
    i = 0
    n = len(v)
    while i < n:
        c = v[i]
        if c == "\\" and i + 1 < n:
            nx = v[i + 1]
            out.append({"n": "\n", "r": "\r", "=": "=", "\\": "\\", "|": "|"}.get(nx, "\\" + nx))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_cef_extension(ext: str) -> dict[str, str]:
    out: dict[str, str] = {}
    keys = [m for m in _EXT_KEY.finditer(ext) if m.start() == 0 or ext[m.start() - 1] != "\\"]
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        out[m.group(1)] = _unescape_ext(ext[m.end() : end].rstrip(" "))
    return out


class CefParser:
    dataset = "cef"

    def __init__(self, tp: TimeParser | None = None) -> None:
        self.tp = tp or TimeParser()

    def __call__(self, line: str) -> Event:
        i = line.find("CEF:")
        if i < 0:
            return failure(line, "no CEF: marker", self.dataset)
        parts = _split_header(line[i + 4 :])
        if len(parts) < 8:
            return failure(line, f"CEF header has {len(parts) - 1} of 7 fields", self.dataset)
        version, vendor, product, dversion, sig, name, sev, ext = parts
        ev: Event = {
            "event": {
                "original": line,
                "kind": "event",
                "dataset": self.dataset,
                "code": sig,
                "module": "cef",
            },
            "observer": {"vendor": vendor, "product": product, "version": dversion},
            "cef": {"version": version, "name": name, "severity": sev},
            "message": name,
        }
        sevl = sev.strip().lower()
        if sevl.isdigit():
            ev["event"]["severity"] = int(sevl)
        elif sevl in _SEVERITY_WORDS:
            ev["event"]["severity"] = _SEVERITY_WORDS[sevl]
        if i > 0:
            self._prefix(ev, line[:i])
        fields = parse_cef_extension(ext)
        labels: dict[str, str] = {}
        for k, v in fields.items():
            if k.endswith("Label") and k[:-5] in fields:
                continue
            target = CEF_MAP.get(k)
            if target == "event.category_raw":
                ev["cef"]["category"] = v
            elif target is not None and v != "":
                if target.endswith(".ip") or target == "observer.ip":
                    side = target.rsplit(".", 1)[0]
                    if side in ("source", "destination"):
                        set_endpoint(ev, side, v)
                        continue
                if target in _INT_FIELDS:
                    try:
                        put(ev, target, int(v))
                    except ValueError:
                        labels[k] = v
                    continue
                put(ev, target, v)
            else:
                label = fields.get(k + "Label")
                labels[label or k] = v
        if labels:
            ev["cef"]["extensions"] = labels
        rt = fields.get("rt") or fields.get("end") or fields.get("start")
        if rt:
            ts = (
                self.tp.epoch(rt)
                if rt.isdigit()
                else (self.tp.isoish(rt) or _cef_date(self.tp, rt))
            )
            if ts:
                ev["@timestamp"] = ts
        su = (
            ev.get("source", {}).get("user", {}).get("name")
            if isinstance(ev.get("source"), dict)
            else None
        )
        if su:
            set_user(ev, su)
        outcome = fields.get("outcome", "").lower()
        if outcome in ("failure", "failed", "fail", "denied", "blocked"):
            ev["event"]["outcome"] = "failure"
        elif outcome in ("success", "succeeded", "allowed"):
            ev["event"]["outcome"] = "success"
        elif outcome:
            ev["event"]["outcome"] = "unknown"
        if ev.get("network", {}).get("transport"):
            ev["network"]["transport"] = str(ev["network"]["transport"]).lower()
        _cef_verdict(ev, fields.get("act", ""))
        if len(parts) != 8 or not version.isdigit():
            mark_failure(ev, "CEF header malformed")
        return ev

    def _prefix(self, ev: Event, prefix: str) -> None:
        m = _HEADER_PREFIX.match(prefix)
        if not m:
            return
        if m.group("ts"):
            t = (
                self.tp.bsd(m.group("ts"))
                if m.group("ts")[0].isalpha()
                else self.tp.isoish(m.group("ts"))
            )
            if t is None and m.group("ts")[0].isalpha():
                t = _cef_date(self.tp, m.group("ts"))
            if t:
                ev["@timestamp"] = t
        host = m.group("host")
        if host and host != "CEF:" and not host.startswith("CEF"):
            ev["host"] = {"name": host, "hostname": host}


def _cef_date(tp: TimeParser, s: str) -> str | None:
    """``MMM dd yyyy HH:mm:ss`` (CEF's other date form)."""
    p = s.split()
    if len(p) == 4 and p[2].isdigit():
        return tp.ctime(f"Mon {p[0]} {p[1]} {p[3]} {p[2]}")
    return None


# ---------------------------------------------------------------------- key=value

_KV_PAIR = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)')
KV_MAP: dict[str, str] = {
    "srcip": "source.ip",
    "src": "source.ip",
    "srcport": "source.port",
    "src_port": "source.port",
    "spt": "source.port",
    "dstip": "destination.ip",
    "dst": "destination.ip",
    "dstport": "destination.port",
    "dst_port": "destination.port",
    "dpt": "destination.port",
    "srcintf": "observer.ingress.interface.name",
    "dstintf": "observer.egress.interface.name",
    "action": "event.action",
    "user": "user.name",
    "srcuser": "user.name",
    "devname": "observer.name",
    "devid": "observer.serial_number",
    "level": "log.level",
    "service": "network.protocol",
    "msg": "message",
    "hostname": "url.domain",
    "url": "url.original",
    "sentbyte": "source.bytes",
    "rcvdbyte": "destination.bytes",
    "sentpkt": "source.packets",
    "rcvdpkt": "destination.packets",
    "policyid": "rule.id",
    "attack": "rule.name",
    "logid": "event.code",
    "proto": "network.iana_number",
}
_KV_INT = {
    "source.port",
    "destination.port",
    "source.bytes",
    "destination.bytes",
    "source.packets",
    "destination.packets",
}
_IANA_TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp"}
_DENY = {
    "deny",
    "denied",
    "block",
    "blocked",
    "drop",
    "dropped",
    "reject",
    "rejected",
    "failure",
    "failed",
    "fail",
}
_ALLOW = {
    "accept",
    "accepted",
    "allow",
    "allowed",
    "pass",
    "passthrough",
    "permit",
    "close",
    "success",
    "start",
    "timeout",
    "server-rst",
    "client-rst",
}


class KvParser:
    """``key=value`` logs (quoted values allowed). Known keys go to ECS, all under ``kv``."""

    dataset = "kv"

    def __init__(self, tp: TimeParser | None = None) -> None:
        self.tp = tp or TimeParser()

    def __call__(self, line: str) -> Event:
        pairs = _KV_PAIR.findall(line)
        if len(pairs) < 2:
            return failure(line, "fewer than two key=value pairs", self.dataset)
        kv: dict[str, str] = {}
        for k, v in pairs:
            if v[:1] == '"' and v[-1:] == '"' and len(v) >= 2:
                v = v[1:-1].replace('\\"', '"')
            kv[k] = v
        fortigate = "logid" in kv and "devid" in kv
        ev: Event = {
            "event": {
                "original": line,
                "kind": "event",
                "dataset": "fortinet.firewall" if fortigate else self.dataset,
            },
            "kv": kv,
        }
        if fortigate:
            ev["observer"] = {"vendor": "Fortinet", "product": "FortiGate", "type": "firewall"}
        for k, v in kv.items():
            target = KV_MAP.get(k)
            if target is None or v == "" or v == "N/A":
                continue
            if target in ("source.ip", "destination.ip"):
                set_endpoint(ev, target.split(".")[0], v)
            elif target in _KV_INT:
                if v.isdigit():
                    put(ev, target, int(v))
            elif target == "user.name":
                set_user(ev, v)
            else:
                put(ev, target, v)
        net = ev.get("network")
        if isinstance(net, dict) and net.get("iana_number") in _IANA_TRANSPORTS:
            net["transport"] = _IANA_TRANSPORTS[net["iana_number"]]  # FortiGate proto=6
        if isinstance(ev.get("network"), dict) and "protocol" in ev["network"]:
            ev["network"]["protocol"] = str(ev["network"]["protocol"]).lower()
        action = kv.get("action", "").lower()
        if action in _DENY:
            ev["event"]["outcome"] = "failure"
            ev["event"]["type"] = ["denied"]
        elif action in _ALLOW:
            ev["event"]["outcome"] = "success"
            ev["event"]["type"] = ["allowed"] if fortigate else ["info"]
        if fortigate or "srcip" in kv or "dstip" in kv:
            ev["event"]["category"] = ["network"]
            ev["event"].setdefault("type", ["connection"])
        ts: str | None = None
        if "date" in kv and "time" in kv:
            ts = self.tp.isoish(f"{kv['date']}T{kv['time']}{_tz(kv.get('tz', ''))}")
        if ts is None and kv.get("eventtime", "").isdigit():
            et = int(kv["eventtime"])
            while et > 10**13:  # nanoseconds/microseconds -> milliseconds
                et //= 1000
            ts = self.tp.epoch(et)
        if ts is None:
            for k in ("timestamp", "time", "ts"):
                if k in kv:
                    ts = self.tp.isoish(kv[k]) or (
                        self.tp.epoch(kv[k]) if kv[k].isdigit() else None
                    )
                    if ts:
                        break
        if ts is None:
            m = _HEADER_PREFIX.match(line)
            if m and m.group("ts"):
                ts = (
                    self.tp.bsd(m.group("ts"))
                    if m.group("ts")[0].isalpha()
                    else self.tp.isoish(m.group("ts"))
                )
        if ts:
            ev["@timestamp"] = ts
        return ev


def _cef_verdict(ev: Event, act: str) -> None:
    """A firewall's ``act`` (blocked, deny, drop, allow...) on a connection record: ECS
    ``event.category: network``, ``event.type`` connection + denied/allowed and the outcome
    (unless the record's own ``outcome`` said otherwise)."""
    act = act.lower()
    if act not in _DENY and act not in _ALLOW:
        return
    if not isinstance(ev.get("destination"), dict) and not isinstance(ev.get("source"), dict):
        return
    e = ev["event"]
    e["category"] = ["network"]
    e["type"] = ["connection", "denied" if act in _DENY else "allowed"]
    e.setdefault("outcome", "failure" if act in _DENY else "success")


def _tz(tz: str) -> str:
    tz = tz.strip('"')
    if len(tz) == 5 and tz[0] in "+-" and tz[1:].isdigit():
        return tz[:3] + ":" + tz[3:]
    return ""
