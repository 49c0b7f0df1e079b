"""ARP: the packets as events, the IP-to-MAC bindings seen on the wire, and the anomalies ARP
spoofing leaves (the way arpspoof and ettercap poison caches): unsolicited replies, an address
claimed by a second MAC while its holder is alive, two MACs taking turns, a MAC claiming many
addresses, and claims on the gateway's address (configured, or learned from traffic)."""

from __future__ import annotations

import itertools
import socket
import struct
from collections.abc import Callable
from typing import Any

from socmon.collectors.network.ecs import EventFactory, mac_str

OPS = {1: "request", 2: "reply", 3: "rarp_request", 4: "rarp_reply"}


def parse_arp(data: bytes, off: int) -> dict[str, Any] | None:
    """Ethernet/IPv4 ARP fields, or None when it is another hardware/protocol pair or short."""
    if len(data) < off + 28:
        return None
    _htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data, off)
    if hlen != 6 or plen != 4 or ptype != 0x0800:
        return None
    p = off + 8
    return {
        "op": op,
        "sha": data[p : p + 6],
        "spa": data[p + 6 : p + 10],
        "tha": data[p + 10 : p + 16],
        "tpa": data[p + 16 : p + 20],
    }


GATEWAY_MIN_REQUESTERS = 3  # distinct hosts asking for an address before it is the gateway
REPLY_WINDOW = 5.0  # seconds a reply may follow the request it answers
MAX_PENDING = 65_536  # requests waiting for their reply, at most
MAX_ASKED = 4_096  # addresses whose requesters are counted (gateway learning)
ZERO_IP = b"\x00\x00\x00\x00"


class _Binding:
    """Who holds an IPv4 address: ``owner`` (the MAC that held it first, or took it over
    after the owner fell silent), the current ``mac``, and when each MAC last claimed it."""

    __slots__ = ("mac", "owner", "seen")

    def __init__(self, mac: bytes, ts: float) -> None:
        self.mac = mac
        self.owner = mac
        self.seen: dict[bytes, float] = {mac: ts}


class ArpTracker:
    """The IP-to-MAC bindings claimed on the wire (the sender of every request and reply),
    the requests waiting for a reply, and the gateway. ``observe`` returns the anomalies of
    one packet (dicts for ``ArpEvents``), at most one per (action, address, MAC) per
    ``quiet`` seconds:

    - ``arp-unsolicited-reply``: a reply (not a gratuitous announcement of the sender's own
      address) that answers no request seen in the last ``REPLY_WINDOW`` seconds (not
      judged in the first ``REPLY_WINDOW`` seconds of a capture: its request came before);
    - ``ip-mac-conflict``: a MAC claims an address another MAC still holds (claimed within
      ``hold`` seconds);
    - ``ip-mac-flip-flop``: an address goes back to a MAC that held it within ``hold`` seconds
      (arpwatch's "flip flop": two MACs taking turns, what arpspoof and the real owner do);
    - ``ip-mac-changed``: an address moves to a new MAC after its holder fell silent (a
      replaced card, a lease that moved);
    - ``mac-multiple-ips``: one MAC claims ``multi_ip_threshold`` addresses.

    The offending MAC is the claimant that is not the address's owner. Gateways are
    ``gateways`` when configured, otherwise learned: the routers DHCP servers hand out, and
    the address most distinct hosts asked for (at least ``GATEWAY_MIN_REQUESTERS``)."""

    def __init__(
        self,
        gateways: set[str],
        multi_ip_threshold: int,
        hold: float = 300.0,
        quiet: float = 60.0,
        max_entries: int = 100_000,
    ):
        self.gateways = gateways
        self.threshold = multi_ip_threshold
        self.hold = hold
        self.quiet = quiet
        self.max_entries = max_entries
        self.bindings: dict[bytes, _Binding] = {}
        self.mac_ips: dict[bytes, set[bytes]] = {}
        self.multi_reported: set[bytes] = set()
        self.pending: dict[tuple[bytes, bytes], float] = {}  # (asker ip, asked ip) -> time
        self.askers: dict[bytes, set[bytes]] = {}  # asked ip -> asking ips (bounded)
        self.learned_gateway: str | None = None
        self.dhcp_routers: set[str] = set()
        self.started: float | None = None  # first packet: earlier requests were not seen
        self._last: dict[tuple[str, bytes, bytes], float] = {}

    # ------------------------------------------------------------------ gateway
    def gateway_of(self, ip: str) -> str | None:
        """How ``ip`` is known to be a gateway (``configured``, ``dhcp``, ``learned``), or
        None. Configured gateways replace the others."""
        if self.gateways:
            return "configured" if ip in self.gateways else None
        if ip in self.dhcp_routers:
            return "dhcp"
        return "learned" if ip == self.learned_gateway else None

    def dhcp_router(self, ip: str, ts: float) -> None:
        """A DHCP server handed out ``ip`` as the router (``appevents``, ``dhcp.py``)."""
        if ip not in self.dhcp_routers and len(self.dhcp_routers) < 64:
            self.dhcp_routers.add(ip)

    def _asked(self, asker: bytes, asked: bytes, ts: float) -> None:
        pending = self.pending
        if len(pending) >= MAX_PENDING:
            for k in list(itertools.islice(pending, MAX_PENDING // 10)):
                del pending[k]
        pending.pop((asker, asked), None)
        pending[(asker, asked)] = ts
        askers = self.askers.get(asked)
        if askers is None:
            if len(self.askers) >= MAX_ASKED:
                return
            askers = self.askers[asked] = set()
        if len(askers) < 64 and asker not in askers:
            askers.add(asker)
            learned = self.learned_gateway
            best = len(self.askers[socket.inet_aton(learned)]) if learned else 0
            if len(askers) >= GATEWAY_MIN_REQUESTERS and len(askers) > best:
                self.learned_gateway = socket.inet_ntoa(asked)

    # ------------------------------------------------------------------ claims
    def observe(
        self, op: int, sha: bytes, spa: bytes, tpa: bytes, ts: float
    ) -> list[dict[str, Any]]:
        """One ARP request (``op`` 1) or reply (2): the sender claims "spa is at sha"."""
        if spa == ZERO_IP or sha in (b"\x00" * 6, b"\xff" * 6):
            return []  # ARP probes (RFC 5227) claim nothing
        out: list[dict[str, Any]] = []
        if self.started is None:
            self.started = ts
        if op == 1 and tpa != spa:
            self._asked(spa, tpa, ts)
        b = self.bindings.get(spa)
        if op == 2 and tpa != spa:
            asked = self.pending.pop((tpa, spa), None)
            if ts - self.started > REPLY_WINDOW and (asked is None or ts - asked > REPLY_WINDOW):
                out.append(self._anomaly("arp-unsolicited-reply", spa, sha, b, tpa, ts))
        if b is None:
            if len(self.bindings) >= self.max_entries:
                self.bindings.clear()
            self.bindings[spa] = _Binding(sha, ts)
        elif b.mac == sha:
            b.seen[sha] = ts
        else:
            returning = b.seen.get(sha)
            if returning is not None and ts - returning <= self.hold:
                action = "ip-mac-flip-flop"
            elif ts - b.seen[b.mac] <= self.hold:
                action = "ip-mac-conflict"
            else:
                action = "ip-mac-changed"
            out.append(self._anomaly(action, spa, sha, b, tpa, ts))
            if action == "ip-mac-changed":
                b.owner = sha  # the old holder fell silent: the address changed hands
            if len(b.seen) >= 8:
                b.seen = {m: t for m, t in b.seen.items() if ts - t <= self.hold}
            b.mac = sha
            b.seen[sha] = ts
        out += self._multi(sha, spa)
        return [a for a in out if a and self._first_in_quiet(a, ts)]

    def _anomaly(
        self, action: str, spa: bytes, sha: bytes, b: _Binding | None, tpa: bytes, ts: float
    ) -> dict[str, Any]:
        ip = socket.inet_ntoa(spa)
        a: dict[str, Any] = {"action": action, "ip": ip, "target_ip": socket.inet_ntoa(tpa)}
        holder = b.owner if b is not None else None
        # the offender is whichever of the claimant and the holder is not the owner
        offender = sha
        if b is not None and sha == b.owner and b.mac != sha:
            offender = b.mac
        a["mac"] = mac_str(offender)
        a["sender_mac"] = mac_str(sha)
        if holder is not None:
            a["holder_mac"] = mac_str(holder)
        if b is not None and b.mac != sha:
            a["previous_mac"] = mac_str(b.mac)
        how = self.gateway_of(ip)
        a["gateway"] = how is not None and holder is not None and offender != holder
        if how is not None:
            a["gateway_source"] = how
        a["_key"] = (action, spa, offender)
        return a

    def _multi(self, sha: bytes, spa: bytes) -> list[dict[str, Any]]:
        ips = self.mac_ips.get(sha)
        if ips is None:
            if len(self.mac_ips) >= self.max_entries:
                self.mac_ips.clear()
            ips = self.mac_ips[sha] = set()
        if spa in ips or len(ips) >= 1024:
            return []
        ips.add(spa)
        if len(ips) < self.threshold or sha in self.multi_reported:
            return []
        self.multi_reported.add(sha)
        names = sorted(socket.inet_ntoa(x) for x in ips)
        return [
            {
                "action": "mac-multiple-ips",
                "ip": socket.inet_ntoa(spa),
                "mac": mac_str(sha),
                "sender_mac": mac_str(sha),
                "ips": names[:50],
                "gateway": any(self.gateway_of(x) for x in names),
                "_key": ("mac-multiple-ips", b"", sha),
            }
        ]

    def _first_in_quiet(self, a: dict[str, Any], ts: float) -> bool:
        """Repeats of the same anomaly (arpspoof re-sends every few seconds) are kept quiet."""
        key = a.pop("_key")
        last = self._last.get(key)
        if last is not None and ts - last < self.quiet:
            return False
        if len(self._last) >= self.max_entries:
            self._last.clear()
        self._last[key] = ts
        return True


class ArpEvents:
    """Each Ethernet/IPv4 ARP packet as a ``network.arp`` event, and the anomalies the
    tracker finds in requests and replies as ``network.arp_anomaly`` alerts, into ``out``."""

    def __init__(
        self,
        tracker: ArpTracker,
        factory: EventFactory,
        out: list[tuple[str, dict[str, Any]]],
        bad: Callable[[str, str], None],
    ) -> None:
        self.tracker = tracker
        self.factory = factory
        self.out = out
        self.bad = bad

    def packet(self, ts: float, data: bytes, off: int, vlan: int | None, pkt_no: int) -> None:
        a = parse_arp(data, off)
        if a is None:
            self.bad("arp_malformed", "not Ethernet/IPv4 ARP or short")
            return
        sip, dip = socket.inet_ntoa(a["spa"]), socket.inet_ntoa(a["tpa"])
        ev = self.factory.base("network.arp", ts, ["network"], ["protocol"])
        op = OPS.get(a["op"], str(a["op"]))
        ev["event"]["action"] = f"arp-{op}"
        ev["source"] = {"ip": sip, "mac": mac_str(a["sha"])}
        ev["destination"] = {"ip": dip, "mac": mac_str(a["tha"])}
        ev["related"] = {"ip": [sip] if sip == dip else [sip, dip]}
        ev["network"] = {"protocol": "arp", "type": "ipv4"}
        if vlan is not None:
            ev["network"]["vlan"] = {"id": str(vlan)}
        ev["arp"] = {"operation": op, "gratuitous": sip == dip}
        self.out.append((self.factory.id("arp", ts, pkt_no), ev))
        if a["op"] not in (1, 2):
            return
        for anomaly in self.tracker.observe(a["op"], a["sha"], a["spa"], a["tpa"], ts):
            self._anomaly(anomaly, ev, ts, pkt_no)

    def _anomaly(
        self, anomaly: dict[str, Any], pkt: dict[str, Any], ts: float, pkt_no: int
    ) -> None:
        out = self.factory.alert_base("network.arp_anomaly", ts, anomaly["action"])
        ip, mac = anomaly["ip"], anomaly["mac"]
        out["source"] = {"ip": ip, "mac": mac}
        target = anomaly.get("target_ip")
        related = [ip]
        if target and target not in (ip, "0.0.0.0"):
            out["destination"] = {"ip": target, "mac": pkt["destination"]["mac"]}
            related.append(target)
        out["related"] = {"ip": related}
        out["network"] = {"protocol": "arp", "type": "ipv4"}
        if "vlan" in pkt["network"]:
            out["network"]["vlan"] = pkt["network"]["vlan"]
        arp: dict[str, Any] = {"gateway": anomaly["gateway"], "sender_mac": anomaly["sender_mac"]}
        for k in ("holder_mac", "previous_mac", "gateway_source"):
            if k in anomaly:
                arp[k] = anomaly[k]
        out["arp"] = arp
        out["message"] = _MESSAGES[anomaly["action"]](anomaly)
        if "ips" in anomaly:
            arp["claimed_ips"] = anomaly["ips"]
            arp["claimed_ip_count"] = len(anomaly["ips"])
        self.out.append((self.factory.id("arp_anomaly", anomaly["action"], ts, pkt_no), out))


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "arp-unsolicited-reply": lambda a: (
        f"{a['sender_mac']} sent {a['target_ip']} an ARP reply for {a['ip']} nobody asked for"
    ),
    "ip-mac-conflict": lambda a: (
        f"{a['sender_mac']} claims {a['ip']}, which {a.get('previous_mac')} still holds"
    ),
    "ip-mac-flip-flop": lambda a: (
        f"{a['ip']} flips between {a.get('previous_mac')} and {a['sender_mac']} "
        f"(offending MAC {a['mac']})"
    ),
    "ip-mac-changed": lambda a: f"{a['ip']} moved from {a.get('previous_mac')} to {a['mac']}",
    "mac-multiple-ips": lambda a: f"{a['mac']} claims {len(a['ips'])} IPv4 addresses",
}
