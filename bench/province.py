"""Province benchmark (issue 14): simulated sites -> site collectors -> Elasticsearch ->
the central service's scheduled detection -> alerts, all real processes on this machine.

    .venv/bin/python bench/province.py [--sites 140] [--collectors 2] [--nodes 1|3]
        [--rate 1500] [--duration 60] [--bursts 12] [--es URL]

- **Sites** (``--sites``, default 140 units: ~40 departments and ~100 communes and wards)
  send a mix at ``--rate`` events/s in all, spread evenly over the sites: syslog over RELP
  from Linux servers (40%: one RELP connection per site, acknowledged), syslog over UDP from
  network devices (20%), web access logs written to a file per site (25%), Windows Security
  events from Winlogbeat over the Beats input (15%: one lumberjack connection per site,
  windows zlib-compressed). Every line is unique; each site's hosts are named
  ``sNNN-*`` and its access log ``sNNN.log``, which map it to its own organisation unit.
- **Site collectors** (``--collectors``, default 2: what this 2-core machine carries next to
  Elasticsearch, the central service and the load generator): each a ``socmon collect``
  process serving ``sites / collectors`` sites (a RELP, a UDP and a Beats listener and a file
  source), default storage settings.
- **Elasticsearch**: ``--es URL``, or a local node or cluster started with ``deploy/es.sh``
  (``--nodes``, ports from ``--es-port``; stopped at the end unless ``--keep-es``).
- **Central service**: ``socmon run`` with scheduled detection (every shipped rule,
  ``--interval`` seconds, default 10) and alerting, no collectors, no API.
- **Attack bursts** (``--bursts``): 12 failed SSH logins from a fresh address at a random
  site over its RELP connection, spread over the run; latency = the alert document's
  ``created`` minus the moment the burst was sent (the shipped brute-force rule: >= 10 in 5
  minutes).

Figures: sustained events/s (stored / time from the first line sent to the last stored),
end-to-end latency p50/p95, Elasticsearch bytes per event (store size / documents after a
refresh and a flush, not force-merged; primaries, and with replicas when there are any) and
per day at the measured rate, CPU seconds per 1,000 events (= cores per 1,000 events/s) of
each role (collector processes, central service, Elasticsearch nodes, the load generator).
Baseline in the same run: the same stored documents bulk-loaded straight into another index
with the elasticsearch client (``helpers.parallel_bulk``, 2 threads, 2,000 per request): its
rate, and its client and Elasticsearch CPU per 1,000 events, against the collectors'. Ends
with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import Elasticsearch, helpers  # noqa: E402

from socmon.collectors.sources import relp  # noqa: E402

SSH_BRUTE = "ffbe4eca-2102-4b00-bdbf-d2841b905fff"
MIX = {"relp": 0.40, "udp": 0.20, "access": 0.25, "windows": 0.15}
TICK = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children (clock ticks -> seconds)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


# ------------------------------------------------------------------ the sites' traffic


class Site:
    def __init__(self, i: int, collector: int) -> None:
        self.i = i
        self.name = f"s{i:03d}"
        self.collector = collector
        self.seq = 0
        self.relp_txnr = 1
        self.record_id = 0
        self.acc = dict.fromkeys(MIX, 0.0)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def next_relp(self) -> int:
        self.relp_txnr += 1
        return self.relp_txnr

    def relp_line(self, now: float) -> bytes:
        n = self.next_seq()
        host = f"{self.name}-srv{n % 5}"
        msg = (
            f"Accepted publickey for deploy from 10.{self.i % 250}.{n % 250}.{n % 200 + 1} "
            f"port {1024 + n % 60000} ssh2: RSA SHA256:k{n}"
            if n % 3
            else f"({self.name}) CMD (run-parts /etc/cron.hourly) seq={n}"
        )
        app = "sshd" if n % 3 else "CRON"
        return f"<86>1 {iso(now)} {host} {app} {1000 + n % 30000} - - {msg}".encode()

    def udp_line(self, now: float) -> bytes:
        n = self.next_seq()
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%b %e %H:%M:%S")
        return (
            f"<4>{stamp} {self.name}-fw1 kernel: [UFW BLOCK] IN=eth0 OUT= "
            f"SRC=192.0.2.{n % 250 + 1} DST=10.{self.i % 250}.0.1 LEN=60 PROTO=TCP "
            f"SPT={1024 + n % 60000} DPT={(22, 80, 443, 3389)[n % 4]} ID={n}"
        ).encode()

    def access_line(self, now: float) -> bytes:
        """A combined-format line; the client address and path name the site, so no two
        sites' logs begin alike (socmon knows a file by its first bytes: two files beginning
        alike are taken for a copy and its offset, docs/collectors.md)."""
        n = self.next_seq()
        stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        return (
            f"10.{self.i % 250}.{n % 250}.{n % 200 + 1} - - [{stamp}] "
            f'"GET /portal/{self.name}/tin-tuc?id={n} HTTP/1.1" '
            f'200 {500 + n % 9000} "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"\n'
        ).encode()

    def windows_doc(self, now: float) -> bytes:
        self.record_id += 1
        n = self.record_id
        host = f"{self.name}-pc{n % 4}"
        doc = {
            "@timestamp": iso(now),
            "agent": {"name": host, "id": f"agent-{self.name}", "type": "winlogbeat"},
            "ecs": {"version": "8.0.0"},
            "host": {"name": host},
            "event": {
                "code": "4624",
                "kind": "event",
                "provider": "Microsoft-Windows-Security-Auditing",
            },
            "winlog": {
                "api": "wineventlog",
                "channel": "Security",
                "computer_name": host,
                "event_id": "4624",
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "record_id": n,
                "event_data": {
                    "TargetUserName": f"nv{n % 40}",
                    "TargetDomainName": "UBND",
                    "LogonType": "3",
                    "IpAddress": f"10.{self.i % 250}.1.{n % 250 + 1}",
                    "WorkstationName": host.upper(),
                },
            },
        }
        return json.dumps(doc).encode()


class Traffic:
    """Sends every site's share of the mix each tick; reads the acknowledgements."""

    def __init__(self, sites: list[Site], ports: list[dict[str, int]], logs: list[Path]) -> None:
        self.sites = sites
        self.ports = ports
        self.sent = dict.fromkeys(MIX, 0)
        self.burst_sent: dict[str, float] = {}
        self.relp_acks = 0
        self.beats_acks = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sel = selectors.DefaultSelector()
        self.relp: dict[int, socket.socket] = {}
        self.beats: dict[int, socket.socket] = {}
        self.files: dict[int, Any] = {}
        for s in sites:
            p = ports[s.collector]
            r = socket.create_connection(("127.0.0.1", p["relp"]))
            r.sendall(relp.frame(s.next_relp(), "open", b"relp_version=0\ncommands=syslog"))
            self.relp[s.i] = r
            self.sel.register(r, selectors.EVENT_READ, ("relp", relp.FrameReader(4096)))
            b = socket.create_connection(("127.0.0.1", p["beats"]))
            self.beats[s.i] = b
            self.sel.register(b, selectors.EVENT_READ, ("beats", bytearray()))
            self.files[s.i] = open(logs[s.collector] / f"{s.name}.log", "ab")  # noqa: SIM115
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.sel.select(0.2):
                kind, state = key.data
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(key.fileobj)
                    continue
                if kind == "relp":
                    self.relp_acks += sum(1 for f in state.feed(data) if f.command == "rsp")
                else:
                    state += data
                    while len(state) >= 6:
                        del state[:6]
                        self.beats_acks += 1

    def tick(self, now: float, per_site: float) -> None:
        udp_port = {k: p["udp"] for k, p in enumerate(self.ports)}
        for s in self.sites:
            due = {}
            for kind, share in MIX.items():
                s.acc[kind] += per_site * share * TICK
                due[kind] = int(s.acc[kind])
                s.acc[kind] -= due[kind]
            if due["relp"]:
                frames = b"".join(
                    relp.frame(s.next_relp(), "syslog", s.relp_line(now))
                    for _ in range(due["relp"])
                )
                self.relp[s.i].sendall(frames)
            for _ in range(due["udp"]):
                self.udp.sendto(s.udp_line(now), ("127.0.0.1", udp_port[s.collector]))
            if due["access"]:
                f = self.files[s.i]
                f.write(b"".join(s.access_line(now) for _ in range(due["access"])))
                f.flush()
            if due["windows"]:
                frames = []
                for j in range(due["windows"]):
                    body = s.windows_doc(now)
                    frames.append(b"2J" + struct.pack(">II", j + 1, len(body)) + body)
                z = zlib.compress(b"".join(frames), 3)
                self.beats[s.i].sendall(
                    b"2W" + struct.pack(">I", len(frames)) + b"2C" + struct.pack(">I", len(z)) + z
                )
            for kind, k in due.items():
                self.sent[kind] += k

    def burst(self, site: Site, ip: str) -> None:
        now = time.time()
        lines = [
            f"<38>1 {iso(now)} {site.name}-srv0 sshd 2222 - - Failed password for root from "
            f"{ip} port {40000 + j} ssh2".encode()
            for j in range(12)
        ]
        self.relp[site.i].sendall(
            b"".join(relp.frame(site.next_relp(), "syslog", m) for m in lines)
        )
        self.burst_sent[ip] = now
        self.sent["relp"] += len(lines)

    def close(self) -> None:
        self._stop.set()
        self._reader.join(2)
        for f in self.files.values():
            f.close()
        for c in [*self.relp.values(), *self.beats.values(), self.udp]:
            with contextlib.suppress(OSError):
                c.close()

    @property
    def total(self) -> int:
        return sum(self.sent.values())


# ------------------------------------------------------------------ processes


def start_socmon(
    cmd: str, config: dict[str, Any], work: Path, name: str
) -> subprocess.Popen[bytes]:
    path = work / f"{name}.yaml"
    path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env["SOCMON_CONFIG"] = str(path)
    env["SOCMON_LOG_LEVEL"] = "WARNING"
    with open(work / f"{name}.log", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "socmon", cmd],
            env=env,
            cwd=ROOT,
            stderr=err,
            stdout=subprocess.DEVNULL,
        )


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a socmon process exited early (status {proc.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.3)
    raise SystemExit(f"port {port} did not open in time")


def es_nodes(var_dir: Path, port: int, nodes: int) -> list[int]:
    pids = []
    for p in range(port, port + nodes):
        f = var_dir / "es" / f"node-{p}" / "es.pid"
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(f.read_text()))
    return pids


def es_cpu(client: Elasticsearch) -> float:
    """CPU seconds of every node (the node stats' process CPU: also for a remote cluster)."""
    st = client.nodes.stats(metric="process")
    return sum(n["process"]["cpu"]["total_in_millis"] for n in st["nodes"].values()) / 1000


# ------------------------------------------------------------------ measurement


def count(client: Elasticsearch, pattern: str) -> int:
    client.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
    return int(client.count(index=pattern, allow_no_indices=True)["count"])


def store_figures(client: Elasticsearch, pattern: str) -> dict[str, float]:
    client.indices.refresh(index=pattern)
    client.indices.flush(index=pattern, wait_if_ongoing=True)
    st = client.indices.stats(index=pattern, metric="store,docs")["_all"]
    docs = st["primaries"]["docs"]["count"]
    return {
        "docs": docs,
        "primary_bytes": st["primaries"]["store"]["size_in_bytes"],
        "total_bytes": st["total"]["store"]["size_in_bytes"],
        "primary_bytes_per_event": st["primaries"]["store"]["size_in_bytes"] / max(docs, 1),
        "total_bytes_per_event": st["total"]["store"]["size_in_bytes"] / max(docs, 1),
    }


def baseline(client: Elasticsearch, prefix: str, docs_pattern: str) -> dict[str, float]:
    """The stored documents bulk-loaded straight into ``<prefix>-direct-*`` with the client."""
    docs = [
        (
            h["_index"].replace(f"{prefix}-events-", f"{prefix}-direct-events-"),
            h["_id"],
            h["_source"],
        )
        for h in helpers.scan(client, index=docs_pattern, size=5000)
    ]
    client.indices.put_index_template(
        name=f"{prefix}-direct",
        index_patterns=[f"{prefix}-direct-events-*"],
        priority=600,
        template=client.indices.get_index_template(name=f"{prefix}-events")["index_templates"][0][
            "index_template"
        ]["template"],
    )
    actions = ({"_op_type": "create", "_index": i, "_id": d, "_source": s} for i, d, s in docs)
    es0, c0, t0 = es_cpu(client), time.process_time(), time.perf_counter()
    ok = sum(
        1
        for good, _ in helpers.parallel_bulk(
            client, actions, thread_count=2, chunk_size=2000, raise_on_error=False
        )
        if good
    )
    client.indices.refresh(index=f"{prefix}-direct-events-*")
    wall = time.perf_counter() - t0
    es_s, client_s = es_cpu(client) - es0, time.process_time() - c0
    out = {
        "events": ok,
        "seconds": wall,
        "events_per_s": ok / wall,
        "es_cpu_s_per_1000": es_s / (ok / 1000),
        "client_cpu_s_per_1000": client_s / (ok / 1000),
    }
    out.update(
        {f"store_{k}": v for k, v in store_figures(client, f"{prefix}-direct-events-*").items()}
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=140)
    ap.add_argument("--collectors", type=int, default=2)
    ap.add_argument("--rate", type=float, default=1500.0, help="events/s offered, all sites")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--bursts", type=int, default=12)
    ap.add_argument("--interval", type=float, default=10.0, help="central scheduled interval")
    ap.add_argument("--nodes", type=int, default=1, choices=(1, 3))
    ap.add_argument("--es", default=None, help="an existing cluster's URL (comma-separated)")
    ap.add_argument(
        "--es-port",
        type=int,
        default=int(os.environ.get("SOCMON_BENCH_ES_PORT", 9200)),
        help="first HTTP port of the local node(s) (default 9200, or $SOCMON_BENCH_ES_PORT)",
    )
    ap.add_argument("--es-heap", default="1g")
    ap.add_argument("--var-dir", type=Path, default=None, help="for the local node(s)")
    ap.add_argument("--keep-es", action="store_true")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    rnd = random.Random(14)
    work = Path(tempfile.mkdtemp(prefix="socmon-province-"))
    var_dir = args.var_dir or ROOT / "var" / f"bench-province-{args.nodes}"
    started_es = False
    if args.es:
        url = args.es
    else:
        var_dir.mkdir(parents=True, exist_ok=True)
        cache = ROOT / "var" / "cache"
        if cache.is_dir() and not (var_dir / "cache").exists():
            (var_dir / "cache").symlink_to(cache)
        env = dict(
            os.environ,
            SOCMON_ES_LOCAL_PORT=str(args.es_port),
            SOCMON_ES_LOCAL_NODES=str(args.nodes),
            SOCMON_ES_LOCAL_HEAP=args.es_heap,
            SOCMON_VAR_DIR=str(var_dir),
        )
        subprocess.run(["bash", str(ROOT / "deploy" / "es.sh"), "up"], env=env, check=True)
        started_es = True
        url = ",".join(
            f"http://127.0.0.1:{p}" for p in range(args.es_port, args.es_port + args.nodes)
        )
    client = Elasticsearch(url.split(","), request_timeout=120)
    prefix = f"bench-province-{uuid.uuid4().hex[:6]}"
    pattern = f"{prefix}-events-*"
    data_nodes = int(client.cluster.health()["number_of_data_nodes"])
    load = os.getloadavg()
    es_common = {"url": url, "index_prefix": prefix}

    sites = [Site(i + 1, i % args.collectors) for i in range(args.sites)]
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[dict[str, int]] = []
    logs: list[Path] = []
    traffic: Traffic | None = None
    try:
        # `socmon setup`: templates and the replica decision (1 with >= 2 data nodes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
        env.update(SOCMON_ES_URL=url, SOCMON_ES_INDEX_PREFIX=prefix)
        subprocess.run(
            [sys.executable, "-m", "socmon", "setup"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        metrics_port = free_port()
        central = start_socmon(
            "run",
            {
                "es": es_common,
                "var_dir": str(work / "central"),
                "metrics": {"port": metrics_port},
                "collectors": {"enabled": False},
                "detection": {"scheduled_interval": args.interval, "store_rules": False},
                "alerting": {"silent_sources": []},
                "api": {"enabled": False},
            },
            work,
            "central",
        )
        procs.append(central)
        for k in range(args.collectors):
            p = {"relp": free_port(), "udp": free_port(), "beats": free_port()}
            ports.append(p)
            logdir = work / f"c{k}" / "logs"
            logdir.mkdir(parents=True)
            logs.append(logdir)
            mine = [s for s in sites if s.collector == k]
            units = [
                {
                    "id": f"u-{s.name}",
                    "name": f"Site {s.name}",
                    "hosts": [f"{s.name}-*"],
                    "paths": [str(logdir / f"{s.name}.log")],
                }
                for s in mine
            ]
            for s in mine:
                (logdir / f"{s.name}.log").touch()
            procs.append(
                start_socmon(
                    "collect",
                    {
                        "es": es_common,
                        "var_dir": str(work / f"c{k}"),
                        "collectors": {
                            "organization_units": units,
                            "syslog": [
                                {"protocol": "relp", "bind": "127.0.0.1", "port": p["relp"]},
                                {"protocol": "udp", "bind": "127.0.0.1", "port": p["udp"]},
                            ],
                            "beats": [{"bind": "127.0.0.1", "port": p["beats"]}],
                            "files": [
                                {
                                    "paths": [str(logdir / "*.log")],
                                    "format": "nginx",
                                    "start_at": "beginning",
                                }
                            ],
                        },
                    },
                    work,
                    f"collector-{k}",
                )
            )
        wait_port(metrics_port, central)
        for k, p in enumerate(ports):
            wait_port(p["relp"], procs[1 + k])
            wait_port(p["beats"], procs[1 + k])
        traffic = Traffic(sites, ports, logs)
        pids = {
            "collectors": [p.pid for p in procs[1:]],
            "central": [central.pid],
            "generator": [os.getpid()],
        }
        cpu0 = {role: sum(cpu_seconds(x) for x in ps) for role, ps in pids.items()}
        es0 = es_cpu(client)
        per_site = args.rate / args.sites
        burst_at = sorted(rnd.uniform(2, args.duration - 2) for _ in range(args.bursts))
        t0 = time.time()
        next_tick = t0
        while (now := time.time()) < t0 + args.duration:
            traffic.tick(now, per_site)
            while burst_at and now - t0 >= burst_at[0]:
                burst_at.pop(0)
                b = len(traffic.burst_sent)
                traffic.burst(rnd.choice(sites), f"198.18.{b // 250}.{b % 250 + 1}")
            next_tick += TICK
            time.sleep(max(0.0, next_tick - time.time()))
        t_sent = time.time()
        sent = traffic.total
        # everything stored (UDP may lose datagrams: then until the count stops moving)
        last, still_since = -1, time.monotonic()
        while True:
            got = count(client, pattern)
            if got >= sent:
                break
            if got != last:
                last, still_since = got, time.monotonic()
            elif time.monotonic() - still_since > 20:
                break
            time.sleep(1)
        t_stored = time.time()
        cpu1 = {role: sum(cpu_seconds(x) for x in ps) for role, ps in pids.items()}
        es1 = es_cpu(client)
        stored = count(client, pattern)
        wall = t_stored - t0
        # the bursts' alerts (the central runs every --interval seconds)
        alerts_index = f"{prefix}-alerts"
        created: dict[str, float] = {}
        deadline = time.monotonic() + 3 * args.interval + 60
        while len(created) < len(traffic.burst_sent) and time.monotonic() < deadline:
            client.indices.refresh(index=alerts_index)
            for h in helpers.scan(
                client,
                index=alerts_index,
                query={
                    "query": {
                        "bool": {
                            "filter": [
                                {"term": {"kind": "detection"}},
                                {"term": {"rule.id": SSH_BRUTE}},
                            ]
                        }
                    }
                },
            ):
                src = h["_source"]
                ip = (src.get("source") or {}).get("ip")
                if ip in traffic.burst_sent:
                    c = dt.datetime.fromisoformat(src["created"].replace("Z", "+00:00"))
                    created[ip] = c.timestamp()
            time.sleep(2)
        latencies = [created[ip] - t for ip, t in traffic.burst_sent.items() if ip in created]
        store = store_figures(client, pattern)
        per_dataset = {
            b["key"]: b["doc_count"]
            for b in client.search(
                index=pattern, size=0, aggs={"d": {"terms": {"field": "event.dataset", "size": 50}}}
            )["aggregations"]["d"]["buckets"]
        }
        rate = stored / wall
        cpu = {role: (cpu1[role] - cpu0[role]) / (stored / 1000) for role in cpu0}
        cpu["elasticsearch"] = (es1 - es0) / (stored / 1000)
        base = baseline(client, prefix, pattern) if args.baseline else None
        result: dict[str, Any] = {
            "bench": "province",
            "sites": args.sites,
            "collectors": args.collectors,
            "es_nodes": data_nodes,
            "replicas": int(
                client.indices.get_settings(
                    index=pattern, name="index.number_of_replicas"
                ).popitem()[1]["settings"]["index"]["number_of_replicas"]
            ),
            "offered_events_per_s": args.rate,
            "duration_s": args.duration,
            "sent": sent,
            "sent_by_kind": traffic.sent,
            "stored": stored,
            "stored_by_dataset": per_dataset,
            "drain_s": round(t_stored - t_sent, 1),
            "sustained_events_per_s": round(rate, 1),
            "bursts": len(traffic.burst_sent),
            "alerts_found": len(latencies),
            "latency_p50_s": quantile(latencies, 0.5),
            "latency_p95_s": quantile(latencies, 0.95),
            "scheduled_interval_s": args.interval,
            "es_bytes_per_event_primary": round(store["primary_bytes_per_event"], 1),
            "es_bytes_per_event_total": round(store["total_bytes_per_event"], 1),
            "es_gb_per_day_at_rate_primary": round(
                store["primary_bytes_per_event"] * rate * 86400 / 1e9, 2
            ),
            "es_gb_per_day_at_rate_total": round(
                store["total_bytes_per_event"] * rate * 86400 / 1e9, 2
            ),
            "cpu_s_per_1000_events": {k: round(v, 3) for k, v in cpu.items()},
            "load_average_at_start": [round(x, 2) for x in load],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "baseline_direct_bulk": {k: round(v, 3) for k, v in base.items()} if base else None,
        }
        print_figures(result)
        print(json.dumps(result))
    finally:
        if traffic is not None:
            traffic.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        with contextlib.suppress(Exception):
            client.indices.delete(index=f"{prefix}-*", allow_no_indices=True)
            for t in client.indices.get_index_template(name=f"{prefix}*")["index_templates"]:
                client.indices.delete_index_template(name=t["name"])
        if started_es and not args.keep_es:
            subprocess.run(
                ["bash", str(ROOT / "deploy" / "es.sh"), "down"],
                env=env
                | {
                    "SOCMON_ES_LOCAL_PORT": str(args.es_port),
                    "SOCMON_ES_LOCAL_NODES": str(args.nodes),
                    "SOCMON_VAR_DIR": str(var_dir),
                },
                check=False,
            )
        shutil.rmtree(work, ignore_errors=True)


def print_figures(r: dict[str, Any]) -> None:
    def say(k: str, v: Any) -> None:
        print(f"{k:<44} {v}", file=sys.stderr)

    say(
        "sites / collectors / ES data nodes (replicas)",
        f"{r['sites']} / {r['collectors']} / {r['es_nodes']} ({r['replicas']})",
    )
    say("offered events/s x seconds", f"{r['offered_events_per_s']:.0f} x {r['duration_s']:.0f}")
    say("sent / stored", f"{r['sent']} / {r['stored']}  {r['sent_by_kind']}")
    say("sustained events/s (stored / first sent..last stored)", r["sustained_events_per_s"])
    say("drain after the load stopped (s)", r["drain_s"])
    say(
        "bursts -> alerts; latency p50 / p95 (s)",
        f"{r['bursts']} -> {r['alerts_found']}; {r['latency_p50_s']} / {r['latency_p95_s']}",
    )
    say(
        "ES bytes/event primary / with replicas",
        f"{r['es_bytes_per_event_primary']} / {r['es_bytes_per_event_total']}",
    )
    say(
        "ES GB/day at this rate primary / total",
        f"{r['es_gb_per_day_at_rate_primary']} / {r['es_gb_per_day_at_rate_total']}",
    )
    say("CPU s per 1,000 events by role", r["cpu_s_per_1000_events"])
    b = r["baseline_direct_bulk"]
    if b:
        say("baseline: direct bulk events/s", round(b["events_per_s"], 1))
        say(
            "baseline: CPU s/1,000 client / ES",
            f"{b['client_cpu_s_per_1000']} / {b['es_cpu_s_per_1000']}",
        )
        say("baseline: ES bytes/event primary", round(b["store_primary_bytes_per_event"], 1))
    say("load average start / end", f"{r['load_average_at_start']} / {r['load_average_at_end']}")


if __name__ == "__main__":
    main()
