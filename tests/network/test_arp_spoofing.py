"""ARP poisoning as arpspoof does it, on captures crafted with scapy: unsolicited replies,
an address claimed by a second MAC, flip-flops, the gateway learned from traffic; and the
ARP a normal LAN sends (boot probes and announcements, request/reply, an address that changes
hands after its holder left) raising nothing. The rules run in the streaming engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scapy.layers.l2 import ARP, Ether

from socmon.rules.evaluate import evaluate_events
from socmon.settings import PROJECT_ROOT
from tests.network.helpers import ZEEK, events, of, write_pcap

RULES = PROJECT_ROOT / "rules" / "sigma" / "network"
GW, G = "10.0.0.254", "00:00:5e:00:01:01"
VICTIM, V = "10.0.0.5", "00:00:00:00:00:05"
ATTACKER_IP, A = "10.0.0.66", "de:ad:be:ef:00:66"
A_ECS = "DE-AD-BE-EF-00-66"  # ECS form: upper case, hyphens
BCAST = "ff:ff:ff:ff:ff:ff"
T0 = 1_760_000_000.0


def arp(t: float, op: int, hwsrc: str, psrc: str, pdst: str, hwdst: str = "00:00:00:00:00:00"):
    dst = BCAST if op == 1 else (hwdst if hwdst != "00:00:00:00:00:00" else BCAST)
    p = Ether(src=hwsrc, dst=dst) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, pdst=pdst, hwdst=hwdst)
    p.time = T0 + t
    p._ts_set = True
    return p


def lan_start(offset: float = 0.0) -> list:
    """Three hosts ask for the gateway (which answers), the attacker resolves the victim as
    itself (arpspoof does: requests from its own address are not spoofing)."""
    pkts = []
    for i, (ip, mac) in enumerate(
        [(VICTIM, V), ("10.0.0.6", "00:00:00:00:00:06"), ("10.0.0.7", "00:00:00:00:00:07")]
    ):
        pkts.append(arp(offset + i, 1, mac, ip, GW))
        pkts.append(arp(offset + i + 0.001, 2, G, GW, ip, mac))
    pkts.append(arp(offset + 5, 1, A, ATTACKER_IP, VICTIM))
    pkts.append(arp(offset + 5.001, 2, V, VICTIM, ATTACKER_IP, A))
    return pkts


def arpspoof(start: float = 10.0, rounds: int = 10) -> list:
    """arpspoof -t VICTIM GW and -t GW VICTIM: every 2 s a reply to the victim 'GW is at A'
    and one to the gateway 'VICTIM is at A'; the gateway keeps asking for the victim (its
    requests claim GW as G again)."""
    pkts = []
    for r in range(rounds):
        t = start + 2 * r
        pkts.append(arp(t, 2, A, GW, VICTIM, V))
        pkts.append(arp(t + 0.5, 2, A, VICTIM, GW, G))
        if r == 2:
            pkts.append(arp(t + 1, 1, G, GW, VICTIM))
    return pkts


def anomalies(tmp_path: Path, name: str, pkts: list, **kw: Any) -> list[dict[str, Any]]:
    evs, _ = events(write_pcap(tmp_path / f"{name}.pcap", pkts), **kw)
    return of(evs, "network.arp_anomaly")


def test_arpspoof_with_the_gateway_learned(tmp_path: Path) -> None:
    found = anomalies(tmp_path, "spoof", lan_start() + arpspoof())
    got = [(e["event"]["action"], e["source"]["ip"], e["source"]["mac"]) for e in found]
    assert got == [
        ("arp-unsolicited-reply", GW, A_ECS),  # t=10: to the victim, nobody asked
        ("ip-mac-conflict", GW, A_ECS),  # G claimed GW 10 s before: it still holds it
        ("arp-unsolicited-reply", VICTIM, A_ECS),
        ("ip-mac-conflict", VICTIM, A_ECS),
        ("ip-mac-flip-flop", GW, A_ECS),  # t=15: G takes GW back; A is still the offender
    ]  # the repeats every 2 s are quiet for a minute
    by = {(e["event"]["action"], e["source"]["ip"]): e for e in found}
    gw = by[("ip-mac-conflict", GW)]
    assert gw["arp"]["gateway"] is True and gw["arp"]["gateway_source"] == "learned"
    assert gw["arp"]["holder_mac"] == "00-00-5E-00-01-01"
    reply = by[("arp-unsolicited-reply", GW)]
    assert reply["destination"] == {"ip": VICTIM, "mac": "00-00-00-00-00-05"}
    assert set(reply["related"]["ip"]) == {GW, VICTIM}
    flip = by[("ip-mac-flip-flop", GW)]
    assert flip["arp"]["sender_mac"] == "00-00-5E-00-01-01" and flip["arp"]["gateway"]
    assert by[("ip-mac-conflict", VICTIM)]["arp"]["gateway"] is False


def test_configured_gateway_wins_over_the_learned_one(tmp_path: Path) -> None:
    found = anomalies(tmp_path, "cfg", lan_start() + arpspoof(), gateway_ips=[VICTIM])
    gw_flags = {(e["event"]["action"], e["source"]["ip"]): e["arp"]["gateway"] for e in found}
    assert gw_flags[("ip-mac-conflict", VICTIM)] is True
    assert gw_flags[("ip-mac-conflict", GW)] is False


def test_rules_on_arpspoof(tmp_path: Path) -> None:
    evs, _ = events(write_pcap(tmp_path / "spoof.pcap", lan_start() + arpspoof()))
    titles = [d.rule_title for d in evaluate_events([RULES], evs)]
    assert sorted(set(titles)) == [
        "ARP spoofing of the gateway",
        "ARP spoofing: an address claimed by a second MAC, two MACs taking turns, or a MAC "
        "claiming many addresses",
        "Unsolicited ARP reply",
    ]


def normal_lan() -> list:
    """Boot of a host: RFC 5227 probes from 0.0.0.0, then announcements of its own address
    (request and reply forms); ordinary request/reply; a lease that moves to a new machine
    after its old holder has been silent for ten minutes; a capture that starts with a reply
    whose request came before it."""
    n, nmac = "10.0.0.40", "00:00:00:00:00:40"
    pkts = [arp(0.0005, 2, G, GW, VICTIM, V)]  # the request was before the capture
    pkts += [arp(1 + i, 1, nmac, "0.0.0.0", n) for i in range(3)]
    pkts.append(arp(4, 1, nmac, n, n))
    pkts.append(arp(5, 2, nmac, n, n, BCAST))
    pkts += lan_start(6.0)[:6]
    pkts.append(arp(20, 1, V, VICTIM, n))
    pkts.append(arp(20.001, 2, nmac, n, VICTIM, V))
    newmac = "00:00:00:00:00:41"  # t=700: n's lease now on another machine
    pkts += [arp(700 + i, 1, newmac, "0.0.0.0", n) for i in range(3)]
    pkts.append(arp(703, 1, newmac, n, n))
    pkts.append(arp(704, 1, G, GW, n))
    pkts.append(arp(704.001, 2, newmac, n, GW, G))
    return pkts


def test_a_normal_lan_does_not_page(tmp_path: Path) -> None:
    pkts = normal_lan()
    found = anomalies(tmp_path, "normal", pkts)
    assert [(e["event"]["action"], e["source"]["mac"]) for e in found] == [
        ("ip-mac-changed", "00-00-00-00-00-41")
    ]
    evs, _ = events(write_pcap(tmp_path / "normal2.pcap", pkts))
    assert evaluate_events([RULES], evs) == []


def test_real_arp_captures_do_not_page(datasets: Path) -> None:
    """Zeek's ARP traces (who-has/is-at on Ethernet, radiotap, 802.11 monitor mode, Linux
    cooked; one begins with a reply whose request was before the capture) raise no rule."""
    traces = datasets / ZEEK / "Traces"
    names = [
        "arp-who-has.pcap",
        "arp-who-has-radiotap.pcap",
        "arp-who-has-wlanmon.pcap",
        "arp-leak.pcap",
        "linuxsll-arp.pcap",
        "communityid/arp.pcap",
    ]
    seen = 0
    for name in names:
        evs, _ = events(traces / name)
        seen += len(of(evs, "network.arp"))
        assert evaluate_events([RULES], evs) == [], name
    assert seen >= 20  # ARP was read, not skipped


def dhcp_ack(t: float, router: str) -> Any:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP

    p = (
        Ether(src="00:00:00:00:00:53", dst=BCAST)
        / IP(src="10.0.0.53", dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="10.0.0.77", chaddr=bytes.fromhex("000000000077"))
        / DHCP(options=[("message-type", "ack"), ("router", router), "end"])
    )
    p.time = T0 + t
    p._ts_set = True
    return p


def test_gateway_from_dhcp_router_option(tmp_path: Path) -> None:
    """The router a DHCP server hands out is a gateway (nobody asked for it in ARP yet);
    a claim on it by a second MAC is flagged with arp.gateway_source: dhcp."""
    router, r_mac = "10.0.0.1", "00:00:00:00:00:01"
    pkts = [
        dhcp_ack(0, router),
        arp(1, 1, r_mac, router, "10.0.0.77"),
        arp(10, 2, A, router, "10.0.0.77", "00:00:00:00:00:77"),
    ]
    found = anomalies(tmp_path, "dhcp", pkts)
    conflict = next(e for e in found if e["event"]["action"] == "ip-mac-conflict")
    assert conflict["source"] == {"ip": router, "mac": A_ECS}
    assert conflict["arp"]["gateway"] is True and conflict["arp"]["gateway_source"] == "dhcp"


def test_dhcp_routers_of_real_captures_equal_scapys(datasets: Path) -> None:
    """The routers socmon reads from Zeek's DHCP traces are those scapy's DHCP dissector
    finds in the servers' OFFER/ACK messages."""
    from scapy.layers.dhcp import DHCP
    from scapy.utils import rdpcap

    from socmon.collectors.network.engine import PacketProcessor
    from socmon.collectors.network.reader import read_pcap_events
    from socmon.settings.network import NetworkSettings

    total = 0
    for path in sorted((datasets / ZEEK / "Traces" / "dhcp").glob("*.pcap")):
        want = set()
        for pkt in rdpcap(str(path)):
            if pkt.haslayer(DHCP):
                opts = {o[0]: o[1:] for o in pkt[DHCP].options if isinstance(o, tuple)}
                if opts.get("message-type") in ((2,), (5,)) and opts.get("router"):
                    want.add(opts["router"][0])
        settings = NetworkSettings()
        proc = PacketProcessor(settings, str(path))
        for _ in read_pcap_events(path, settings, processor=proc):
            pass
        assert proc.arp.tracker.dhcp_routers == want, path.name
        total += len(want)
    assert total == 2  # dhcp.pcap and dhcp_time_and_nameserver.pcap hand out a router


def test_arpspoof_without_a_target_broadcasts(tmp_path: Path) -> None:
    """arpspoof without -t broadcasts 'GW is at A' with target address 0.0.0.0."""
    pkts = lan_start() + [arp(10 + 2 * r, 2, A, GW, "0.0.0.0", BCAST) for r in range(5)]
    found = anomalies(tmp_path, "bcast", pkts)
    got = [(e["event"]["action"], e["source"]["mac"], e["arp"]["gateway"]) for e in found]
    assert got == [
        ("arp-unsolicited-reply", A_ECS, True),
        ("ip-mac-conflict", A_ECS, True),
    ]
    assert "destination" not in found[0] and found[0]["related"]["ip"] == [GW]
