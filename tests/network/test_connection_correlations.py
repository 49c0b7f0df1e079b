"""The scan, sweep and flood correlations (rules/sigma/network/connection_scans.yml) over
connection events from every source that has them: socmon's own flows (scapy-crafted
captures), Zeek conn.log (TSV and JSON), Suricata EVE flow records, iptables/ufw/nftables
kernel lines, FortiGate traffic logs, CEF and Windows Firewall logs. The thresholds the
tests expect are Zeek's scan policy defaults (15 ports / 25 hosts in 5 minutes) and the
flood's 500 attempts a minute, written in the rule file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from socmon.rules.detection import Detection
from socmon.rules.evaluate import evaluate_events
from socmon.settings import PROJECT_ROOT
from tests.collectors.helpers import read_events
from tests.network.test_detections import derived, normal_traffic, port_scan, syn_flood

RULE = PROJECT_ROOT / "rules" / "sigma" / "network" / "connection_scans.yml"
VERTICAL = "Port scan of one host (vertical)"
HORIZONTAL = "Host sweep on one port (horizontal)"
FLOOD = "SYN flood or mass half-open connections to one service"
ZEEK_HEAD = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2026-12-05-01-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
    "orig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\t"
    "orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\t"
    "string\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)
T0 = 1_764_896_400.0  # 2025-12-05 01:00:00 UTC


def detections(events: Iterable[dict[str, Any]]) -> list[Detection]:
    return evaluate_events([RULE], list(events))


def found(dets: list[Detection]) -> set[tuple[str, tuple[str, ...]]]:
    return {(d.rule_title, tuple(str(v) for v in d.group_by.values())) for d in dets}


def from_lines(tmp_path: Path, name: str, lines: list[str]) -> list[dict[str, Any]]:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    evs = [e for _, e in read_events(p)]
    assert len(evs) == len(lines) - sum(ln.startswith("#") for ln in lines)
    assert not [e for e in evs if "_parse_failure" in e.get("tags", ())]
    return evs


# ---------------------------------------------------------------- Zeek conn.log


def zeek_conn(t: float, src: str, sport: int, dst: str, dport: int, state: str, hist: str) -> str:
    uid = f"C{int(t * 1e6) % 10**10}{sport}{dport}"
    ok = state in ("SF", "S1")
    return (
        f"{t:.6f}\t{uid}\t{src}\t{sport}\t{dst}\t{dport}\ttcp\t-\t"
        f"{'1.200000' if ok else '-'}\t{'120' if ok else '0'}\t{'900' if ok else '0'}\t{state}\t"
        f"T\tT\t0\t{hist}\t{6 if ok else 1}\t{400 if ok else 44}\t{5 if ok else 1}\t"
        f"{1100 if ok else 40}\t-"
    )


def zeek_scan_lines() -> list[str]:
    """One host probing 100 ports on each of three hosts within ~6 s (closed ports answered
    with RST: REJ, filtered ones unanswered: S0), as Zeek logs an nmap -sS."""
    out = []
    for h, host in enumerate(("10.0.0.5", "10.0.0.6", "10.0.0.7")):
        for i in range(100):
            t = T0 + h * 2 + i * 0.02
            state, hist = ("REJ", "Sr") if i % 3 else ("S0", "S")
            out.append(zeek_conn(t, "10.0.0.66", 40000 + i, host, 1 + i * 7, state, hist))
    return out


def busy_server_lines() -> list[str]:
    """A web server with 400 clients (a few of them failing once or twice): no scan."""
    out = []
    for i in range(400):
        cli = f"172.16.{i // 200}.{i % 200 + 1}"
        out.append(zeek_conn(T0 + i * 0.1, cli, 50000 + i, "10.0.0.80", 443, "SF", "ShADadFf"))
        if i % 10 == 0:
            out.append(zeek_conn(T0 + i * 0.1, cli, 51000 + i, "10.0.0.80", 443, "S0", "S"))
            out.append(zeek_conn(T0 + i * 0.1, cli, 52000 + i, "10.0.0.80", 8443, "REJ", "Sr"))
    return out


def test_zeek_conn_log_tsv_and_json_scan(tmp_path: Path) -> None:
    lines = zeek_scan_lines()
    tsv = from_lines(tmp_path, "conn.log", [*ZEEK_HEAD.splitlines(), *lines, "#close\tx"])
    assert {e["event"]["outcome"] for e in tsv} == {"failure"}
    want = {(VERTICAL, ("10.0.0.66", h)) for h in ("10.0.0.5", "10.0.0.6", "10.0.0.7")}
    dets = detections(tsv)
    assert found(dets) == want
    assert all(len(d.events) == 15 for d in dets)  # fires at the threshold
    # the JSON form of the same records (Zeek's JSON writer: unset fields left out)
    fields = ZEEK_HEAD.splitlines()[6].split("\t")[1:]
    js = []
    for ln in lines:
        rec = dict(zip(fields, ln.split("\t"), strict=True))
        rec = {k: v for k, v in rec.items() if v != "-"}
        for k in ("ts",):
            rec[k] = float(rec[k])
        for k in ("id.orig_p", "id.resp_p", "orig_bytes", "resp_bytes", "orig_pkts"):
            rec[k] = int(rec[k])
        js.append(json.dumps({"_path": "conn", **rec}))
    assert found(detections(from_lines(tmp_path, "conn.json", js))) == want


def test_zeek_busy_server_and_normal_traffic_raise_nothing(tmp_path: Path) -> None:
    lines = busy_server_lines()
    evs = from_lines(tmp_path, "conn.log", [*ZEEK_HEAD.splitlines(), *lines])
    assert detections(evs) == []


def test_zeek_syn_flood_answered_by_the_server(tmp_path: Path) -> None:
    """Spoofed SYNs the server answers (history Sh, conn_state S1 in Zeek's terms: the
    originator never acknowledges) count as half-open attempts."""
    lines = [
        zeek_conn(
            T0 + i * 0.05, f"198.51.{i // 250}.{i % 250 + 1}", 1024 + i, "10.0.0.80", 80, "S1", "Sh"
        )
        for i in range(520)
    ]
    evs = from_lines(tmp_path, "conn.log", [*ZEEK_HEAD.splitlines(), *lines])
    assert found(detections(evs)) == {(FLOOD, ("10.0.0.80", "80"))}


# ---------------------------------------------------------------- firewall logs


def iptables(t: int, src: str, dst: str, dport: int, prefix: str = "IPTables-Dropped: ") -> str:
    """A netfilter LOG target line as the kernel writes it to syslog."""
    return (
        f"Dec  5 01:02:{t:02d} fw01 kernel: [1234{t}.123456] {prefix}IN=eth0 OUT= "
        "MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "
        f"SRC={src} DST={dst} LEN=44 TOS=0x00 PREC=0x00 TTL=41 ID={1000 + dport} PROTO=TCP "
        f"SPT=61{t:03d} DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0"
    )


def test_iptables_ufw_nftables_port_scans(tmp_path: Path) -> None:
    ports = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723, 3306]
    lines = [iptables(i // 6, "203.0.113.9", "192.0.2.10", p) for i, p in enumerate(ports)]
    ufw = [
        iptables(i // 6, "203.0.113.10", "192.0.2.11", p, "[UFW BLOCK] ")
        for i, p in enumerate(ports)
    ]
    nft = [
        iptables(i // 6, "203.0.113.11", "192.0.2.12", p, "nft drop in: ")
        for i, p in enumerate(ports)
    ]
    evs = from_lines(tmp_path, "kern.log", lines + ufw + nft)
    assert {e["event"]["dataset"] for e in evs} == {"iptables", "ufw"}
    assert found(detections(evs)) == {
        (VERTICAL, ("203.0.113.9", "192.0.2.10")),
        (VERTICAL, ("203.0.113.10", "192.0.2.11")),
        (VERTICAL, ("203.0.113.11", "192.0.2.12")),
    }
    # 14 ports is under the threshold; accepted packets are not attempts that failed
    few = from_lines(tmp_path, "few.log", lines[:14])
    allowed = [ln.replace("IPTables-Dropped: ", "[UFW ALLOW] ") for ln in lines]
    assert detections(few + from_lines(tmp_path, "allow.log", allowed)) == []


def fortigate(t: int, src: str, dst: str, dport: int, action: str = "deny") -> str:
    return (
        f'date=2026-12-05 time=01:03:{t:02d} devname="FG100E" devid="FG100E3G16000001" '
        f'eventtime=17648966{t:02d}000000000 tz="+0700" logid="0000000013" type="traffic" '
        f'subtype="forward" level="notice" vd="root" srcip={src} srcport={40000 + t} '
        f'srcintf="wan1" srcintfrole="wan" dstip={dst} dstport={dport} dstintf="internal" '
        f'dstintfrole="lan" sessionid={9000 + t} proto=6 action="{action}" policyid=0 '
        f'policytype="policy" service="SMB" trandisp="noop" duration=0 sentbyte=0 rcvdbyte=0'
    )


def cef(t: int, src: str, dst: str, dport: int, act: str = "blocked") -> str:
    return (
        f"Dec  5 01:04:{t:02d} ngfw CEF:0|Check Point|VPN-1 & FireWall-1|R81|drop|Drop|5|"
        f"act={act} src={src} spt={50000 + t} dst={dst} dpt={dport} proto=TCP rt=Dec 05 2026 "
        f"01:04:{t:02d}"
    )


def test_fortigate_and_cef_horizontal_sweeps(tmp_path: Path) -> None:
    hosts = [f"10.1.0.{i}" for i in range(1, 31)]
    fg = from_lines(
        tmp_path, "fg.log", [fortigate(i, "203.0.113.20", h, 445) for i, h in enumerate(hosts)]
    )
    assert fg[0]["event"]["dataset"] == "fortinet.firewall"
    assert fg[0]["network"]["transport"] == "tcp"
    cf = from_lines(
        tmp_path, "cef.log", [cef(i, "203.0.113.21", h, 3389) for i, h in enumerate(hosts)]
    )
    assert cf[0]["event"]["type"] == ["connection", "denied"]
    assert found(detections(fg + cf)) == {
        (HORIZONTAL, ("203.0.113.20", "445")),
        (HORIZONTAL, ("203.0.113.21", "3389")),
    }
    # the same sweep allowed through (action=accept / act=accept): nothing
    ok = [fortigate(i, "203.0.113.20", h, 445, "accept") for i, h in enumerate(hosts)]
    ok2 = [cef(i, "203.0.113.21", h, 3389, "accept") for i, h in enumerate(hosts)]
    assert detections(from_lines(tmp_path, "ok.log", ok + ok2)) == []


PFIREWALL_HEAD = [
    "#Version: 1.5",
    "#Software: Microsoft Windows Firewall",
    "#Time Format: Local",
    "#Fields: date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn "
    "tcpack tcpwin icmptype icmpcode info path pid",
    "",
]


def test_windows_firewall_log_scan(tmp_path: Path) -> None:
    lines = [
        f"2026-12-05 08:05:{i // 4:02d} DROP TCP 10.2.0.50 10.2.0.10 {51000 + i} {1000 + i} 52 S "
        f"{123456 + i} 0 64240 - - - RECEIVE 4"
        for i in range(20)
    ]
    lines.append(
        "2026-12-05 08:06:00 ALLOW UDP 10.2.0.10 10.2.0.1 53000 53 0 - - - - - - - SEND 1234"
    )
    p = tmp_path / "pfirewall.log"
    p.write_text("\r\n".join(PFIREWALL_HEAD + lines) + "\r\n")
    evs = [e for _, e in read_events(p)]
    assert len(evs) == 21 and not [e for e in evs if "_parse_failure" in e.get("tags", ())]
    drop, allow = evs[0], evs[-1]
    assert drop["event"]["dataset"] == "windows.firewall" and drop["event"]["outcome"] == "failure"
    assert drop["destination"]["port"] == 1000 and drop["network"]["direction"] == "ingress"
    assert allow["event"]["type"] == ["connection", "allowed"] and allow["process"]["pid"] == 1234
    assert found(detections(evs)) == {(VERTICAL, ("10.2.0.50", "10.2.0.10"))}


# ---------------------------------------------------------------- Suricata flow records


def eve_flow(i: int, src: str, dst: str, dport: int, ts_flags: str, toclient: int) -> str:
    return json.dumps(
        {
            "timestamp": f"2026-12-05T01:05:{i // 10:02d}.{i % 10}00000+0000",
            "flow_id": 1000 + i,
            "event_type": "flow",
            "src_ip": src,
            "src_port": 45000 + i,
            "dest_ip": dst,
            "dest_port": dport,
            "proto": "TCP",
            "flow": {
                "pkts_toserver": 1,
                "pkts_toclient": toclient,
                "bytes_toserver": 60,
                "bytes_toclient": 54 * toclient,
                "start": "2026-12-05T01:05:00.000000+0000",
                "end": "2026-12-05T01:05:00.000100+0000",
                "age": 0,
                "state": "closed" if toclient else "new",
                "reason": "timeout",
                "alerted": False,
            },
            "tcp": {"tcp_flags": "16" if toclient else "02", "tcp_flags_ts": ts_flags},
        }
    )


def test_suricata_flow_records_scan(tmp_path: Path) -> None:
    scan = [eve_flow(i, "10.3.0.66", "10.3.0.5", 100 + i, "02", i % 2) for i in range(20)]
    evs = from_lines(tmp_path, "eve.json", scan)
    assert {e["event"]["outcome"] for e in evs} == {"failure"}
    assert found(detections(evs)) == {(VERTICAL, ("10.3.0.66", "10.3.0.5"))}
    # completed connections (the client's flags include ACK) to 20 ports: not a scan
    ok = [eve_flow(i, "10.3.0.67", "10.3.0.5", 100 + i, "1b", 4) for i in range(20)]
    assert detections(from_lines(tmp_path, "ok.json", ok)) == []


# ---------------------------------------------------------------- socmon's own flows


def test_own_flows_scan_sweep_flood_and_normal_traffic(tmp_path: Path) -> None:
    scan = detections(derived(tmp_path, "scan", port_scan()))
    titles = {d.rule_title for d in scan}
    assert titles == {VERTICAL, HORIZONTAL}
    v = next(d for d in scan if d.rule_title == VERTICAL)
    assert v.group_by == {"source.ip": "10.0.0.66", "destination.ip": "10.0.0.2"}
    h = next(d for d in scan if d.rule_title == HORIZONTAL)
    assert h.group_by == {"source.ip": "10.0.0.66", "destination.port": 445}
    flood = detections(derived(tmp_path, "flood", syn_flood()))
    assert found(flood) == {(FLOOD, ("10.0.0.80", "80"))}
    assert detections(derived(tmp_path, "normal", normal_traffic())) == []


# ---------------------------------------------------------------- scheduled mode


def test_scheduled_mode_runs_the_scan_correlation(
    es_client: Any, names: Any, settings: Any, tmp_path: Path
) -> None:
    """The same correlations as Elasticsearch queries + replay (rules.scheduled) over stored
    iptables and FortiGate events: the vertical scan and the sweep are found, the 14-port
    source is not."""
    from socmon.rules.loader import finish, load_paths
    from socmon.rules.scheduled_convert import convert
    from tests.rules.test_scheduled_mode import NOW, index_events, iso, runner

    ports = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723]
    lines = [iptables(i // 6, "203.0.113.9", "192.0.2.10", p) for i, p in enumerate(ports)]
    lines += [iptables(i // 6, "203.0.113.8", "192.0.2.10", p) for i, p in enumerate(ports[:14])]
    evs = from_lines(tmp_path, "kern.log", lines)
    hosts = [f"10.1.0.{i}" for i in range(1, 31)]
    evs += from_lines(
        tmp_path, "fg.log", [fortigate(i, "203.0.113.20", h, 445) for i, h in enumerate(hosts)]
    )
    for i, e in enumerate(evs):  # stored as if just collected (the runner's clock)
        e["@timestamp"] = iso(NOW - 120 + i)
    index_events(es_client, names, evs)
    converted = convert(finish(load_paths([RULE])))
    assert not converted.problems, converted.problems
    only = {c.key for c in converted.correlations}
    sink: list[Detection] = []
    runner(es_client, names, settings, converted, only, sink, scheduled_lookback=600.0).run_once()
    assert sorted((d.rule_title, str(d.group_by), len(d.events)) for d in sink) == [
        (HORIZONTAL, str({"source.ip": "203.0.113.20", "destination.port": 445}), 25),
        (VERTICAL, str({"source.ip": "203.0.113.9", "destination.ip": "192.0.2.10"}), 15),
    ]
    assert {d.mode for d in sink} == {"correlation"}


def test_traceroute_is_no_port_scan(tmp_path: Path) -> None:
    """UNIX traceroute (UDP to 33434 + n, answered by ICMP errors) probes ~90 ports of one
    host: not counted; the same probes to low ports are."""
    from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror

    from tests.network.test_detections import E

    def probes(base: int) -> list[Any]:
        pkts = []
        for i in range(90):
            probe = IP(src="10.0.0.1", dst="198.51.100.7", ttl=1 + i // 3) / UDP(
                sport=40000 + i, dport=base + i
            )
            pkts.append(E() / probe)
            pkts.append(
                E()
                / IP(src=f"10.9.{i // 3}.1", dst="10.0.0.1")
                / ICMP(type=11, code=0)
                / IPerror(bytes(probe.copy())[:28])
                / UDPerror()
            )
        return pkts

    assert detections(derived(tmp_path, "trace", probes(33434))) == []
    found_low = found(detections(derived(tmp_path, "low", probes(1000))))
    assert found_low == {(VERTICAL, ("10.0.0.1", "198.51.100.7"))}


@pytest.mark.datasets
def test_no_scan_sweep_or_flood_in_the_zeek_traces(datasets: Path) -> None:
    """The zeek test traces (803 public captures, ~3,900 flows; none holds a scan as large as
    the thresholds: nmap-vsn.pcap has 17 failed flows to 3 ports) raise nothing."""
    from socmon.collectors.network.reader import read_pcap_events
    from socmon.rules.evaluate import build_engine, run_events
    from tests.network.helpers import ZEEK

    files = [p for p in sorted((datasets / ZEEK / "Traces").rglob("*")) if p.is_file()]
    engine = build_engine([RULE])
    flows = 0
    for p in files:
        evs = [e for _, e in read_pcap_events(p) if e["event"]["dataset"] == "network.flow"]
        flows += len(evs)
        assert run_events(engine, evs) == [], p
    assert len(files) > 800 and flows > 3000
