"""Benchmark of the Beats input (lumberjack v2) against the RELP input on the same lines.

The same syslog lines go (a) as Filebeat events (the line in ``message``, ``input.type``,
``log.file.path``/``offset``, ``agent``: what Filebeat's ``output.logstash`` sends) to a socmon
Beats listener, in windows of 2,048 events (Beats' default ``bulk_max_size``), zlib level 3
(their default ``compression_level``), two windows in flight (``pipelining: 2``), and
(b) as RFC 5424 messages to a socmon RELP listener (128 unacknowledged frames, rsyslog's
default window). Both feed an in-memory sink that makes every event durable at once, one
connection each, the client in the same process, all pinned to one core. Frames are built
before the clock starts. Baseline in the same run: RELP; ratio = Beats / RELP events/s
(medians of alternating runs). The process's CPU time per event (client and listener threads
together) is printed too: on a shared, loaded machine it moves far less than the rates.

Run: ``.venv/bin/python bench/beats.py [--events N] [--repeats R]``. Prints figures and ends
with one JSON line.
"""

from __future__ import annotations

import json
import socket
import statistics
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stream_inputs import load_1min, run_relp, settings, setup

WINDOW = 2048
PIPELINING = 2


def main() -> None:
    args = setup(__doc__ or "", "events")
    cfg = settings()

    from socmon.collectors.enrich import Enricher
    from socmon.collectors.sources.beats_server import BeatsServer
    from socmon.pipeline import ListSink
    from socmon.settings.collectors import BeatsSource

    n = args.events
    # the same bytes in both: the message of the Beats event, the MSG of the RELP frame
    texts = [
        f"<13>1 2026-11-25T01:00:00.{i % 1_000_000:06d}+00:00 web-01 sshd 812 - - Failed "
        f"password for root from 203.0.113.{i % 250} port {1024 + i % 60000} ssh2"
        for i in range(n)
    ]

    def beats_windows() -> list[tuple[int, bytes]]:
        out = []
        for w0 in range(0, n, WINDOW):
            chunk = texts[w0 : w0 + WINDOW]
            frames = []
            for j, line in enumerate(chunk):
                doc = {
                    "@timestamp": "2026-11-25T01:00:01.000Z",
                    "message": line,
                    "input": {"type": "filestream"},
                    "log": {"offset": (w0 + j) * 120, "file": {"path": "/var/log/auth.log"}},
                    "agent": {"id": "a1", "name": "web-01", "type": "filebeat"},
                    "host": {"name": "web-01"},
                    "ecs": {"version": "8.0.0"},
                }
                body = json.dumps(doc).encode()
                frames.append(b"2J" + struct.pack(">II", j + 1, len(body)) + body)
            z = zlib.compress(b"".join(frames), 3)
            data = b"2W" + struct.pack(">I", len(chunk)) + b"2C" + struct.pack(">I", len(z)) + z
            out.append((len(chunk), data))
        return out

    def run_beats(windows: list[tuple[int, bytes]]) -> tuple[float, float]:
        sink = ListSink()
        srv = BeatsServer(
            BeatsSource(bind="127.0.0.1", port=0),
            cfg.collectors,
            sink,
            Enricher(cfg.collectors),
        )
        srv.start()
        c = socket.create_connection(("127.0.0.1", srv.port))
        done = threading.Semaphore(PIPELINING)
        acked = [0]

        def read() -> None:
            buf, k = b"", 0
            while k < len(windows):
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                while len(buf) >= 6:
                    seq = struct.unpack(">I", buf[2:6])[0]
                    buf = buf[6:]
                    if seq == windows[k][0]:  # the window's last event: it is acknowledged
                        acked[0] += seq
                        k += 1
                        done.release()

        t = threading.Thread(target=read)
        t.start()
        t0, c0 = time.perf_counter(), time.process_time()
        for _, data in windows:
            done.acquire()
            c.sendall(data)
        t.join(120)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert acked[0] == n == len(sink.events), f"{acked[0]} acknowledged"
        c.close()
        srv.stop()
        return n / dt, cpu / n * 1e6

    windows = beats_windows()
    messages = [t.encode() for t in texts]
    beats_runs, relp_runs = [], []
    for _ in range(args.repeats):  # alternating, so both see the same machine
        beats_runs.append(run_beats(windows))
        relp_runs.append(run_relp(cfg, messages))
    b = statistics.median(x[0] for x in beats_runs)
    r = statistics.median(x[0] for x in relp_runs)
    bc = statistics.median(x[1] for x in beats_runs)
    rc = statistics.median(x[1] for x in relp_runs)
    load = load_1min()
    print(f"events: {n} per run, {args.repeats} runs each, one core (client included)")
    print(f"machine load (1 min) at the end: {load:.2f}")
    print(f"Beats (lumberjack v2, zlib 3, windows of {WINDOW}): {b:,.0f} events/s, {bc:.1f} us CPU")
    print(f"RELP, baseline: {r:,.0f} events/s, {rc:.1f} us CPU")
    print(f"ratio Beats / RELP: {b / r:.2f} (rates), {rc / bc:.2f} (from CPU per event)")
    print(
        json.dumps(
            {
                "bench": "beats",
                "events": n,
                "repeats": args.repeats,
                "beats_events_per_s": round(b, 1),
                "relp_events_per_s": round(r, 1),
                "ratio_beats_vs_relp": round(b / r, 3),
                "beats_cpu_us_per_event": round(bc, 1),
                "relp_cpu_us_per_event": round(rc, 1),
                "ratio_from_cpu": round(rc / bc, 3),
                "load_1min": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
