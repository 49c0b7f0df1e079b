"""Benchmark of the RELP syslog input: what the acknowledgements cost.

The same syslog messages sent to a socmon RELP listener (each acknowledged once the sink has
it) and to a plain TCP listener (newline framing, no acknowledgement), both feeding an
in-memory sink, one connection each; the client runs in the same process (all on one core).
Baseline in the same run: the TCP listener; ratio = RELP / TCP messages/s (medians).

Run: ``.venv/bin/python bench/relp.py [--messages N] [--repeats R]``. Prints figures and ends
with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from socmon.collectors.enrich import Enricher
    from socmon.collectors.sources import relp
    from socmon.collectors.sources.syslog_server import SyslogServer
    from socmon.pipeline import ListSink
    from socmon.settings import load_settings
    from socmon.settings.collectors import SyslogSource

    settings = load_settings()
    n = args.messages
    lines = [
        f"<13>2026-11-25T01:00:00.{i % 1_000_000:06d}+00:00 web-01 sshd[812]: Failed password "
        f"for root from 203.0.113.{i % 250} port {1024 + i % 60000} ssh2".encode()
        for i in range(n)
    ]

    def serve(protocol: str) -> tuple[SyslogServer, ListSink]:
        sink = ListSink()
        src = SyslogSource(protocol=protocol, bind="127.0.0.1", port=0)
        srv = SyslogServer(src, settings.collectors, sink, Enricher(settings.collectors))
        srv.start()
        return srv, sink

    def run_relp() -> float:
        srv, _ = serve("relp")
        frames = [relp.frame(2 + i, "syslog", m) for i, m in enumerate(lines)]
        c = socket.create_connection(("127.0.0.1", srv.port))
        c.sendall(relp.frame(1, "open", b"commands=syslog"))
        acked = [0]

        def read() -> None:
            reader = relp.FrameReader(1024)
            while acked[0] < n + 1:
                data = c.recv(65536)
                if not data:
                    return
                acked[0] += sum(1 for _ in reader.feed(data))

        t = threading.Thread(target=read)
        t.start()
        t0 = time.perf_counter()
        for i in range(0, n, 128):  # rsyslog's default window: 128 unacknowledged frames
            c.sendall(b"".join(frames[i : i + 128]))
        t.join(120)
        dt = time.perf_counter() - t0
        assert acked[0] == n + 1, f"{acked[0]} responses"
        c.close()
        srv.stop()
        return n / dt

    def run_tcp() -> float:
        srv, sink = serve("tcp")
        payload = b"\n".join(lines) + b"\n"
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", srv.port)) as c:
            c.sendall(payload)
        while len(sink.events) < n:
            time.sleep(0.001)
        dt = time.perf_counter() - t0
        srv.stop()
        return n / dt

    relp_runs, tcp_runs = [], []
    for _ in range(args.repeats):  # alternating, so both see the same machine
        relp_runs.append(run_relp())
        tcp_runs.append(run_tcp())
    r, t = statistics.median(relp_runs), statistics.median(tcp_runs)
    print(f"messages: {n} per run, {args.repeats} runs each, one core (client included)")
    print(f"RELP (acknowledged once in the sink): {r:,.0f} messages/s")
    print(f"TCP (no acknowledgement), baseline: {t:,.0f} messages/s")
    print(f"ratio RELP / TCP: {r / t:.2f}")
    print(
        json.dumps(
            {
                "bench": "relp",
                "messages": n,
                "repeats": args.repeats,
                "relp_messages_per_s": round(r, 1),
                "tcp_messages_per_s": round(t, 1),
                "ratio_relp_vs_tcp": round(r / t, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
