"""Into the real Elasticsearch: Suricata per-signature counts, a followed file and syslog over
UDP/TCP/TLS searchable within 2 s, and kill -9 of `socmon collect` mid-file then restart:
every line exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from elasticsearch import ApiError, Elasticsearch

from socmon.bulk import BulkWriter
from socmon.collectors.services import build_sources
from socmon.indices import IndexNames
from socmon.settings import PROJECT_ROOT, Settings
from socmon.storage_sink import StorageSink
from tests.collectors.helpers import read_events

pytestmark = pytest.mark.es


def _writer(es_client: Elasticsearch, settings: Settings, names: IndexNames) -> BulkWriter:
    s = settings.storage.model_copy(update={"flush_interval": 0.2})
    w = BulkWriter(es_client, s, names, spool_dir=settings.storage.spool_dir)
    w.start()
    return w


def _count(es: Elasticsearch, names: IndexNames, query: dict | None = None) -> int:
    """Documents in the events indices. A daily index the collector is creating at this very
    moment has no started shard yet and answers 503: counted again once it has one."""
    deadline = time.monotonic() + 30
    while True:
        try:
            es.indices.refresh(
                index=names.events_pattern, ignore_unavailable=True, allow_no_indices=True
            )
            r = es.count(
                index=names.events_pattern,
                query=query or {"match_all": {}},
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            return int(r["count"])
        except ApiError as e:
            if e.meta.status != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_count(
    es: Elasticsearch, names: IndexNames, n: int, timeout: float, query: dict | None = None
) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if _count(es, names, query) >= n:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"only {_count(es, names, query)} of {n} events after {timeout}s")


@pytest.mark.datasets
def test_suricata_signature_counts_in_es(es_client, names, settings, datasets: Path) -> None:
    files = sorted((datasets / "suricata-eve" / "samples").glob("*/alerts-only.json"))
    expected: Counter[str] = Counter()
    writer = _writer(es_client, settings, names)
    sink = StorageSink(writer, names)
    for f in files:
        for rec in json.loads(f.read_text()):
            expected[str(rec["alert"]["signature_id"])] += 1
        read_events(f, "suricata", sink=sink)
    assert writer.flush(60)
    writer.close()
    assert writer.counts["dead_lettered"] == 0
    es_client.indices.refresh(index=names.events_pattern)
    r = es_client.search(
        index=names.events_pattern,
        size=0,
        aggs={"sig": {"terms": {"field": "rule.id", "size": 10000}}},
    )
    got = {b["key"]: b["doc_count"] for b in r["aggregations"]["sig"]["buckets"]}
    assert got == dict(expected)


def test_file_and_syslog_searchable_within_2s(
    es_client, names, settings, tmp_path, tls_files
) -> None:
    log = tmp_path / "app.log"
    log.write_text("Jan  1 00:00:00 h app[1]: first line\n")
    cert, key = tls_files
    cfg = settings.collectors.model_validate(
        {
            **settings.collectors.model_dump(),
            **{
                "files": [
                    {
                        "paths": [str(tmp_path / "*.log")],
                        "format": "syslog",
                        "start_at": "beginning",
                        "poll_interval": 0.05,
                    }
                ],
                "syslog": [
                    {"protocol": "udp", "bind": "127.0.0.1", "port": 0},
                    {"protocol": "tcp", "bind": "127.0.0.1", "port": 0},
                    {
                        "protocol": "tls",
                        "bind": "127.0.0.1",
                        "port": 0,
                        "cert_file": str(cert),
                        "key_file": str(key),
                    },
                ],
                "organization_units": [
                    {"id": "lo", "name": "Loopback", "senders": ["127.0.0.0/8"]}
                ],
            },
        }
    )
    s = settings.model_copy(update={"collectors": cfg})
    writer = _writer(es_client, s, names)
    services = build_sources(s, StorageSink(writer, names), writer.flush)
    for svc in services:
        svc.start()
    try:
        _wait_count(es_client, names, 1, 5)
        # a line appended while running
        with open(log, "a") as f:
            f.write(
                "Jan  1 00:00:01 h sshd[2]: Failed password for root from 192.0.2.1 port 1 ssh2\n"
            )
        took = _wait_count(es_client, names, 1, 2, {"term": {"source.ip": "192.0.2.1"}})
        assert took < 2.0
        ports = {
            svc.inner.cfg.protocol: svc.inner.port
            for svc in services
            if svc.name.startswith("syslog")
        }
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(
            b"<34>Oct 11 22:14:15 udphost su: 'su root' failed for lonvick on /dev/pts/8",
            ("127.0.0.1", ports["udp"]),
        )
        t = socket.create_connection(("127.0.0.1", ports["tcp"]))
        msg = b"<165>1 2026-01-01T00:00:00Z tcphost app - - - octet framed"
        t.sendall(
            str(len(msg)).encode() + b" " + msg + b"<13>Jan  1 00:00:00 tcphost x: newline framed\n"
        )
        t.close()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", ports["tls"])) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tl,
        ):
            tl.sendall(b"<13>Jan  1 00:00:00 tlshost y: over tls\n")
        silent = socket.create_connection(("127.0.0.1", ports["tcp"]))  # sends nothing
        took = _wait_count(
            es_client, names, 4, 2, {"terms": {"host.name": ["udphost", "tcphost", "tlshost"]}}
        )
        assert took < 2.0
        silent.close()
        r = es_client.search(index=names.events_pattern, query={"term": {"host.name": "udphost"}})
        doc = r["hits"]["hits"][0]["_source"]
        assert doc["log"]["source"]["ip"] == "127.0.0.1"
        assert doc["organization"] == {"id": "lo", "name": "Loopback"}
    finally:
        for svc in services:
            svc.stop()
        writer.close()


def _collect_config(
    tmp_path: Path,
    es_url: str,
    index_prefix: str,
    source: dict[str, object],
    batch_size: int,
    flush_interval: float,
    collectors: dict[str, object] | None = None,
) -> Path:
    """A `socmon collect` configuration with one file source (or the given ``collectors``
    section), written under ``tmp_path``."""
    config = tmp_path / "socmon.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "es": {"url": es_url, "index_prefix": index_prefix},
                "var_dir": str(tmp_path / "var"),
                "storage": {
                    "spool_dir": str(tmp_path / "spool"),
                    "batch_size": batch_size,
                    "flush_interval": flush_interval,
                },
                "log": {"level": "WARNING"},
                "collectors": collectors
                or {
                    "files": [
                        {"format": "syslog", "start_at": "beginning", "poll_interval": 0.05}
                        | source
                    ],
                    "checkpoint_interval": 0.05,
                },
            }
        )
    )
    return config


def _stop(p: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it has not stopped within 30 s."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def _collect(config: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SOCMON_CONFIG=str(config))
    return subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "socmon"), "collect"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_9_mid_file_then_restart_exactly_once(
    es_client, es_url, names, index_prefix, tmp_path
) -> None:
    n = 60_000
    log = tmp_path / "big.log"
    with open(log, "w") as f:
        for i in range(n):
            f.write(f"Jan  1 00:00:00 h app[1]: line {i:06d} {'x' * 40}\n")
    config = _collect_config(tmp_path, es_url, index_prefix, {"paths": [str(log)]}, 500, 0.2)
    p = _collect(config)
    try:
        deadline = time.monotonic() + 60
        while _count(es_client, names) < n // 5:
            assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        mid = _count(es_client, names)
        assert mid < n, "the collector finished before the kill; make the file bigger"
        p = _collect(config)
        _wait_count(es_client, names, n, 90)
        time.sleep(1.0)  # anything still coming would be a duplicate
        assert _count(es_client, names) == n
        # ids are deterministic (file identity + offset), so a line read twice cannot become
        # two documents: count == n means every line exactly once.
        r = es_client.search(
            index=names.events_pattern, size=0, aggs={"o": {"stats": {"field": "log.offset"}}}
        )
        assert r["aggregations"]["o"]["min"] == 0
    finally:
        _stop(p)
    print(f"killed at {mid} of {n}", file=sys.stderr)
