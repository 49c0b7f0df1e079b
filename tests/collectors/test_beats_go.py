"""The Beats input against a real Beats client: elastic/go-lumber's v2 client (the library
libbeat's Logstash output is built on), in a few lines of Go under
tests/fixtures/beats_client, built here with the Go toolchain (GOFLAGS=-mod=mod; go.mod and
go.sum pin the module). It behaves as Beats do: a window is kept until socmon ACKs it, and
after a broken connection everything not acknowledged is sent again.

- kill -9 of `socmon collect` mid-stream, restart: every event in Elasticsearch exactly once;
- mutual TLS: the client verifies socmon's certificate, socmon requires the client's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from elasticsearch.helpers import scan

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.beats_server import BeatsServer
from socmon.pipeline import ListSink
from socmon.settings import load_settings
from socmon.settings.collectors import BeatsSource
from tests.collectors.test_es import _collect, _collect_config, _count, _stop
from tests.collectors.test_relp import _free_port

CLIENT_SRC = Path(__file__).resolve().parents[1] / "fixtures" / "beats_client"


@pytest.fixture(scope="session")
def beats_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).exists()), None
    )
    if go is None:
        pytest.skip("no Go toolchain: the real Beats client (go-lumber) cannot be built")
    out = tmp_path_factory.mktemp("beats-client") / "beatsclient"
    r = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=CLIENT_SRC,
        env=dict(os.environ, GOFLAGS="-mod=mod"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return out


def _openssl_cert(d: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (with the subjectAltName Go requires)."""
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={name}", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.es
@pytest.mark.slow
def test_go_lumber_client_kill_9_then_restart_exactly_once(
    beats_client: Path, es_client, es_url, names, index_prefix, tmp_path
) -> None:
    n = 20_000
    port = _free_port()
    listener = {"bind": "127.0.0.1", "port": port}
    config = _collect_config(
        tmp_path, es_url, index_prefix, {}, 200, 0.2, collectors={"beats": [listener]}
    )
    p = _collect(config)
    client = subprocess.Popen(
        [str(beats_client), "-addr", f"127.0.0.1:{port}", "-n", str(n), "-window", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while _count(es_client, names) < n // 5:
            assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        mid = _count(es_client, names)
        assert mid < n, "everything arrived before the kill; send more"
        time.sleep(1.0)  # the client retries against a closed port meanwhile
        p = _collect(config)
        out, err = client.communicate(timeout=180)
        assert client.returncode == 0, err
        sent = json.loads(out.strip().splitlines()[-1])
        # the client saw the break and connected again; everything was acknowledged
        assert sent["acked"] == n and sent["connections"] >= 2, sent
        time.sleep(1.0)  # anything still coming would be a duplicate
        offsets = [
            h["_source"]["log"]["offset"]
            for h in scan(es_client, index=names.events_pattern, _source=["log.offset"])
        ]
        assert len(offsets) == n, f"{len(offsets)} documents for {n} events"
        assert sorted(offsets) == [i * 200 for i in range(n)]  # each event exactly once
        print(f"killed at {mid} of {n}; client: {sent}")
    finally:
        _stop(p)
        if client.poll() is None:
            client.kill()


def test_go_lumber_client_over_mutual_tls(beats_client: Path, tmp_path: Path) -> None:
    server_cert, server_key = _openssl_cert(tmp_path, "server")
    client_cert, client_key = _openssl_cert(tmp_path, "client")
    s = load_settings()
    sink = ListSink()
    srv = BeatsServer(
        BeatsSource(
            bind="127.0.0.1",
            port=0,
            cert_file=server_cert,
            key_file=server_key,
            ca_file=client_cert,
        ),
        s.collectors,
        sink,
        Enricher(s.collectors),
    )
    srv.start()
    try:
        base = [str(beats_client), "-addr", f"127.0.0.1:{srv.port}", "-ca", str(server_cert)]
        r = subprocess.run(
            [*base, "-n", "3000", "-cert", str(client_cert), "-key", str(client_key)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["acked"] == 3000
        assert len({i for i, _ in sink.events}) == 3000
        # without a client certificate: refused (the client gives up at its deadline)
        r = subprocess.run(
            [*base, "-n", "1", "-deadline", "2s"], capture_output=True, text=True, timeout=60
        )
        assert r.returncode != 0 and len(sink.events) == 3000
    finally:
        srv.stop()
