"""`socmon run` starts against the real node, applies the templates, serves /metrics, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames, templates_applied
from socmon.settings import PROJECT_ROOT

pytestmark = pytest.mark.es


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_applies_templates_serves_metrics_and_stops_on_sigterm(
    es_url: str, es_client: Elasticsearch, index_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env.update(
        SOCMON_ES_URL=es_url,
        SOCMON_ES_INDEX_PREFIX=index_prefix,
        SOCMON_VAR_DIR=str(tmp_path / "var"),
        SOCMON_STORAGE_SPOOL_DIR=str(tmp_path / "spool"),
        SOCMON_METRICS_PORT=str(port),
        SOCMON_API_ENABLED="false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "socmon", "run"],
        env=env,
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert "socmon_bulk_documents_total" in body
        assert templates_applied(es_client, IndexNames(index_prefix))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 0, err[-3000:]
    assert '"message": "socmon stopped"' in err.replace('":"', '": "') or "socmon stopped" in err
