"""`socmon run` starts against the real node, applies the templates, serves /metrics, and stops
cleanly on SIGTERM, whenever the signal comes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()[-3000:]}"
            time.sleep(0.05)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code; a process still running after ``timeout`` is made to
        dump its threads' stacks (faulthandler, on SIGABRT) into the failure message."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(timeout=30)
            pytest.fail(f"still running {timeout} s after SIGTERM:\n{self.output()[-20000:]}")


@pytest.fixture
def running(es_url: str, index_prefix: str, tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env.update(
        SOCMON_ES_URL=es_url,
        SOCMON_ES_INDEX_PREFIX=index_prefix,
        SOCMON_VAR_DIR=str(tmp_path / "var"),
        SOCMON_STORAGE_SPOOL_DIR=str(tmp_path / "spool"),
        SOCMON_METRICS_PORT=str(port),
        SOCMON_API_ENABLED="false",
        PYTHONFAULTHANDLER="1",
    )
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "socmon", "run"], env=env, cwd=PROJECT_ROOT, stderr=err
        )
    r = Running(proc, log, port)
    try:
        yield r
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_applies_templates_serves_metrics_and_stops_on_sigterm(
    running: Running, es_client: Elasticsearch, index_prefix: str
) -> None:
    body = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and running.proc.poll() is None:
        try:
            url = f"http://127.0.0.1:{running.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as r:
                body = r.read().decode()
            break
        except OSError:
            time.sleep(0.3)
    assert running.proc.poll() is None, running.output()[-3000:]
    assert "socmon_bulk_documents_total" in body
    assert templates_applied(es_client, IndexNames(index_prefix))
    # the signal comes as soon as /metrics answers: while the services are being started
    assert running.terminate() == 0, running.output()[-3000:]
    assert '"message":"socmon stopped"' in running.output().replace('": "', '":"')


def test_sigterm_during_start_up_stops_once_started_without_starting_services(
    running: Running,
) -> None:
    running.wait_for('"message":"index templates applied"')
    assert running.terminate() == 0, running.output()[-3000:]
    out = running.output()
    assert '"message":"socmon stopped"' in out
    assert '"message":"socmon running"' not in out  # the signal was seen before services ran
