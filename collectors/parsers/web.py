"""Web server logs to ECS: access logs (combined, common, with a leading virtual host, and a
configurable format in nginx ``$variable`` or Apache ``%x`` notation) and error logs (Apache
2.2/2.4, nginx).

``event.outcome`` of an access line is ``failure`` for HTTP status >= 400, else ``success``;
of an error-log line ``failure`` for levels error and worse when a client is named.
"""

from __future__ import annotations

import re

from socmon.collectors.event import clean_ip, failure, set_endpoint, set_user
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

_Q = r'"(?P<{}>(?:[^"\\]|\\.)*)"'
COMBINED = re.compile(
    r"^(?:(?P<vhost>[^\s\[\"]+) (?=[\d.:a-fA-F]+ \S+ \S+ \[))?(?P<client>\S+) (?P<ident>\S+) "
    r"(?P<user>\S+)(?: \S+)? \[(?P<ts>[^\]]+)\](?: (?P<vhost2>[^\s\"]+))? "
    + _Q.format("request")
    + r" (?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    r"(?: " + _Q.format("referrer") + r" " + _Q.format("agent") + r")?"
)
_APACHE_ERROR = re.compile(
    r"^(?:\[(?P<ts>[A-Z][a-z]{2} [^\]]+)\] )?\[(?:(?P<module>[^:\]]*):)?(?P<level>[^\]]+)\]"
    r"(?: \[pid (?P<pid>\d+)(?::tid \d+)?\])?(?: \[(?:client|remote) (?P<client>[^\]]+)\])?"
    r"(?: \[client [^\]]+\])? ?(?P<msg>.*)$"
)
_NGINX_ERROR = re.compile(
    r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): "
    r"(?:\*(?P<cid>\d+) )?(?P<msg>.*)$"
)
_NGINX_CLIENT = re.compile(r", client: (?P<client>[^,\s]+)")
_NGINX_REQUEST = re.compile(r', request: "(?P<request>(?:[^"\\]|\\.)*)"')
_NGINX_USER = re.compile(r'user "(?P<user>[^"]*)"')
_APACHE_USER = re.compile(r"\buser (?P<user>\S+?):? (?:not found|authentication failure)")
_BAD_LEVELS = {"error", "crit", "alert", "emerg"}
_NGINX_FAILURE = re.compile(
    r"limiting requests|delaying request|password mismatch|was not found in|not authenticated"
    r"|access forbidden"
)
# "Feb 15 16:23:00 srv httpd[22034]: " or "host nginx[2833]: [host nginx: ]" before the record
_SYSLOG_PREFIX = re.compile(
    r"^(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d )?\S+ [\w./-]+(?:\[\d+\])?: "
    r"(?:\S+ [\w./-]+(?:\[\d+\])?: )?"
)


def _request(ev: Event, req: str) -> None:
    parts = req.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        method, target, proto = parts
        ev["http"]["request"] = {"method": method}
        ev["http"]["version"] = proto[5:]
        path, sep, query = target.partition("?")
        url = {"original": target, "path": path}
        if sep:
            url["query"] = query
        ev["url"] = url
    elif req:
        ev["url"] = {"original": req}
        if len(parts) >= 2 and parts[0].isalpha() and parts[0].isupper():
            ev["http"]["request"] = {"method": parts[0]}


def _client(value: str) -> tuple[str, str | None]:
    v = value.strip()
    if clean_ip(v) is not None:
        return v, None
    host, _, port = v.rpartition(":")
    if port.isdigit() and host:
        return host.strip("[]"), port
    return v, None


class AccessParser:
    """Combined/common access log lines (nginx and Apache write the same shape)."""

    def __init__(
        self,
        tp: TimeParser | None = None,
        dataset: str = "access",
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.tp = tp or TimeParser()
        self.dataset = dataset
        self.rx = pattern or COMBINED

    def __call__(self, line: str) -> Event:
        m = self.rx.match(line)
        if m is None:
            return failure(line, "not an access log line", self.dataset)
        g = m.groupdict()
        ev: Event = {
            "event": {
                "original": line,
                "kind": "event",
                "dataset": self.dataset,
                "category": ["web"],
                "type": ["access"],
            },
            "http": {},
        }
        ts = g.get("ts")
        if ts:
            t = self.tp.clf(ts) or self.tp.isoish(ts)
            if t:
                ev["@timestamp"] = t
        client = g.get("client")
        if client and client != "-":
            set_endpoint(ev, "source", client)
        user = g.get("user")
        if user and user != "-":
            set_user(ev, user)
        req = g.get("request")
        if req is not None:
            _request(ev, req)
        status = g.get("status")
        if status and status != "-":
            code = int(status)
            ev["http"]["response"] = {"status_code": code}
            ev["event"]["outcome"] = "failure" if code >= 400 else "success"
        nbytes = g.get("bytes")
        if nbytes and nbytes != "-" and nbytes.isdigit():
            ev["http"].setdefault("response", {})["body"] = {"bytes": int(nbytes)}
        ref = g.get("referrer")
        if ref and ref != "-":
            ev["http"].setdefault("request", {})["referrer"] = ref
        agent = g.get("agent")
        if agent and agent != "-":
            ev["user_agent"] = {"original": agent}
        vhost = g.get("vhost") or g.get("vhost2")
        if vhost and vhost != "-":
            ev.setdefault("url", {})["domain"] = vhost
        if "@timestamp" not in ev and ts:
            ev["error"] = {"message": f"bad timestamp {ts[:40]!r}", "type": "parse"}
            ev["tags"] = ["_parse_failure"]
        return ev


class WebParser:
    """Access and error logs of one server kind (``nginx`` or ``apache``): one file may hold
    both (fail2ban's test logs do)."""

    def __init__(
        self, kind: str, tp: TimeParser | None = None, log_format: str | None = None
    ) -> None:
        self.kind = kind
        self.tp = tp or TimeParser()
        pattern = compile_log_format(log_format) if log_format else None
        self.access = AccessParser(self.tp, f"{kind}.access", pattern)

    def __call__(self, line: str) -> Event:
        ev = self._error(line, line)
        if ev is not None:
            return ev
        ev = self.access(line)
        if "_parse_failure" in ev.get("tags", ()):
            m = _SYSLOG_PREFIX.match(line)
            if m:  # an error log forwarded through syslog
                inner = self._error(line[m.end() :], line)
                if inner is not None:
                    if m.group("ts") and "@timestamp" not in inner:
                        t = self.tp.bsd(m.group("ts").strip())
                        if t:
                            inner["@timestamp"] = t
                    return inner
        return ev

    def _error(self, rec: str, line: str) -> Event | None:
        c = rec[:1]
        if c == "[":
            return self._apache_error(rec, line)
        if c.isdigit() and rec[4:5] == "/":
            return self._nginx_error(rec, line)
        return None

    def _error_event(self, line: str, dataset: str, level: str, msg: str) -> Event:
        ev: Event = {
            "event": {
                "original": line,
                "kind": "event",
                "dataset": dataset,
                "category": ["web"],
                "type": ["error"],
            },
            "log": {"level": level},
            "message": msg,
        }
        return ev

    def _apache_error(self, rec: str, line: str) -> Event | None:
        m = _APACHE_ERROR.match(rec)
        if m is None:
            return None
        level = m.group("level").strip()
        ev = self._error_event(line, "apache.error", level, m.group("msg"))
        t = self.tp.ctime(m.group("ts")) if m.group("ts") else None
        if t:
            ev["@timestamp"] = t
        if m.group("module"):
            ev["log"]["logger"] = m.group("module")
        if m.group("pid"):
            ev["process"] = {"pid": int(m.group("pid"))}
        client = m.group("client")
        if client:
            host, port = _client(client)
            set_endpoint(ev, "source", host, port)
            if level in _BAD_LEVELS or "File does not exist" in m.group("msg"):
                ev["event"]["outcome"] = "failure"
        mu = _APACHE_USER.search(m.group("msg"))
        if mu:
            set_user(ev, mu.group("user"))
            ev["event"]["category"] = ["web", "authentication"]
        return ev

    def _nginx_error(self, rec: str, line: str) -> Event | None:
        m = _NGINX_ERROR.match(rec)
        if m is None:
            return None
        level = m.group("level")
        msg = m.group("msg")
        ev = self._error_event(line, "nginx.error", level, msg)
        t = self.tp.isoish(m.group("ts"))
        if t:
            ev["@timestamp"] = t
        ev["process"] = {"pid": int(m.group("pid")), "thread": {"id": int(m.group("tid"))}}
        # The user name is the client's to choose: the real ", client: " is the last one.
        clients = _NGINX_CLIENT.findall(msg)
        if clients:
            host, port = _client(clients[-1])
            set_endpoint(ev, "source", host, port)
            if level in _BAD_LEVELS or _NGINX_FAILURE.search(msg):
                ev["event"]["outcome"] = "failure"
        mr = _NGINX_REQUEST.search(msg)
        if mr:
            ev["http"] = {}
            _request(ev, mr.group("request"))
        mu = _NGINX_USER.search(msg)
        if mu:
            set_user(ev, mu.group("user"))
            ev["event"]["category"] = ["web", "authentication"]
        return ev


# ---------------------------------------------------------------------- configurable formats

# variable -> (group name, regex)
_VARS: dict[str, tuple[str, str]] = {
    "remote_addr": ("client", r"\S+"),
    "%h": ("client", r"\S+"),
    "%a": ("client", r"\S+"),
    "remote_user": ("user", r"\S+"),
    "%u": ("user", r"\S+"),
    "%l": ("ident", r"\S+"),
    "time_local": ("ts", r"[^\]]+"),
    "%t": ("ts", r"\[[^\]]+\]"),
    "time_iso8601": ("ts", r"\S+"),
    "request": ("request", r'(?:[^"\\]|\\.)*'),
    "%r": ("request", r'(?:[^"\\]|\\.)*'),
    "status": ("status", r"\d{3}|-"),
    "%>s": ("status", r"\d{3}|-"),
    "%s": ("status", r"\d{3}|-"),
    "body_bytes_sent": ("bytes", r"\d+|-"),
    "bytes_sent": ("bytes", r"\d+|-"),
    "%b": ("bytes", r"\d+|-"),
    "%B": ("bytes", r"\d+"),
    "http_referer": ("referrer", r'(?:[^"\\]|\\.)*'),
    "%{Referer}i": ("referrer", r'(?:[^"\\]|\\.)*'),
    "http_user_agent": ("agent", r'(?:[^"\\]|\\.)*'),
    "%{User-agent}i": ("agent", r'(?:[^"\\]|\\.)*'),
    "%{User-Agent}i": ("agent", r'(?:[^"\\]|\\.)*'),
    "host": ("vhost", r"\S+"),
    "%v": ("vhost", r"\S+"),
    "server_name": ("vhost", r"\S+"),
}
_TOKEN = re.compile(r"\$([a-z_0-9]+)|(%(?:\{[^}]+\})?[<>]?[a-zA-Z])")


def compile_log_format(fmt: str) -> re.Pattern[str]:
    """An nginx ``log_format`` or Apache ``LogFormat`` string -> a regex with the group names
    AccessParser understands. Unknown variables match one token (or a quoted string)."""
    out = ["^"]
    pos = 0
    used: set[str] = set()
    n = 0
    for m in _TOKEN.finditer(fmt):
        out.append(re.escape(fmt[pos : m.start()]).replace('\\"', '"'))
        key = m.group(1) or m.group(2)
        name, rx = _VARS.get(key, ("", ""))
        quoted = m.start() > 0 and fmt[m.start() - 1] == '"'
        if not rx:
            rx = r'(?:[^"\\]|\\.)*' if quoted else r"\S+"
        if key == "%t":
            rx = r"[^\]]+"
            out.append(r"\[")
        if name and name not in used:
            used.add(name)
            out.append(f"(?P<{name}>{rx})")
        else:
            n += 1
            out.append(f"(?:{rx})")
        if key == "%t":
            out.append(r"\]")
        pos = m.end()
    out.append(re.escape(fmt[pos:]).replace('\\"', '"'))
    return re.compile("".join(out))
