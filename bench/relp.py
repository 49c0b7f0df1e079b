"""Benchmark of the RELP syslog input: what the acknowledgements cost.

The same syslog messages sent to a socmon RELP listener (each acknowledged once the sink has
it) and to a plain TCP listener (newline framing, no acknowledgement), both feeding an
in-memory sink, one connection each; the client runs in the same process (all on one core).
Baseline in the same run: the TCP listener; ratio = RELP / TCP messages/s (medians).

Run: ``.venv/bin/python bench/relp.py [--messages N] [--repeats R]``. Prints figures and ends
with one JSON line.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stream_inputs import load_1min, run_relp, settings, setup, syslog_server


def main() -> None:
    args = setup(__doc__ or "", "messages")
    cfg = settings()
    n = args.messages
    lines = [
        f"<13>2026-11-25T01:00:00.{i % 1_000_000:06d}+00:00 web-01 sshd[812]: Failed password "
        f"for root from 203.0.113.{i % 250} port {1024 + i % 60000} ssh2".encode()
        for i in range(n)
    ]

    def run_tcp() -> float:
        srv, sink = syslog_server(cfg, "tcp")
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
        relp_runs.append(run_relp(cfg, lines)[0])
        tcp_runs.append(run_tcp())
    r, t = statistics.median(relp_runs), statistics.median(tcp_runs)
    print(f"messages: {n} per run, {args.repeats} runs each, one core (client included)")
    print(f"machine load (1 min) at the end: {load_1min():.2f}")
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
