"""Application layer of flows: which parser a flow's payload goes to (DNS over UDP for every
datagram; for TCP, decided on the first payload bytes: FTP/POP3/IMAP logins, DNS over TCP,
HTTP, TLS), and the ECS events the parsers produce (``network.dns``/``http``/``tls``,
cleartext credentials), with DNS answers paired to their queries for the round-trip time."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from typing import Any

from socmon.collectors.network.apps import (
    DnsTcpInspector,
    HttpInspector,
    Inspector,
    LoginInspector,
    TlsInspector,
)
from socmon.collectors.network.detections import ThresholdDetections
from socmon.collectors.network.dhcp import PORTS as DHCP_PORTS
from socmon.collectors.network.dhcp import offered_router
from socmon.collectors.network.dns import DnsError, parse_dns
from socmon.collectors.network.ecs import TRANSPORTS, EventFactory, endpoints, ip_str, iso
from socmon.collectors.network.flows import Flow
from socmon.collectors.network.http import looks_like_request, looks_like_response
from socmon.collectors.network.ssh import HOW as SSH_HOW
from socmon.collectors.network.ssh import SshInspector
from socmon.settings.network import NetworkSettings

MAX_DNS_QUERIES = 65_536  # DNS queries waiting for an answer, at most
DNS_PORTS = (53, 5353, 5355)
LOGIN_PORTS = {21: "ftp", 110: "pop3", 143: "imap"}
DNS_UDP = "dns-udp"  # Flow.app sentinel: stateless DNS parsing of every datagram
DHCP = "dhcp"  # Flow.app sentinel: DHCP datagrams, read for the router they hand out
PROBE = "probe"  # Flow.app sentinel: a TCP flow whose application is not known yet

Out = list[tuple[str, dict[str, Any]]]
Emit = Callable[[str, float, int, bool, dict[str, Any]], None]


class AppEvents:
    def __init__(
        self,
        settings: NetworkSettings,
        factory: EventFactory,
        out: Out,
        bad: Callable[[str, str], None],
        detections: ThresholdDetections,
        dhcp_router: Callable[[str, float], None] | None = None,
    ) -> None:
        self.s = settings
        self.dhcp_router = dhcp_router
        self.factory = factory
        self.out = out
        self.bad = bad
        self.detections = detections
        # DNS queries waiting for their answer: (community id, DNS id) -> query time; an answer
        # gets event.start/end/duration (the round-trip time). Bounded: oldest dropped first.
        self._dns_queries: dict[tuple[str, str], float] = {}

    @staticmethod
    def first_app(proto: int, sp: int, dp: int) -> str | None:
        """What a new flow's payload goes to until more is known."""
        if proto == 6:
            return PROBE
        if proto == 17 and (sp in DNS_PORTS or dp in DNS_PORTS):
            return DNS_UDP
        if proto == 17 and sp in DHCP_PORTS and dp in DHCP_PORTS:
            return DHCP
        return None

    def inspect(self, f: Flow, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        """One payload of flow ``f`` (``f.app`` is not None)."""
        app = f.app
        if app is DNS_UDP:
            self._dns(f, is_orig, payload, ts, pkt_no)
            return
        if app is DHCP:
            router = offered_router(payload)
            if router is not None and self.dhcp_router is not None:
                self.dhcp_router(router, ts)
            return
        if app is PROBE:
            _, rport = f.resp()
            limit = self.s.max_payload_inspect
            if payload[:4] == b"SSH-":  # either side's identification line, any port
                app = SshInspector(self._emitter(f))
            elif rport in LOGIN_PORTS:
                app = LoginInspector(self._emitter(f), LOGIN_PORTS[rport])
            elif rport in DNS_PORTS:
                app = DnsTcpInspector(self._emitter(f), self.bad)
            elif is_orig and looks_like_request(payload):
                app = HttpInspector(self._emitter(f), limit)
            elif is_orig and len(payload) > 5 and payload[0] == 22 and payload[1] == 3:
                app = TlsInspector(self._emitter(f), self.bad, limit)
            elif not is_orig and looks_like_response(payload):
                app = HttpInspector(self._emitter(f), limit)
            elif is_orig or f.orig_packets + f.resp_packets > 8:
                f.app = None  # an application we do not parse
                return
            else:
                return  # the server spoke first (banner): decide on the client's bytes
            f.app = app
        try:
            app.feed(is_orig, payload, ts, pkt_no)
        except Exception as e:  # an inspector bug must not stop the capture
            self.bad("inspector_error", f"{type(app).__name__}: {e!r}")
            app.done = True
        if app.done:
            f.app = None  # (also breaks the flow <-> inspector cycle)

    @staticmethod
    def flow_ended(f: Flow) -> None:
        """Let the flow's parser emit what it still holds; break the flow <-> parser (emit
        closure) cycle so reference counting frees the flow."""
        app = f.app
        if app is not None:
            f.app = None
            if isinstance(app, Inspector):
                app.close(f.last, f.first_packet)

    def _emitter(self, f: Flow) -> Emit:
        def emit(kind: str, ts: float, pkt_no: int, is_orig: bool, fields: dict[str, Any]) -> None:
            self._event(f, kind, ts, pkt_no, is_orig, fields)

        return emit

    def _event(
        self, f: Flow, kind: str, ts: float, pkt_no: int, is_orig: bool, fields: dict[str, Any]
    ) -> None:
        oa, op = f.orig()
        ra, rp = f.resp()
        if is_orig:
            sa, sp, da, dp = oa, op, ra, rp
        else:
            sa, sp, da, dp = ra, rp, oa, op
        sip, dip = ip_str(sa, f.v6), ip_str(da, f.v6)
        cid = f.community_id()
        if kind == "credentials":
            who = (sip, sp, dip, dp, cid)
            self._credentials(
                ts, pkt_no, who, fields["protocol"], fields["user"], fields["outcome"]
            )
            return
        if kind == "ssh":
            self._ssh_auth(ts, pkt_no, (sip, sp, dip, dp, cid), f.v6, fields)
            return
        ev = self.factory.base(
            f"network.{kind}", ts, ["network"] + (["web"] if kind == "http" else []), ["protocol"]
        )
        endpoints(ev, sip, sp, dip, dp)
        ev["network"] = {
            "transport": TRANSPORTS.get(f.proto, str(f.proto)),
            "type": "ipv6" if f.v6 else "ipv4",
            "protocol": kind,
            "community_id": cid,
        }
        if kind == "dns":
            self._fill_dns(ev, fields, ts, sip)
        else:
            auth_scheme = fields.pop("_auth_scheme", None)
            basic_user = fields.pop("_basic_user", None)
            ev.update(fields)
            if kind == "http":
                ev.setdefault("url", {})["port"] = rp
                ev.setdefault("http", {}).setdefault("request", {})
                if auth_scheme is not None:
                    ev["http"]["request"]["authorization_scheme"] = auth_scheme
                if basic_user is not None:
                    self._credentials(ts, pkt_no, (sip, sp, dip, dp, cid), "http", basic_user, "")
                    ev["user"] = {"name": basic_user}
            elif kind == "tls" and ev["tls"]["client"].get("server_name"):
                ev["destination"]["domain"] = ev["tls"]["client"]["server_name"]
        self.out.append((self.factory.id(kind, cid, ts, pkt_no, len(self.out)), ev))

    def _credentials(
        self,
        ts: float,
        pkt_no: int,
        who: tuple[str, int, str, int, str],
        protocol: str,
        user: str,
        outcome: str,
    ) -> None:
        """``who``: source ip, port, destination ip, port, community id."""
        sip, sp, dip, dp, cid = who
        ev = self.factory.alert_base("network.cleartext_credentials", ts, "cleartext-credentials")
        ev["event"]["category"] = ["network", "authentication"]
        ev["event"]["type"] = ["info", "start"]
        if outcome:
            ev["event"]["outcome"] = outcome
        endpoints(ev, sip, sp, dip, dp)
        ev["network"] = {"transport": "tcp", "protocol": protocol, "community_id": cid}
        ev["user"] = {"name": user}
        ev["related"]["user"] = [user]
        ev["message"] = f"{protocol} credentials sent in clear text (user {user!r})"
        self.out.append((self.factory.id("credentials", cid, ts, pkt_no, len(self.out)), ev))

    def _ssh_auth(
        self,
        ts: float,
        pkt_no: int,
        who: tuple[str, int, str, int, str],
        v6: bool,
        fields: dict[str, Any],
    ) -> None:
        """One SSH authentication outcome inferred from the session's shape (``ssh.py``)."""
        sip, sp, dip, dp, cid = who
        outcome = fields["outcome"]
        ev = self.factory.base("network.ssh", ts, ["authentication", "network"], ["start"])
        ev["event"]["action"] = "ssh-login"
        ev["event"]["outcome"] = outcome
        ev["event"]["reason"] = f"inferred from {SSH_HOW}"
        endpoints(ev, sip, sp, dip, dp)
        ev["network"] = {
            "transport": "tcp",
            "type": "ipv6" if v6 else "ipv4",
            "protocol": "ssh",
            "community_id": cid,
        }
        auth = {k: fields[k] for k in ("attempt", "server_packet_bytes", "service_accept_bytes")}
        if fields["failure_bytes"]:
            auth["failure_packet_bytes"] = fields["failure_bytes"]
        auth["inferred_from"] = "packet_sizes"
        ev["ssh"] = {"auth": auth}
        if fields["client"]:
            ev["ssh"]["client"] = fields["client"]
        if fields["server"]:
            ev["ssh"]["server"] = fields["server"]
        ev["message"] = (
            f"SSH authentication {outcome} (attempt {fields['attempt']}) from {sip} to "
            f"{dip}:{dp}, inferred from the server's packet sizes"
        )
        self.out.append((self.factory.id("ssh", cid, ts, pkt_no, len(self.out)), ev))

    # ------------------------------------------------------------------ DNS
    def _dns(self, f: Flow, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        try:
            fields: dict[str, Any] = {"dns": parse_dns(payload)}
        except (DnsError, IndexError, ValueError, OSError, struct.error) as e:
            self.bad("dns_malformed", str(e))
            fields = {"_error": str(e)}
        self._event(f, "dns", ts, pkt_no, is_orig, fields)

    def _fill_dns(self, ev: dict[str, Any], fields: dict[str, Any], ts: float, sip: str) -> None:
        if "_error" in fields:
            ev["error"] = {"message": fields["_error"], "type": "parse"}
            ev["tags"] = ["_parse_failure", "dns_malformed"]
            ev["event"]["type"] = ["protocol", "error"]
            return
        dns = fields["dns"]
        ev["dns"] = dns
        self._dns_pair(ev, dns, ts)
        q = dns.get("question")
        if dns["type"] == "query" and q:
            self.detections.dns_query(q, ts, sip)

    def _dns_pair(self, ev: dict[str, Any], dns: dict[str, Any], ts: float) -> None:
        """Remember a query; give its answer (same flow, same DNS id) the round-trip time."""
        key = (ev["network"]["community_id"], dns["id"])
        pending = self._dns_queries
        if dns["type"] == "query":
            if key not in pending:  # a retransmission keeps the first query's time
                if len(pending) >= MAX_DNS_QUERIES:
                    for old in list(itertools.islice(pending, MAX_DNS_QUERIES // 10)):
                        del pending[old]
                pending[key] = ts
            return
        sent = pending.pop(key, None)
        if sent is not None and ts >= sent:
            ev["event"]["start"] = iso(sent)
            ev["event"]["end"] = iso(ts)
            ev["event"]["duration"] = round((ts - sent) * 1e9)  # ECS: nanoseconds
