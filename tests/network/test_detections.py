"""Derived detection events on scapy-crafted attacks (and not on normal traffic), and the Sigma
rules in rules/sigma/network evaluated on them with the rules engine."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from socmon.rules.evaluate import evaluate_events as evaluate
from socmon.settings import PROJECT_ROOT
from tests.network.helpers import events, of, write_pcap

RULES = PROJECT_ROOT / "rules" / "sigma" / "network"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "network"
DERIVED = (
    "network.bruteforce",
    "network.dns_tunnel",
    "network.arp_anomaly",
    "network.cleartext_credentials",
)
GW, GW_MAC = "10.0.0.254", "00:00:5e:00:01:01"
ATTACKER_MAC = "de:ad:be:ef:00:66"


def E(src: str = "00:00:00:00:00:01", dst: str = "00:00:00:00:00:02") -> Ether:
    return Ether(src=src, dst=dst)


def tcp(src: str, dst: str, sp: int, dp: int, flags: str, payload: bytes = b"") -> Ether:
    p = E() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags)
    return p / Raw(payload) if payload else p


def connection(cli: str, srv: str, sp: int, dp: int, req: bytes, resp: bytes) -> list[Ether]:
    return [
        tcp(cli, srv, sp, dp, "S"),
        tcp(srv, cli, dp, sp, "SA"),
        tcp(cli, srv, sp, dp, "A"),
        tcp(cli, srv, sp, dp, "PA", req),
        tcp(srv, cli, dp, sp, "PA", resp),
        tcp(cli, srv, sp, dp, "FA"),
        tcp(srv, cli, dp, sp, "FA"),
        tcp(cli, srv, sp, dp, "A"),
    ]


def normal_traffic() -> list[Ether]:
    """A workstation browsing (HTTP), resolving ordinary names and doing ARP."""
    pkts: list[Ether] = [
        Ether(src="00:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc="00:00:00:00:00:01", psrc="10.0.0.1", pdst=GW),
        Ether(src=GW_MAC, dst="00:00:00:00:00:01")
        / ARP(op=2, hwsrc=GW_MAC, psrc=GW, hwdst="00:00:00:00:00:01", pdst="10.0.0.1"),
    ]
    for i, name in enumerate(["www.example.org", "mail.example.org", "intranet.gov.vn"] * 20):
        q = DNS(id=i, rd=1, qd=DNSQR(qname=name))
        a = DNS(id=i, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata="93.184.216.34"))
        pkts.append(E() / IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=30000 + i, dport=53) / q)
        pkts.append(E() / IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=30000 + i) / a)
    req = b"GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    for i in range(40):
        pkts += connection("10.0.0.1", f"93.184.216.{30 + i % 3}", 41000 + i, 80, req, resp)
    # an SSH session of a real user: one long connection
    pkts += connection("10.0.0.1", "10.0.0.22", 42000, 22, b"SSH-2.0-OpenSSH\r\n", b"SSH-2.0-x\r\n")
    return pkts


def port_scan() -> list[Ether]:
    pkts: list[Ether] = []
    for port in range(1, 201):
        pkts.append(tcp("10.0.0.66", "10.0.0.2", 50000, port, "S"))
        if port in (22, 80):
            pkts.append(tcp("10.0.0.2", "10.0.0.66", port, 50000, "SA"))
            pkts.append(tcp("10.0.0.66", "10.0.0.2", 50000, port, "R"))
        else:
            pkts.append(tcp("10.0.0.2", "10.0.0.66", port, 50000, "RA"))
    for host in range(1, 61):  # and a sweep of one port over 60 hosts (no answers)
        pkts.append(tcp("10.0.0.66", f"10.0.1.{host}", 50001, 445, "S"))
    return pkts


def arp_spoofing() -> list[Ether]:
    pkts = [
        Ether(src=GW_MAC, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=2, hwsrc=GW_MAC, psrc=GW, hwdst="ff:ff:ff:ff:ff:ff", pdst=GW)
    ]
    # the attacker claims the gateway's address, then many others (arpspoof -r / ettercap)
    for i in range(1, 8):
        ip = GW if i == 1 else f"10.0.0.{i}"
        pkts.append(
            Ether(src=ATTACKER_MAC, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=2, hwsrc=ATTACKER_MAC, psrc=ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=ip)
        )
    return pkts


def dns_tunnel() -> list[Ether]:
    rnd = random.Random(4)
    pkts: list[Ether] = []
    for i in range(150):
        label = "".join(rnd.choice(string.ascii_lowercase + string.digits) for _ in range(50))
        q = DNS(id=i, rd=1, qd=DNSQR(qname=f"{label}.t.exfil-example.net", qtype="TXT"))
        pkts.append(E() / IP(src="10.0.0.7", dst="10.0.0.53") / UDP(sport=20000 + i, dport=53) / q)
    return pkts


def syn_flood() -> list[Ether]:
    rnd = random.Random(5)
    return [
        tcp(f"172.16.{rnd.randrange(256)}.{rnd.randrange(1, 255)}", "10.0.0.80", 1024 + i, 80, "S")
        for i in range(600)
    ]


def rdp_bruteforce() -> list[Ether]:
    """Short RDP connections (an X.224 connection request, a small answer, closed)."""
    pkts: list[Ether] = []
    req, resp = b"\x03\x00\x00\x13\x0e\xe0" + bytes(13), b"\x03\x00\x00\x0b\x06\xd0" + bytes(5)
    for i in range(25):
        pkts += connection("10.0.0.99", "10.0.0.33", 43000 + i, 3389, req, resp)
    return pkts


def derived(tmp_path: Path, name: str, pkts: list[Ether], **kw: Any) -> list[dict[str, Any]]:
    evs, _ = events(write_pcap(tmp_path / f"{name}.pcap", pkts), gateway_ips=[GW], **kw)
    return evs


def test_normal_traffic_gives_no_derived_event(tmp_path: Path) -> None:
    evs = derived(tmp_path, "normal", normal_traffic())
    assert of(evs, "network.flow") and of(evs, "network.dns") and of(evs, "network.http")
    assert [e for e in evs if e["event"]["dataset"] in DERIVED] == []


def test_arp_spoofing(tmp_path: Path) -> None:
    evs = derived(tmp_path, "arp", arp_spoofing())
    anomalies = of(evs, "network.arp_anomaly")
    actions = {e["event"]["action"] for e in anomalies}
    assert actions == {"ip-mac-conflict", "mac-multiple-ips"}
    moved = next(e for e in anomalies if e["event"]["action"] == "ip-mac-conflict")
    assert moved["source"] == {"ip": GW, "mac": "DE-AD-BE-EF-00-66"}
    assert moved["arp"]["holder_mac"] == "00-00-5E-00-01-01" and moved["arp"]["gateway"]


def test_dns_tunnel(tmp_path: Path) -> None:
    evs = derived(tmp_path, "tunnel", dns_tunnel())
    (t,) = of(evs, "network.dns_tunnel")
    assert t["dns"]["question"]["registered_domain"] == "exfil-example.net"
    assert t["dns_tunnel"]["suspicious_queries"] == 100
    assert t["source"]["ip"] == "10.0.0.7"


def test_bruteforce(tmp_path: Path) -> None:
    evs = derived(tmp_path, "brute", rdp_bruteforce())
    (b,) = of(evs, "network.bruteforce")
    assert b["destination"]["port"] == 3389 and b["bruteforce"]["short_connections"] == 20


def timed(pkt: Ether, t: float) -> Ether:
    pkt.time = 1_760_000_000.0 + t
    pkt._ts_set = True
    return pkt


def titles(evs: list[dict[str, Any]]) -> set[str]:
    return {d.rule_title for d in evaluate([RULES], evs)}


def test_rules_fire_on_crafted_attacks_and_not_on_normal_traffic(tmp_path: Path) -> None:
    assert titles(derived(tmp_path, "normal", normal_traffic())) == set()
    arp = titles(derived(tmp_path, "arp", arp_spoofing()))
    assert arp == {
        "ARP spoofing: an address claimed by a second MAC, two MACs taking turns, or a MAC "
        "claiming many addresses",
        "ARP spoofing of the gateway",
    }
    assert titles(derived(tmp_path, "tunnel", dns_tunnel())) == {"DNS tunnelling to one domain"}
    assert titles(derived(tmp_path, "brute", rdp_bruteforce())) == {
        "Brute force against RDP, FTP, Telnet or VNC (repeated short connections)"
    }


def test_every_rule_has_positive_and_negative_fixtures() -> None:
    # connection_scans.yml (correlations) has its own tests: test_connection_correlations.py
    rule_files = sorted(p for p in RULES.glob("*.yml") if p.stem != "connection_scans")
    assert len(rule_files) == 7
    for rule in rule_files:
        # a file of a base rule and its correlation reports the correlation's title
        rule_titles = {
            line.split(":", 1)[1].strip().strip('"')
            for line in rule.read_text().splitlines()
            if line.startswith("title:")
        }
        pos = json.loads((FIXTURES / f"{rule.stem}.positive.json").read_text())
        neg = json.loads((FIXTURES / f"{rule.stem}.negative.json").read_text())
        assert rule_titles & {d.rule_title for d in evaluate([rule], pos)}, rule.name
        assert evaluate([rule], neg) == [], rule.name
