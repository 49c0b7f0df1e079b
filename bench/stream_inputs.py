"""What bench/beats.py and bench/relp.py share: the command line and the one-core set-up,
listeners fed into an in-memory sink, and the RELP client (rsyslog's window of 128
unacknowledged frames) whose rate both report."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socmon.collectors.sources.syslog_server import SyslogServer
    from socmon.pipeline import ListSink

RELP_WINDOW = 128  # rsyslog's default: unacknowledged frames in flight


def setup(doc: str, count: str) -> argparse.Namespace:
    """Parse ``--<count> N --repeats R``, silence logs below WARNING and pin the process to
    one core (client and listener share it, so the figures do not depend on a free core)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument(f"--{count}", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    return args


def settings() -> Any:
    from socmon.settings import load_settings

    return load_settings()


def syslog_server(cfg: Any, protocol: str) -> tuple[SyslogServer, ListSink]:
    """A started syslog listener of ``protocol`` on a free port, into a list sink."""
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.sources.syslog_server import SyslogServer
    from socmon.pipeline import ListSink
    from socmon.settings.collectors import SyslogSource

    sink = ListSink()
    src = SyslogSource(protocol=protocol, bind="127.0.0.1", port=0)
    srv = SyslogServer(src, cfg.collectors, sink, Enricher(cfg.collectors))
    srv.start()
    return srv, sink


def run_relp(cfg: Any, messages: list[bytes]) -> tuple[float, float]:
    """Send ``messages`` over RELP (frames built before the clock starts); messages/s and the
    process's CPU microseconds per message, once every one is acknowledged and in the sink."""
    from socmon.collectors.sources import relp

    n = len(messages)
    srv, sink = syslog_server(cfg, "relp")
    frames = [relp.frame(2 + i, "syslog", m) for i, m in enumerate(messages)]
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
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, n, RELP_WINDOW):
        c.sendall(b"".join(frames[i : i + RELP_WINDOW]))
    t.join(120)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert acked[0] == n + 1 and len(sink.events) == n, f"{acked[0]} responses"
    c.close()
    srv.stop()
    return n / dt, cpu / n * 1e6


def load_1min() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
