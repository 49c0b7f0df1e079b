"""Flows, protocols and encapsulations on captures crafted with scapy (written to tmp_path)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, GRE, CookedLinux, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from tests.network.helpers import events, of, write_pcap

C, S = "10.0.0.1", "10.0.0.2"


def E() -> Ether:
    return Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02")


def tcp(src: str, dst: str, sp: int, dp: int, flags: str, payload: bytes = b"") -> Ether:
    p = E() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags)
    return p / Raw(payload) if payload else p


def handshake(sp: int = 40000, dp: int = 80) -> list[Ether]:
    return [
        tcp(C, S, sp, dp, "S"),
        tcp(S, C, dp, sp, "SA"),
        tcp(C, S, sp, dp, "A"),
    ]


def state_of(tmp_path: Path, pkts: list[Ether], **kw) -> dict:
    evs, _ = events(write_pcap(tmp_path / "t.pcap", pkts), **kw)
    flows = of(evs, "network.flow")
    assert len(flows) == 1, flows
    return flows[0]


def test_conn_states(tmp_path: Path) -> None:
    fin = [tcp(C, S, 40000, 80, "FA"), tcp(S, C, 80, 40000, "FA"), tcp(C, S, 40000, 80, "A")]
    cases = {
        "S0": [tcp(C, S, 40000, 80, "S")],
        "REJ": [tcp(C, S, 40000, 80, "S"), tcp(S, C, 80, 40000, "RA")],
        "SF": [*handshake(), tcp(C, S, 40000, 80, "PA", b"hello"), *fin],
        "S1": handshake(),
        "RSTO": [*handshake(), tcp(C, S, 40000, 80, "R")],
        "RSTR": [*handshake(), tcp(S, C, 80, 40000, "R")],
        "RSTOS0": [tcp(C, S, 40000, 80, "S"), tcp(C, S, 40000, 80, "R")],
        "SH": [tcp(C, S, 40000, 80, "S"), tcp(C, S, 40000, 80, "F")],
        "OTH": [tcp(C, S, 40000, 80, "PA", b"x"), tcp(S, C, 80, 40000, "A")],
        "S2": [*handshake(), tcp(C, S, 40000, 80, "FA")],
        "S3": [*handshake(), tcp(S, C, 80, 40000, "FA")],
    }
    for want, pkts in cases.items():
        f = state_of(tmp_path, pkts)
        assert f["flow"]["state"] == want, (want, f["flow"])


def test_flow_fields_and_directions(tmp_path: Path) -> None:
    fin = [tcp(C, S, 40000, 80, "FA"), tcp(S, C, 80, 40000, "FA"), tcp(C, S, 40000, 80, "A")]
    pkts = [*handshake(), tcp(C, S, 40000, 80, "PA", b"x" * 100), *fin]
    f = state_of(tmp_path, pkts)
    assert f["source"]["ip"] == C and f["source"]["port"] == 40000
    assert f["destination"]["ip"] == S and f["destination"]["port"] == 80
    assert f["source"]["packets"] == 5 and f["destination"]["packets"] == 2
    assert f["network"]["packets"] == 7
    assert f["source"]["bytes"] == 4 * 40 + 140
    assert f["network"]["bytes"] == f["source"]["bytes"] + f["destination"]["bytes"]
    assert f["network"]["transport"] == "tcp" and f["network"]["type"] == "ipv4"
    assert f["network"]["community_id"].startswith("1:")
    assert set(f["flow"]["tcp_flags"]) == {"SYN", "ACK", "FIN", "PSH"}
    assert f["event"]["reason"] == "fin"
    assert f["event"]["duration"] == 6_000_000  # 7 packets 1 ms apart
    assert f["event"]["start"] < f["event"]["end"] == f["@timestamp"]
    assert f["organization"]["id"] and f["event"]["kind"] == "event"


def test_synack_first_flips_direction(tmp_path: Path) -> None:
    f = state_of(tmp_path, [tcp(S, C, 80, 40000, "SA"), tcp(C, S, 40000, 80, "A")])
    assert f["source"]["ip"] == C and f["destination"]["port"] == 80


def test_idle_and_active_timeouts(tmp_path: Path) -> None:
    pkts = [tcp(C, S, 40000, 80, "PA", b"a"), tcp(C, S, 40000, 80, "PA", b"b")]
    for i, p in enumerate(pkts):
        p.time = 1_760_000_000.0 + i * 100  # 100 s apart, idle timeout 10 s
        p._ts_set = True
    # filler traffic so timers run in packet time
    filler = []
    for i in range(3000):
        p = tcp("10.9.0.1", "10.9.0.2", 1000 + i % 5, 9, "A")
        p.time = 1_760_000_000.0 + i * 0.1
        p._ts_set = True
        filler.append(p)
    allp = sorted(pkts + filler, key=lambda p: p.time)
    evs, _ = events(
        write_pcap(tmp_path / "idle.pcap", allp), flow_idle_timeout=10, flow_sweep_interval=1
    )
    mine = [e for e in of(evs, "network.flow") if e["destination"].get("port") == 80]
    assert [e["event"]["reason"] for e in mine] == ["idle_timeout", "idle_timeout"]
    assert [e["network"]["packets"] for e in mine] == [1, 1]

    pkts = []
    for i in range(3000):
        p = tcp(C, S, 40000, 80, "PA", b"a")
        p.time = 1_760_000_000.0 + i * 0.1  # 300 s of traffic, active timeout 60 s
        p._ts_set = True
        pkts.append(p)
    evs, _ = events(
        write_pcap(tmp_path / "active.pcap", pkts), flow_active_timeout=60, flow_sweep_interval=1
    )
    flows = of(evs, "network.flow")
    assert len(flows) >= 4
    assert {e["event"]["reason"] for e in flows[:-1]} == {"active_timeout"}
    assert flows[0]["flow"]["final"] is False
    assert sum(e["network"]["packets"] for e in flows) == 3000


def test_flow_table_is_bounded_and_eviction_counted(tmp_path: Path) -> None:
    pkts = [tcp(C, S, 10000 + i, 80, "S") for i in range(500)]
    evs, proc = events(write_pcap(tmp_path / "many.pcap", pkts), flow_max=100)
    flows = of(evs, "network.flow")
    assert len(flows) == 500
    assert proc.evicted >= 400
    assert sum(1 for e in flows if e["event"]["reason"] == "evicted") == proc.evicted


def test_vlan_qinq_cooked_ipv6_ext_headers(tmp_path: Path) -> None:
    pkts = [
        E() / Dot1Q(vlan=10) / IP(src=C, dst=S) / TCP(sport=1, dport=2, flags="S"),
        E() / Dot1Q(vlan=20) / Dot1Q(vlan=30) / IP(src=C, dst=S) / UDP(sport=3, dport=4),
        E()
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / TCP(sport=5, dport=6, flags="S"),
    ]
    evs, proc = events(write_pcap(tmp_path / "l2.pcap", pkts))
    flows = {e["destination"]["port"]: e for e in of(evs, "network.flow")}
    assert flows[2]["network"]["vlan"]["id"] == "10"
    assert flows[4]["network"]["vlan"]["id"] == "20"  # outer tag of QinQ
    assert flows[6]["network"]["type"] == "ipv6" and flows[6]["source"]["port"] == 5
    assert not proc.stats

    cooked = [CookedLinux(pkttype=0, lladdrtype=1) / IP(src=C, dst=S) / UDP(sport=7, dport=8)]
    evs, _ = events(write_pcap(tmp_path / "sll.pcap", cooked))
    assert of(evs, "network.flow")[0]["destination"]["port"] == 8


def test_fragments_counted_and_tunnels_do_not_crash(tmp_path: Path) -> None:
    big = IP(src=C, dst=S) / UDP(sport=1000, dport=2000) / Raw(b"z" * 3000)
    pkts = [E() / f for f in fragment(big, fragsize=1000)]
    pkts += [
        E() / IP(src=C, dst=S) / GRE() / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="S"),
        E()
        / IP(src=C, dst=S)
        / UDP(sport=5000, dport=4789)
        / VXLAN(vni=42)
        / Ether()
        / IP(src="1.1.1.1", dst="2.2.2.2")
        / TCP(flags="S"),
    ]
    evs, proc = events(write_pcap(tmp_path / "frag.pcap", pkts))
    assert proc.fragments == len(pkts) - 2
    flows = of(evs, "network.flow")
    assert {e["network"]["transport"] for e in flows} >= {"udp", "gre"}


def test_dns_malformed_is_reported_not_dropped(tmp_path: Path) -> None:
    pkts = [
        E() / IP(src=C, dst=S) / UDP(sport=5555, dport=53) / Raw(b"\x12\x34\x01\x00\x00\x01"),
        E()
        / IP(src=C, dst=S)
        / UDP(sport=5556, dport=53)
        / Raw(bytes.fromhex("000101000001000000000000c00c00010001")),
        E() / IP(src=C, dst=S) / UDP(sport=5557, dport=53) / DNS(qd=DNSQR(qname="ok.example")),
    ]
    evs, proc = events(write_pcap(tmp_path / "dns.pcap", pkts))
    dns = of(evs, "network.dns")
    assert len(dns) == 3
    bad = [e for e in dns if "_parse_failure" in e.get("tags", [])]
    assert len(bad) == 2 and all(e["error"]["message"] for e in bad)
    assert proc.stats["dns_malformed"] == 2
    assert dns[2]["dns"]["question"]["name"] == "ok.example"


def test_ftp_credentials_with_outcome(tmp_path: Path) -> None:
    sp, dp = 40001, 21
    pkts = [
        tcp(C, S, sp, dp, "S"),
        tcp(S, C, dp, sp, "SA"),
        tcp(C, S, sp, dp, "A"),
        tcp(S, C, dp, sp, "PA", b"220 FTP ready\r\n"),
        tcp(C, S, sp, dp, "PA", b"USER alice\r\n"),
        tcp(S, C, dp, sp, "PA", b"331 Password required\r\n"),
        tcp(C, S, sp, dp, "PA", b"PASS s3cret\r\n"),
        tcp(S, C, dp, sp, "PA", b"530 Login incorrect\r\n"),
    ]
    evs, _ = events(write_pcap(tmp_path / "ftp.pcap", pkts))
    (cred,) = of(evs, "network.cleartext_credentials")
    assert cred["user"]["name"] == "alice"
    assert cred["event"]["outcome"] == "failure"
    assert cred["network"]["protocol"] == "ftp"
    assert "s3cret" not in repr(evs)  # the password is never stored


def test_icmp_unreachable_tied_to_its_flow(tmp_path: Path) -> None:
    probe = IP(src=C, dst=S) / UDP(sport=33000, dport=161) / Raw(b"q")
    pkts = [E() / probe, E() / IP(src=S, dst=C) / ICMP(type=3, code=3) / probe]
    evs, _ = events(write_pcap(tmp_path / "unreach.pcap", pkts))
    (icmp,) = of(evs, "network.icmp")
    assert icmp["icmp"]["flow_found"] is True
    udp = next(e for e in of(evs, "network.flow") if e["network"]["transport"] == "udp")
    assert icmp["icmp"]["original"]["community_id"] == udp["network"]["community_id"]
    assert udp["flow"]["icmp_errors"] == [{"type": 3, "code": 3}]


def test_arp_events(tmp_path: Path) -> None:
    pkts = [
        Ether(src="00:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc="00:00:00:00:00:01", psrc=C, pdst=S),
        Ether(src="00:00:00:00:00:02", dst="00:00:00:00:00:01")
        / ARP(op=2, hwsrc="00:00:00:00:00:02", psrc=S, hwdst="00:00:00:00:00:01", pdst=C),
    ]
    evs, _ = events(write_pcap(tmp_path / "arp.pcap", pkts))
    arp = of(evs, "network.arp")
    assert [e["arp"]["operation"] for e in arp] == ["request", "reply"]
    assert arp[1]["source"] == {"ip": S, "mac": "00-00-00-00-00-02"}
    assert not of(evs, "network.arp_anomaly")


def test_http_request_response_pairing(tmp_path: Path) -> None:
    req = b"GET /a?b=1 HTTP/1.1\r\nHost: www.example.org:8080\r\nUser-Agent: curl/8\r\n\r\n"
    resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\n"
    pkts = [
        *handshake(40002, 8080),
        tcp(C, S, 40002, 8080, "PA", req[:20]),
        tcp(C, S, 40002, 8080, "PA", req[20:]),
        tcp(S, C, 8080, 40002, "PA", resp + b"not found"),
    ]
    evs, _ = events(write_pcap(tmp_path / "http.pcap", pkts))
    (h,) = of(evs, "network.http")
    assert h["http"]["request"]["method"] == "GET"
    assert h["url"]["path"] == "/a" and h["url"]["query"] == "b=1"
    assert h["url"]["domain"] == "www.example.org" and h["url"]["port"] == 8080
    assert h["user_agent"]["original"] == "curl/8"
    assert h["http"]["response"]["status_code"] == 404
    assert h["http"]["response"]["body"]["bytes"] == 9
    assert h["http"]["response"]["mime_type"] == "text/plain"
