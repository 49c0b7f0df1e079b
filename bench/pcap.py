"""Benchmark: packets/s from a pcap to ECS events (single core), against tshark and scapy.

    .venv/bin/python bench/pcap.py [--packets 1000000] [--quick]

1. Generates (once, cached under var/bench/) a pcap of >= 1M packets written with ``struct``:
   TCP connections (handshake, request/response payloads, FIN), DNS over UDP queries and
   answers, a few ICMP echoes; and a pcap of 1M one-packet flows (for peak memory).
2. Measures, in the same run (medians of ``--repeats``):
   - socmon: ``read_pcap_events`` over the whole file (decoding, flows, DNS/HTTP parsing,
     building every ECS event dict), one core;
   - tshark: ``tshark -r FILE -T fields -e frame.time_epoch -e ip.src -e ip.dst
     -e tcp.srcport -e tcp.dstport`` (Debian's tshark; when it is missing and we run as
     root, the bench installs it with apt-get, and says so);
   - scapy: plain ``PcapReader`` dissection of the first ``--scapy-packets`` packets,
     extrapolated to a rate (scapy would take many minutes for the whole file).
3. Measures the peak memory (max RSS of a child process) of the flow table holding 1M
   concurrent flows.

Prints the figures and ratios, and ends with exactly one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "var" / "bench"

ETH = bytes.fromhex("00112233445566778899aabb0800")


def _ip(src: int, dst: int, proto: int, payload_len: int) -> bytes:
    return struct.pack("!BBHHHBBHII", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, src, dst)


def _tcp(sp: int, dp: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 0x50, flags, 65535, 0, 0) + payload


def _udp(sp: int, dp: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload


def _dns_query(qid: int, name: str) -> bytes:
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + b"\x00\x01\x00\x01"


def _dns_answer(qid: int, name: str, ip: int) -> bytes:
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00"
    head = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q + b"\x00\x01\x00\x01"
    return head + b"\xc0\x0c" + struct.pack("!HHIHI", 1, 1, 300, 4, ip)


def generate_mixed(path: Path, packets: int, seed: int = 7) -> None:
    """~80% TCP (connections of ~10 packets, HTTP-like payloads), ~18% DNS, ~2% ICMP."""
    rnd = random.Random(seed)
    ts = 1_760_000_000.0
    out = open(path, "wb")  # noqa: SIM115
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    rec = struct.Struct("<IIII")
    n = 0

    def write(frame: bytes) -> None:
        nonlocal ts, n
        ts += 0.00002
        sec = int(ts)
        out.write(rec.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
        out.write(frame)
        n += 1

    req = b"GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: bench\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\nContent-Type: text/html\r\n\r\n" + (
        b"x" * 512
    )
    conn = 0
    while n < packets:
        r = rnd.random()
        cli = 0x0A000000 | rnd.randrange(1, 1 << 16)
        srv = 0xC0A80000 | rnd.randrange(1, 256)
        if r < 0.8:
            sp = 1024 + conn % 60000
            conn += 1
            dp = 80
            s, a = 1000, 5000
            write(ETH + _ip(cli, srv, 6, 20) + _tcp(sp, dp, s, 0, 0x02, b""))
            write(ETH + _ip(srv, cli, 6, 20) + _tcp(dp, sp, a, s + 1, 0x12, b""))
            write(ETH + _ip(cli, srv, 6, 20) + _tcp(sp, dp, s + 1, a + 1, 0x10, b""))
            write(ETH + _ip(cli, srv, 6, 20 + len(req)) + _tcp(sp, dp, s + 1, a + 1, 0x18, req))
            write(ETH + _ip(srv, cli, 6, 20) + _tcp(dp, sp, a + 1, s + 1 + len(req), 0x10, b""))
            write(
                ETH
                + _ip(srv, cli, 6, 20 + len(resp))
                + _tcp(dp, sp, a + 1, s + 1 + len(req), 0x18, resp)
            )
            write(ETH + _ip(cli, srv, 6, 20) + _tcp(sp, dp, s + 1 + len(req), a + 1, 0x10, b""))
            write(ETH + _ip(cli, srv, 6, 20) + _tcp(sp, dp, s + 1 + len(req), a + 1, 0x11, b""))
            write(ETH + _ip(srv, cli, 6, 20) + _tcp(dp, sp, a + 1, s + 2 + len(req), 0x11, b""))
            write(ETH + _ip(cli, srv, 6, 20) + _tcp(sp, dp, s + 2 + len(req), a + 2, 0x10, b""))
        elif r < 0.98:
            sp = 1024 + rnd.randrange(60000)
            name = f"host{rnd.randrange(1000)}.example.com"
            q = _dns_query(conn & 0xFFFF, name)
            a = _dns_answer(conn & 0xFFFF, name, srv)
            write(ETH + _ip(cli, 0x08080808, 17, 8 + len(q)) + _udp(sp, 53, q))
            write(ETH + _ip(0x08080808, cli, 17, 8 + len(a)) + _udp(53, sp, a))
        else:
            echo = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"p" * 32
            reply = struct.pack("!BBHHH", 0, 0, 0, 1, 1) + b"p" * 32
            write(ETH + _ip(cli, srv, 1, len(echo)) + echo)
            write(ETH + _ip(srv, cli, 1, len(reply)) + reply)
    out.close()


def generate_flows(path: Path, flows: int) -> None:
    """``flows`` SYN packets, each a distinct 5-tuple, 1 microsecond apart."""
    out = open(path, "wb")  # noqa: SIM115
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    rec = struct.Struct("<IIII")
    base = 1_760_000_000
    for i in range(flows):
        frame = (
            ETH
            + _ip(0x0A000000 | (i >> 8), 0xC0A80001, 6, 20)
            + _tcp(1024 + (i & 0xFF), 443, 1, 0, 0x02, b"")
        )
        out.write(rec.pack(base + i // 1_000_000, i % 1_000_000, len(frame), len(frame)))
        out.write(frame)
    out.close()


def cached(name: str, gen, *args) -> Path:  # type: ignore[no-untyped-def]
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        t = time.perf_counter()
        gen(tmp, *args)
        tmp.rename(path)
        print(f"generated {path} in {time.perf_counter() - t:.1f}s")
    return path


def run_socmon(path: Path) -> tuple[float, int, float]:
    """(CPU seconds, events, wall seconds)."""
    from socmon.collectors.network.reader import read_pcap_events
    from socmon.settings.network import NetworkSettings

    settings = NetworkSettings(flow_max=2_000_000)
    w, t = time.perf_counter(), time.process_time()
    events = 0
    for _ in read_pcap_events(path, settings):
        events += 1
    return time.process_time() - t, events, time.perf_counter() - w


def count_packets(path: Path) -> int:
    from socmon.collectors.network.pcapfile import iter_packets, open_capture

    with open_capture(path) as f:
        return sum(1 for _ in iter_packets(f, {}))


def ensure_tshark() -> tuple[str | None, str]:
    exe = shutil.which("tshark")
    if exe:
        return exe, "found"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("tshark missing: installing Debian's tshark with apt-get (running as root)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "tshark"], env=env, check=False)
        exe = shutil.which("tshark")
        if exe:
            return exe, "installed by this bench with apt-get"
    return None, "missing (not root or no apt-get): tshark figures skipped"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_tshark(exe: str, path: Path) -> tuple[float, float]:
    """(CPU seconds of the tshark process, wall seconds)."""
    cmd = [exe, "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src"]
    cmd += ["-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport"]
    w, c = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return _children_cpu() - c, time.perf_counter() - w


def run_scapy(path: Path, limit: int) -> float:
    import scapy.layers.all  # noqa: F401 - registers the dissectors (Ether, IP, ...)
    from scapy.utils import PcapReader

    t = time.process_time()
    n = 0
    with PcapReader(str(path)) as r:
        for _pkt in r:
            n += 1
            if n >= limit:
                break
    return n / (time.process_time() - t)


def peak_memory_child(path: Path) -> dict:
    code = (
        "import resource, sys, json, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from socmon.collectors.network.engine import PacketProcessor\n"
        "from socmon.collectors.network.pcapfile import iter_packets, open_capture\n"
        "from socmon.settings.network import NetworkSettings\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "s = NetworkSettings(flow_max=2_000_000, flow_idle_timeout=3600)\n"
        "p = PacketProcessor(s, 'mem')\n"
        "with open_capture(sys.argv[1]) as f:\n"
        "    it = iter_packets(f, p.stats)\n"
        "    import itertools\n"
        "    while True:\n"
        "        b = list(itertools.islice(it, 4096))\n"
        "        if not b: break\n"
        "        p.run(b); p.out.clear()\n"
        "flows = len(p.flows)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'flows': flows, 'peak_rss_mb': peak / 1024,"
        " 'baseline_rss_mb': base / 1024}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=1_000_000, help="concurrent flows for memory")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scapy-packets", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    ap.add_argument("--no-tshark", action="store_true", help="skip tshark (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.packets, args.flows, args.repeats, args.scapy_packets = 20_000, 20_000, 1, 2000
    mixed = cached(f"mixed-{args.packets}.pcap", generate_mixed, args.packets)
    flows_pcap = cached(f"flows-{args.flows}.pcap", generate_flows, args.flows)
    npk = count_packets(mixed)
    print(f"capture: {mixed} ({npk} packets, {mixed.stat().st_size / 1e6:.0f} MB)")

    print("rates are packets per CPU-second of one process (the machine is shared with other")
    print("jobs, so wall-clock rates are shown too)")
    times, walls, events = [], [], 0
    for _ in range(args.repeats):
        dt, events, wall = run_socmon(mixed)
        times.append(dt)
        walls.append(wall)
    socmon_rate = npk / statistics.median(times)
    print(
        f"socmon : {socmon_rate:>12,.0f} packets/s -> {events} ECS events (median of "
        f"{args.repeats}: {statistics.median(times):.2f} CPU s, "
        f"{statistics.median(walls):.2f} wall s)"
    )

    exe, how = (None, "skipped (--no-tshark)") if args.no_tshark else ensure_tshark()
    tshark_rate = None
    if exe:
        runs = [run_tshark(exe, mixed) for _ in range(args.repeats)]
        tt = statistics.median(r[0] for r in runs)
        tshark_rate = npk / tt
        print(
            f"tshark : {tshark_rate:>12,.0f} packets/s (median {tt:.2f} CPU s, "
            f"{statistics.median(r[1] for r in runs):.2f} wall s; tshark {how})"
        )
    else:
        print(f"tshark : {how}")

    sr = [run_scapy(mixed, args.scapy_packets) for _ in range(args.repeats)]
    scapy_rate = statistics.median(sr)
    print(
        f"scapy  : {scapy_rate:>12,.0f} packets/s (PcapReader dissection of the first "
        f"{args.scapy_packets} packets, extrapolated)"
    )

    mem = peak_memory_child(flows_pcap)
    print(
        f"memory : {mem['flows']:,} concurrent flows -> peak RSS {mem['peak_rss_mb']:.0f} MB "
        f"(interpreter + imports alone: {mem['baseline_rss_mb']:.0f} MB)"
    )

    ratio_tshark = socmon_rate / tshark_rate if tshark_rate else None
    ratio_scapy = socmon_rate / scapy_rate
    if ratio_tshark is not None:
        print(f"ratio socmon/tshark = {ratio_tshark:.2f} (target >= 1)")
    print(f"ratio socmon/scapy  = {ratio_scapy:.1f} (target >= 10)")
    print(
        json.dumps(
            {
                "packets": npk,
                "events": events,
                "socmon_pps": round(socmon_rate),
                "tshark_pps": round(tshark_rate) if tshark_rate else None,
                "scapy_pps": round(scapy_rate),
                "ratio_vs_tshark": round(ratio_tshark, 3) if ratio_tshark else None,
                "ratio_vs_scapy": round(ratio_scapy, 2),
                "concurrent_flows": mem["flows"],
                "peak_rss_mb": round(mem["peak_rss_mb"], 1),
                "tshark": how,
                "rate_basis": "packets per CPU-second",
            }
        )
    )


if __name__ == "__main__":
    main()
