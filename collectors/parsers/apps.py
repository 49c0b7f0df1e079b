"""Program parsers for syslog messages: sshd, sudo, su, PAM, FTP servers (vsftpd, proftpd),
xrdp, auditd lines and iptables/ufw kernel lines.

Each sets ``event.dataset`` (``<program>`` for the program it understood), ``event.category``,
``event.type``, ``event.action``, ``event.outcome`` where meaningful, and ``user.name``,
``source.ip``/``source.port`` (or ``source.domain`` when the log names a host).

sshd often names the client only on the connection's first line; we remember the client per
(host, pid) for a while so that later lines of the same connection get ``source.*`` too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from socmon.collectors.event import set_endpoint, set_user
from socmon.pipeline import REPEAT_COUNT, Event

AUTH = ["authentication"]
NET = ["network"]

_Rule = tuple[re.Pattern[str], str, str | None]


def _r(p: str) -> re.Pattern[str]:
    return re.compile(p)


_H = r"(?P<host>[^\s\[\]]+?)(?=\s|$|: )"
_P = r"(?: port (?P<port>\d+))?"
_IP = (
    r"(?P<host>(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*[0-9a-fA-F]"
    r"|[\w.-]+\.[a-zA-Z]{2,})"
)

# (pattern, event.action, event.outcome); first match wins. Order matters.
SSHD_RULES: list[_Rule] = [
    (
        _r(rf"^Accepted (?P<method>\S+) for (?P<user>.+?) from {_H}{_P}(?: |$)"),
        "logged-in",
        "success",
    ),
    (
        _r(
            rf"^Failed (?P<method>\S+) for (?:(?:invalid|illegal) user )?(?P<user>.*?) from "
            rf"{_IP}{_P}(?: ssh\d)?(?:: .*)?\s*(?:\[preauth\])?\s*$"
        ),
        "login-failed",
        "failure",
    ),
    (
        _r(
            rf"^(?:error: )?PAM: [Aa]uthentication (?:failure|error) for (?:illegal user )?"
            rf"(?P<user>\S*) from {_H}(?: |$)"
        ),
        "login-failed",
        "failure",
    ),
    (
        _r(
            rf"^(?:error: )?PAM: User not known to the underlying authentication module for "
            rf"(?:illegal user )?(?P<user>\S*) from {_H}"
        ),
        "login-failed",
        "failure",
    ),
    (
        _r(rf"^(?:fatal: )?Timeout before authentication for (?:connection from )?{_H}{_P}"),
        "auth-timeout",
        "failure",
    ),
    (
        _r(rf"^(?:banner exchange|ssh_dispatch_run_fatal): Connection from {_H}{_P}: "),
        "protocol-error",
        "failure",
    ),
    (
        _r(rf"^[Ii](?:nvalid|llegal) user (?P<user>.*?) from {_H}{_P}\s*$"),
        "invalid-user",
        "failure",
    ),
    (_r(rf"^User (?P<user>\S+) from {_H} not allowed because"), "user-not-allowed", "failure"),
    (_r(rf"^ROOT LOGIN REFUSED FROM {_H}{_P}(?: |$)"), "root-login-refused", "failure"),
    (
        _r(
            rf"^(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?"
            rf"(?P<user>\S+) from {_H}{_P}"
        ),
        "max-auth-attempts",
        "failure",
    ),
    (
        _r(
            rf"^Disconnecting(?: (?:invalid|authenticating) user)? (?P<user>\S+) {_H}{_P}: "
            rf"Too many authentication failures"
        ),
        "max-auth-attempts",
        "failure",
    ),
    (
        _r(rf"^(?:error: )?Received disconnect from {_H}{_P}: ?\d+: (?P<reason>.*)$"),
        "disconnected",
        None,
    ),
    (
        _r(
            rf"^Connection (?:closed|reset) by (?:(?:authenticating|invalid) user (?P<user>.*) )?"
            rf"{_IP}{_P} \[preauth\]"
        ),
        "preauth-disconnect",
        "failure",
    ),
    (
        _r(
            rf"^Disconnected from (?:(?:authenticating|invalid) user (?P<user>.*) )?"
            rf"{_IP}{_P} \[preauth\]"
        ),
        "preauth-disconnect",
        "failure",
    ),
    (
        _r(rf"^(?:error: )?Did not receive identification string from {_H}{_P}\s*$"),
        "no-identification",
        "failure",
    ),
    (_r(rf"^Bad protocol version identification .* from {_H}{_P}\s*$"), "bad-protocol", "failure"),
    (_r(rf"^(?:fatal: )?Unable to negotiate with {_H}{_P}:"), "negotiation-failed", "failure"),
    (_r(r"refused connect from \S+ \((?P<host>[^)\s]+)\)"), "connection-refused", "failure"),
    (_r(rf"^Connection from {_H}{_P}(?: on |$)"), "connected", None),
    (_r(rf"^Connection (?:closed|reset) by {_H}{_P}\s*$"), "disconnected", None),
    (
        _r(rf"^Address {_H} maps to \S+, but this does not map back to the address"),
        "reverse-mapping-failed",
        "failure",
    ),
    (_r(rf"^Postponed (?P<method>\S+) for (?P<user>\S+) from {_H}{_P}"), "postponed", None),
]
# The first word (up to the first space) a message must have for each rule of SSHD_RULES to
# match (every anchored rule starts with a literal word and a space), in the same order;
# None: any message. sshd() tries only the rules its message's first word allows, in order,
# so the first match is the same as trying them all.
SSHD_FIRST_WORDS: list[tuple[str, ...] | None] = [
    ("Accepted",),
    ("Failed",),
    ("error:", "PAM:"),
    ("error:", "PAM:"),
    ("fatal:", "Timeout"),
    ("banner", "ssh_dispatch_run_fatal:"),
    ("Invalid", "invalid", "Illegal", "illegal"),
    ("User",),
    ("ROOT",),
    ("error:", "maximum"),
    ("Disconnecting",),
    ("error:", "Received"),
    ("Connection",),
    ("Disconnected",),
    ("error:", "Did"),
    ("Bad",),
    ("fatal:", "Unable"),
    None,  # "refused connect from" anywhere
    ("Connection",),
    ("Connection",),
    ("Address",),
    ("Postponed",),
]
assert len(SSHD_FIRST_WORDS) == len(SSHD_RULES)
_SSHD_ANY_WORD = [r for r, w in zip(SSHD_RULES, SSHD_FIRST_WORDS, strict=True) if w is None]
_SSHD_BY_WORD = {
    word: [r for r, w in zip(SSHD_RULES, SSHD_FIRST_WORDS, strict=True) if w is None or word in w]
    for words in SSHD_FIRST_WORDS
    if words
    for word in words
}
_SSHD_RECEIVED_FAILURE = re.compile(
    r"\[preauth\]|No supported authentication|Bye Bye|com\.jcraft|Ha ha|Normal Shutdown, Thank you"
)
# Lines that name no client: the outcome is a failure, the client comes from the state.
_SSHD_NOHOST_FAILURE = re.compile(
    r"Too many authentication failures|Unable to negotiate a key exchange method"
    r"|no matching \S+ found|Read from socket failed|ssh_dispatch_run_fatal"
    r"|authentication failure|Authentication failure"
    r"|kex_exchange_identification: (?:read: Connection reset|client sent invalid)|\[preauth\]"
)
# The first line of a refused login; sshd logs the failure itself on the next line.
_SSHD_NOHOST_INFO = re.compile(
    r"not allowed because account is locked|input_userauth_request: invalid user"
)
_SSHD_USER = re.compile(r"(?:for|user) (?:invalid user |illegal user )?(?P<user>[^\s\[]+)")
_KERNEL_PREFIX = re.compile(r"^kernel: ?\[ *[\d.]+\]:? |^\[ID \d+ [\w.]+\] ")
_SSH_LTYPE = re.compile(r"^SSH: Server;Ltype: \w+;Remote: (?P<host>[^;\s]+)-(?P<port>\d+);")

_PAM_FAILURE = re.compile(
    r"(?:pam_unix\((?P<svc>[^:)]+)[^)]*\): )?authentication failure;(?P<kv>.*)$"
)
_KV = re.compile(r"(\w+)=(\S*)")
_SUDO = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<err>(?!TTY=|PWD=)[^;]*?) ; )?(?:TTY=(?P<tty>[^;]*) ; )?"
    r"PWD=(?P<pwd>[^;]*) ; "
    r"USER=(?P<target>[^;]*) ;(?: [A-Z]+=[^;]* ;)* COMMAND=(?P<cmd>.*)$"
)
_SU = re.compile(
    r"^(?:(?P<fail>FAILED su|FAILED SU)|(?:Successful su|\(to (?P<target2>\S+)\)))"
    r"(?: for (?P<target>\S+) by (?P<user>\S+))?(?: (?P<user2>\S+) on (?P<tty>\S+))?"
)
_VSFTPD_INTERNAL = re.compile(
    r'(?:\[pid \d+\] )?\[(?P<user>[^\]]*)\] (?P<what>FAIL LOGIN|OK LOGIN): Client "(?P<host>[^"]+)"'
)
_PROFTPD = re.compile(r"\((?:[^\[\s]*)\[(?P<host>[^\]]+)\]\)(?: -|:) ?(?P<msg>.*)$")
_PROFTPD_FAIL = re.compile(
    r"Login failed|no such user|SECURITY VIOLATION|Maximum login attempts|Incorrect password"
)
_PROFTPD_USER = re.compile(r"USER (?P<user>[^\s:]+)|(?P<root>[Rr]oot) login")
# The user name is the client's to choose (it may contain "ip=..."): the address is the
# last "ip=X time=N" at the end of the line.
_XRDP = re.compile(r"AUTHFAIL: user=(?P<user>.*) ip=(?P<host>\S+) time=-?\d+\s*$")
# rsyslog action.c: "message repeated %d times: [%.800s]" (the message keeps its leading space)
_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*)\]\s*$", re.S)
_NETFILTER = re.compile(r"(?:^|\s)(?:IN=|SRC=)")
_NF_KV = re.compile(r"([A-Z]+)=(\S*)")
_UFW = re.compile(r"\[UFW (?P<action>[A-Z ]+)\]")
_AUDIT = re.compile(
    r"type=(?P<type>\S+) msg=audit\((?P<ts>[\d.]+):(?P<serial>\d+)\): ?(?P<body>.*)$"
)
_AUDIT_KV = re.compile(r"""(\w+)=("[^"]*"|'[^']*'|\S+)""")


def _auth(ev: Event, action: str, outcome: str | None, dataset: str) -> None:
    e = ev["event"]
    e["dataset"] = dataset
    e["category"] = AUTH
    e["action"] = action
    if outcome is not None:
        e["outcome"] = outcome
        e["type"] = ["start"]
    else:
        e["type"] = ["info"]


class AppParsers:
    """Dispatch a syslog message to its program's parser; unknown programs stay plain syslog."""

    def __init__(self) -> None:
        self._ssh_clients: OrderedDict[tuple[str, Any], tuple[str, str | None]] = OrderedDict()
        self._by_program: dict[str, Callable[[Event, str], None]] = {
            "sshd": self.sshd,
            "sshd-session": self.sshd,
            "sudo": self.sudo,
            "su": self.su,
            "vsftpd": self.vsftpd,
            "proftpd": self.proftpd,
            "xrdp-sesman": self.xrdp,
            "xrdp": self.xrdp,
            "kernel": self.kernel,
            "audit": self.audit,
            "auditd": self.audit,
            "audispd": self.audit,
        }

    def dispatch(self, ev: Event, program: str, msg: str) -> None:
        if msg.startswith("message repeated ") and (m := _REPEATED.match(msg)) is not None:
            # rsyslog's repeat compression: the inner message is the event, N its count
            msg = ev["message"] = m.group(2)
            ev.setdefault("socmon", {})[REPEAT_COUNT] = int(m.group(1))
        fn = self._by_program.get(program)
        if fn is None and program:
            base = program.split("(", 1)[0].split("/", 1)[0]
            fn = self._by_program.get(base)
        if fn is not None:
            fn(ev, msg)
            return
        # Programs we do not know: recognise content (PAM, netfilter, vsftpd/xrdp own logs).
        if "authentication failure" in msg:
            self.pam(ev, msg)
        elif "AUTHFAIL:" in msg:
            self.xrdp(ev, msg)
        elif "FAIL LOGIN:" in msg or "OK LOGIN:" in msg:
            self.vsftpd(ev, msg)
        elif "msg=audit(" in msg:
            self.audit(ev, msg)
        elif "SRC=" in msg and _NETFILTER.search(msg):
            self.kernel(ev, msg)

    # ------------------------------------------------------------------ sshd

    def _ssh_key(self, ev: Event) -> tuple[str, Any] | None:
        pid = ev.get("process", {}).get("pid")
        if pid is None:
            return None
        return (ev.get("host", {}).get("name", ""), pid)

    def sshd(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "sshd"
        if msg[:1] in ("k", "["):
            m0 = _KERNEL_PREFIX.match(msg)
            if m0:
                msg = msg[m0.end() :]
        sp = msg.find(" ")
        rules = _SSHD_BY_WORD.get(msg[:sp] if sp >= 0 else msg, _SSHD_ANY_WORD)
        for rx, action, outcome in rules:
            m = rx.search(msg)
            if m is None:
                continue
            g = m.groupdict()
            if (
                action == "disconnected"
                and g.get("reason") is not None
                and _SSHD_RECEIVED_FAILURE.search(msg)
            ):
                outcome = "failure"
                action = "preauth-disconnect"
            _auth(ev, action, outcome, "sshd")
            host = g.get("host")
            if host:
                set_endpoint(ev, "source", host, g.get("port"))
                key = self._ssh_key(ev)
                if key is not None:
                    self._remember(key, host, g.get("port"))
            user = g.get("user")
            if user:
                set_user(ev, user)
            method = g.get("method")
            if method:
                ev["event"]["reason"] = method
            return
        m = _SSH_LTYPE.match(msg)
        if m:
            _auth(ev, "session-info", None, "sshd")
            set_endpoint(ev, "source", m.group("host"), m.group("port"))
            key = self._ssh_key(ev)
            if key is not None:
                self._remember(key, m.group("host"), m.group("port"))
            return
        if _SSHD_NOHOST_INFO.search(msg):
            _auth(ev, "login-refused", None, "sshd")
            mu = _SSHD_USER.search(msg)
            if mu:
                set_user(ev, mu.group("user"))
        elif _SSHD_NOHOST_FAILURE.search(msg):
            _auth(ev, "auth-failure", "failure", "sshd")
            if "authentication failure;" in msg:
                self._pam_fields(ev, msg)
            mu = _SSHD_USER.search(msg)
            if mu and "user" not in ev:
                set_user(ev, mu.group("user"))
        elif msg.startswith("pam_unix(") and "session opened" in msg:
            _auth(ev, "session-opened", "success", "sshd")
        if "source" not in ev:
            key = self._ssh_key(ev)
            if key is not None and key in self._ssh_clients:
                host, port = self._ssh_clients[key]
                set_endpoint(ev, "source", host, port)

    def _remember(self, key: tuple[str, Any], host: str, port: str | None) -> None:
        self._ssh_clients[key] = (host, port)
        self._ssh_clients.move_to_end(key)
        if len(self._ssh_clients) > 10_000:
            self._ssh_clients.popitem(last=False)

    # ------------------------------------------------------------------ PAM, sudo, su

    def _pam_fields(self, ev: Event, msg: str) -> None:
        m = _PAM_FAILURE.search(msg)
        if not m:
            return
        kv = dict(_KV.findall(m.group("kv")))
        rhost = kv.get("rhost")
        if rhost:
            set_endpoint(ev, "source", rhost)
        user = kv.get("user") or kv.get("ruser")
        if user:
            set_user(ev, user)
        if m.group("svc"):
            ev.setdefault("service", {})["name"] = m.group("svc")

    def pam(self, ev: Event, msg: str) -> None:
        _auth(ev, "auth-failure", "failure", "pam")
        self._pam_fields(ev, msg)

    def sudo(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "sudo"
        if "authentication failure" in msg:
            self.pam(ev, msg)
            ev["event"]["dataset"] = "sudo"
            return
        m = _SUDO.match(msg)
        if not m:
            return
        err = m.group("err")
        e = ev["event"]
        e["category"] = ["process"] if not err else AUTH
        e["type"] = ["start"] if not err else ["info"]
        e["action"] = "sudo-command" if not err else "sudo-refused"
        e["outcome"] = "failure" if err else "success"
        if err:
            e["reason"] = err.strip()
        set_user(ev, m.group("user"))
        ev["user"]["effective"] = {"name": m.group("target")}
        ev.setdefault("process", {})["command_line"] = m.group("cmd")
        ev["process"]["working_directory"] = m.group("pwd")

    def su(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "su"
        if "authentication failure" in msg:
            self.pam(ev, msg)
            ev["event"]["dataset"] = "su"
            return
        m = _SU.match(msg)
        if not m:
            return
        failed = bool(m.group("fail"))
        _auth(ev, "su", "failure" if failed else "success", "su")
        user = m.group("user") or m.group("user2")
        if user:
            set_user(ev, user)
            target = m.group("target") or m.group("target2")
            if target:
                ev["user"]["target"] = {"name": target}

    # ------------------------------------------------------------------ FTP, RDP

    def vsftpd(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "vsftpd"
        if "authentication failure" in msg:
            self.pam(ev, msg)
            ev["event"]["dataset"] = "vsftpd"
            return
        m = _VSFTPD_INTERNAL.search(msg)
        if m:
            ok = m.group("what") == "OK LOGIN"
            _auth(ev, "login", "success" if ok else "failure", "vsftpd")
            set_endpoint(ev, "source", m.group("host"))
            if m.group("user"):
                set_user(ev, m.group("user"))

    def proftpd(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "proftpd"
        m = _PROFTPD.search(msg)
        if not m:
            return
        body = m.group("msg")
        if _PROFTPD_FAIL.search(body):
            _auth(ev, "login-failed", "failure", "proftpd")
        else:
            _auth(ev, "info", None, "proftpd")
        set_endpoint(ev, "source", m.group("host"))
        mu = _PROFTPD_USER.search(body)
        if mu:
            set_user(ev, mu.group("user") or mu.group("root"))

    def xrdp(self, ev: Event, msg: str) -> None:
        ev["event"]["dataset"] = "xrdp"
        m = _XRDP.search(msg)
        if m:
            _auth(ev, "login-failed", "failure", "xrdp")
            set_endpoint(ev, "source", m.group("host"))
            set_user(ev, m.group("user"))
        elif "AUTHFAIL" in msg or "login failed" in msg:
            ev["event"]["category"] = AUTH
            ev["event"]["type"] = ["info"]

    # ------------------------------------------------------------------ kernel, audit

    def kernel(self, ev: Event, msg: str) -> None:
        if "SRC=" not in msg or not _NETFILTER.search(msg):
            if "audit(" in msg:
                self.audit(ev, msg)
            return
        kv = dict(_NF_KV.findall(msg))
        e = ev["event"]
        e["dataset"] = "iptables"
        e["category"] = NET
        e["type"] = ["connection"]
        mu = _UFW.search(msg)
        action = mu.group("action").strip().lower() if mu else None
        if mu:
            e["dataset"] = "ufw"
        if action is None:
            low = msg.lower()
            action = next(
                (a for a in ("drop", "reject", "block", "accept", "allow") if a in low), None
            )
        if action:
            e["action"] = action
            if action in ("block", "drop", "reject", "deny", "audit invalid"):
                e["type"] = ["connection", "denied"]
                e["outcome"] = "failure"
            elif action in ("allow", "accept"):
                e["type"] = ["connection", "allowed"]
                e["outcome"] = "success"
        if kv.get("SRC"):
            set_endpoint(ev, "source", kv["SRC"], kv.get("SPT") or None)
        if kv.get("DST"):
            set_endpoint(ev, "destination", kv["DST"], kv.get("DPT") or None)
        proto = kv.get("PROTO")
        if proto:
            ev["network"] = {"transport": proto.lower()}
        obs: dict[str, Any] = {}
        if kv.get("IN"):
            obs["ingress"] = {"interface": {"name": kv["IN"]}}
        if kv.get("OUT"):
            obs["egress"] = {"interface": {"name": kv["OUT"]}}
        if obs:
            ev["observer"] = obs

    def audit(self, ev: Event, msg: str) -> None:
        parse_audit(ev, msg)


def parse_audit(ev: Event, msg: str) -> bool:
    """An auditd record (``type=X msg=audit(ts:serial): k=v ...``) into ``auditd.*``."""
    m = _AUDIT.search(msg)
    if not m:
        return False
    e = ev["event"]
    e["dataset"] = "auditd"
    rtype = m.group("type")
    data: dict[str, str] = {}
    for k, v in _AUDIT_KV.findall(m.group("body")):
        if v[:1] in "\"'":
            v = v[1:-1]
        data[k] = v
    # USER_* records carry a second msg='...' with the PAM/daemon fields.
    inner = data.pop("msg", None)
    if inner:
        for k, v in _AUDIT_KV.findall(inner):
            data.setdefault(k, v.strip("\"'"))
    e["action"] = rtype.lower()
    ev["auditd"] = {"log": {"record_type": rtype, "sequence": int(m.group("serial"))}, "data": data}
    res = data.get("res") or data.get("success")
    if res:
        e["outcome"] = "success" if res in ("success", "yes", "1") else "failure"
    if rtype.startswith(("USER_", "CRED_", "LOGIN", "USER_AUTH")):
        e["category"] = AUTH
        e["type"] = ["info"]
    elif rtype in ("EXECVE", "SYSCALL"):
        e["category"] = ["process"]
        e["type"] = ["info"]
    for field in ("acct", "user"):
        name = data.get(field)
        if name and name not in ("?", "(unknown)", "(invalid user)"):
            set_user(ev, name)
            break
    addr = data.get("addr") or data.get("hostname")
    if addr and addr not in ("?", "(none)"):
        set_endpoint(ev, "source", addr)
    exe = data.get("exe")
    if exe:
        ev.setdefault("process", {})["executable"] = exe
    pid = data.get("pid")
    if pid and pid.isdigit():
        ev.setdefault("process", {})["pid"] = int(pid)
    return True
