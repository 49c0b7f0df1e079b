"""A 3-node local cluster (``deploy/es.sh`` with SOCMON_ES_LOCAL_NODES=3) fed by two site
collectors (separate ``socmon collect`` processes, different organisation units, their own
spools), one node killed -9 mid-way and started again: the cluster goes yellow, never red;
at the end exactly every event is stored once, and the brute-force bursts raise their alerts
once (issue 14).

Size: SOCMON_TEST_CLUSTER_EVENTS events in all (default 40,000: ~2-3 minutes on the shared
2-core machine, most of it the node's restart); the issue's 200,000 with the variable set.
Ports: SOCMON_TEST_CLUSTER_ES_PORT .. +2 (default 9261-9263, transport +100).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames, apply_templates
from socmon.rules.scheduled import ScheduledRunner
from socmon.rules.scheduled_output import DetectionOutput
from socmon.settings import PROJECT_ROOT, load_settings
from tests.rules.test_late_events import brute_only

pytestmark = [pytest.mark.es, pytest.mark.slow, pytest.mark.cluster]

PORT = int(os.environ.get("SOCMON_TEST_CLUSTER_ES_PORT", "9261"))
URLS = [f"http://127.0.0.1:{PORT + i}" for i in range(3)]
TOTAL = int(os.environ.get("SOCMON_TEST_CLUSTER_EVENTS", "40000"))
BURSTS = 5  # per site: 5 addresses x 10 failures -> 1 alert each (rule: >= 10 in 5 minutes)


def es_script(action: str) -> None:
    env = dict(
        os.environ,
        SOCMON_ES_LOCAL_PORT=str(PORT),
        SOCMON_ES_LOCAL_NODES="3",
        SOCMON_ES_LOCAL_HEAP="512m",
    )
    subprocess.run(["bash", str(PROJECT_ROOT / "deploy" / "es.sh"), action], env=env, check=True)


def site_lines(site: str, n: int, t0: float) -> list[bytes]:
    """n RFC 5424 sshd lines of one site: logins accepted, and BURSTS bursts of 10 failures."""
    out: list[bytes] = []
    fail_at = {n * (k + 1) // (BURSTS + 1): k for k in range(BURSTS)}
    i = 0
    while len(out) < n:
        ts = dt.datetime.fromtimestamp(t0 + len(out) * 0.001, dt.UTC)
        stamp = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        head = f"<38>1 {stamp} {site}-srv{i % 7} sshd {1000 + i % 50} - - "
        k = fail_at.get(len(out))
        if k is not None:
            ip = f"198.51.{ord(site[-1])}.{k + 1}"
            out += [
                (head + f"Failed password for root from {ip} port {4000 + j} ssh2\n").encode()
                for j in range(10)
            ]
        else:
            out.append(
                (head + f"Accepted publickey for u{i} from 10.9.0.{i % 250} port {i}\n").encode()
            )
        i += 1
    return out[:n]


def test_cluster_node_killed_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    es_script("up")
    client = Elasticsearch(URLS, request_timeout=30, retry_on_timeout=True, max_retries=5)
    names = IndexNames(f"socmon-cluster-{uuid.uuid4().hex[:8]}")
    apply_templates(client, names, redecide=True)  # what `socmon setup` does: 3 data nodes
    statuses: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                statuses.append(client.cluster.health(index=names.events_pattern)["status"])
            stop.wait(0.5)

    procs: list[subprocess.Popen[bytes]] = []
    feeders: list[threading.Thread] = []
    t0 = time.time() - 600
    try:
        threading.Thread(target=watch, daemon=True).start()
        for site in ("site-a", "site-b"):
            cfg = tmp_path / f"{site}.yaml"
            cfg.write_text(
                "collectors:\n  organization_units:\n"
                f"    - {{id: {site}, name: {site}, hosts: ['{site}-*']}}\n"
            )
            env = dict(
                os.environ,
                SOCMON_CONFIG=str(cfg),
                SOCMON_ES_URL=",".join(URLS),
                SOCMON_ES_INDEX_PREFIX=names.prefix,
                SOCMON_VAR_DIR=str(tmp_path / site),
                SOCMON_STORAGE_SPOOL_DIR=str(tmp_path / site / "spool"),
                SOCMON_STORAGE_BATCH_SIZE="500",
                SOCMON_STORAGE_BACKOFF_INITIAL="0.1",
                SOCMON_STORAGE_BACKOFF_MAX="2",
                SOCMON_ES_REQUEST_TIMEOUT="10",
            )
            p = subprocess.Popen(
                [sys.executable, "-m", "socmon", "collect", "--stdin", "--stdin-format", "syslog"],
                env=env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
            )
            procs.append(p)
            lines = site_lines(site, TOTAL // 2, t0)

            def feed(p: subprocess.Popen[bytes] = p, lines: list[bytes] = lines) -> None:
                assert p.stdin is not None
                for k in range(0, len(lines), 500):
                    p.stdin.write(b"".join(lines[k : k + 500]))
                    p.stdin.flush()
                    time.sleep(0.1)
                p.stdin.close()

            feeders.append(threading.Thread(target=feed, daemon=True))
        for f in feeders:
            f.start()
        deadline = time.monotonic() + 120
        while count(client, names) < TOTAL // 4 and time.monotonic() < deadline:
            time.sleep(0.3)
        # kill -9 the third node mid-way (its pid file is written by Elasticsearch)
        var = Path(os.environ.get("SOCMON_VAR_DIR", PROJECT_ROOT / "var"))
        victim = var / "es" / f"node-{PORT + 2}" / "es.pid"
        os.kill(int(victim.read_text()), signal.SIGKILL)
        time.sleep(10)
        es_script("up")  # starts the missing node again (idempotent for the others)
        for f in feeders:
            f.join(timeout=300)
        for p in procs:
            assert p.wait(timeout=300) == 0
        client.cluster.health(wait_for_status="green", timeout="120s")
        stop.set()
        # one replica per shard (the rule for two or more data nodes), so the killed node's
        # shards had a copy elsewhere
        got = client.indices.get_settings(
            index=f"{names.events_pattern},{names.alerts}", name="index.number_of_replicas"
        )
        assert {i: v["settings"]["index"]["number_of_replicas"] for i, v in got.items()} == {
            i: "1" for i in got
        } and len(got) >= 2
        assert "yellow" in statuses and "red" not in statuses, sorted(set(statuses))
        assert count(client, names) == TOTAL
        per_unit = client.search(
            index=names.events_pattern,
            size=0,
            aggs={"u": {"terms": {"field": "organization.id"}}},
        )["aggregations"]["u"]["buckets"]
        assert {b["key"]: b["doc_count"] for b in per_unit} == {
            "site-a": TOTAL // 2,
            "site-b": TOTAL // 2,
        }
        # the bursts raise their alerts centrally, once
        s = load_settings(es={"url": ",".join(URLS), "index_prefix": names.prefix})
        ds = s.detection.model_copy(update={"scheduled_delay": 0.0, "scheduled_lookback": 3600.0})
        r = ScheduledRunner(client, names, brute_only(), ds, DetectionOutput(client, names))
        assert r.run_once() == 2 * BURSTS
        assert r.run_once() == 0
    finally:
        stop.set()
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill()
        with contextlib.suppress(Exception):
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
        es_script("down")


def count(client: Elasticsearch, names: IndexNames) -> int:
    client.indices.refresh(index=names.events_pattern, allow_no_indices=True)
    return int(client.count(index=names.events_pattern, allow_no_indices=True)["count"])
