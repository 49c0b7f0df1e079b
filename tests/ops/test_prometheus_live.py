"""A real Prometheus (Debian's, on 127.0.0.1) with the shipped configuration and rules scrapes a
real `socmon run` that collects (file, syslog, live capture on lo), detects (SSH brute force)
and notifies (webhook). Then, through Prometheus' HTTP API:

- every metric a dashboard or a rule names exists in socmon's /metrics;
- every dashboard expression and every rule expression is valid; each dashboard expression
  returns data, and so does every metric an alert reads, except the series listed below that
  only exist after a fault (each with why);
- Elasticsearch is stopped and SocmonElasticsearchUnreachable reaches pending/firing.

socmon writes to its own Elasticsearch node (port SOCMON_TEST_ES_FAULT_PORT, default the test
node's port + 2), never the shared test node, because this test stops it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from socmon.settings import PROJECT_ROOT
from tests.alerting.receivers import HttpReceiver, free_port
from tests.conftest import TEST_ES_PORT
from tests.ops.exprs import (
    PROM_DIR,
    PROMETHEUS_SERIES,
    alert_rules,
    dashboard_exprs,
    dashboards,
    exposed_names,
    metric_names,
    recorded_names,
    rule_exprs,
    substitute,
)

PROMETHEUS = shutil.which("prometheus")
# + 2: the outage test (tests/foundation/test_outage.py) has + 1
FAULT_ES_PORT = int(os.environ.get("SOCMON_TEST_ES_FAULT_PORT", str(TEST_ES_PORT + 2)))
TOKEN = "prometheus-scrape-token"

pytestmark = [
    pytest.mark.es,
    pytest.mark.ops,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus missing (deploy/test.sh installs)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="live capture on lo needs root"),
]

# Series that exist only after a fault or an operator's action; an expression reading only
# these may return nothing in a healthy run.
FAULT_ONLY = {
    "socmon_bulk_retries_total": "labelled by reason; only after a failed bulk request",
    "socmon_alerting_notification_dead_letters_total": "only when a notification exhausts "
    "its retries",
    "socmon_network_dropped_packets_total": "only when the kernel or the capture queue drops",
    "socmon_scheduled_gaps_total": "only when a scheduled rule falls behind max_catchup",
    "socmon_scheduled_gap_seconds_total": "only when a scheduled rule falls behind max_catchup",
    "socmon_scheduled_errors_total": "only when a scheduled window fails",
    "socmon_correlation_evictions_total": "only when correlation state hits its memory bound",
    "socmon_alerting_handler_errors_total": "only when writing alerts fails",
    "socmon_rules_problems_total": "only when a rule fails to load (the shipped rules load)",
    "socmon_rules_reloads_total": "only after the rule sources change while running",
    "socmon_api_audit_records_total": "only after a change through the API",
}
# Dashboard panels whose every series is fault-only.
FAULT_ONLY_PANELS = {
    "socmon-ingest / Live capture drops",
    "socmon-detection / Correlation evictions",
    "socmon-detection / Scheduled coverage gaps (1h)",
    "socmon-detection / Rule reloads (1h)",
    "socmon-alerting / Notification dead letters (1h)",
    "socmon-api / Audit records",
    "socmon-elasticsearch / Bulk retries by reason",
}


@dataclass
class Stack:
    metrics_text: str
    prom: str  # Prometheus base URL
    es_env: dict[str, str]


def _syslog_line(ts: dt.datetime, text: str) -> str:
    return f"{ts.strftime('%b %e %H:%M:%S')} gw {text}"


def _sudo_refused(when: dt.datetime) -> bytes:
    line = "sudo:  mallory : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/mallory ; USER=root"
    return (_syslog_line(when, line) + " ; COMMAND=/bin/bash\n").encode()


def _auth_log(path: Path) -> None:
    now = dt.datetime.now()
    lines = [
        _syslog_line(
            now,
            f"sshd[{100 + i}]: Failed password for invalid user u{i} from 203.0.113.9 "
            f"port {40000 + i} ssh2",
        )
        for i in range(12)
    ]
    body = "\n".join(lines).encode() + b"\n"
    body += _syslog_line(now, "sshd[9]: bad bytes ").encode() + b"\xff\xfe\n"
    path.write_bytes(body + _sudo_refused(now))


def _config(tmp: Path, api_port: int, syslog_port: int, webhook: str) -> Path:
    cfg = {
        "es": {"url": f"http://127.0.0.1:{FAULT_ES_PORT}", "index_prefix": "socmon-ops"},
        "var_dir": str(tmp / "var"),
        "storage": {"spool_dir": str(tmp / "spool"), "backoff_max": 1.0, "max_retries": 1},
        "metrics": {"es_poll_interval": 1.0},
        "collectors": {
            "organization_units": [
                {"id": "xa-a", "name": "Xã A", "paths": [str(tmp / "auth.log")]},
                {"id": "xa-b", "name": "Xã B", "senders": ["127.0.0.0/8"]},
            ],
            "files": [{"paths": [str(tmp / "auth.log")], "start_at": "beginning"}],
            "syslog": [{"protocol": "udp", "bind": "127.0.0.1", "port": syslog_port}],
        },
        "network": {"interfaces": ["lo"], "bpf_filter": f"udp port {syslog_port}"},
        "detection": {"scheduled_interval": 2.0},
        "alerting": {
            "silent_check_interval": 2.0,
            "sla_check_interval": 2.0,
            "retry_initial": 0.2,
            "channels": {"hook": {"type": "webhook", "url": webhook}},
            "routes": [{"name": "all", "channels": ["hook"], "min_severity": "low"}],
        },
        # no network reads /metrics without the token (docs/security.md: loopback does by
        # default), so Prometheus must scrape with the shipped configuration's token file
        "api": {"port": api_port, "metrics_token": TOKEN, "metrics_networks": []},
    }
    path = tmp / "socmon.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def _prometheus_config(tmp: Path, api_port: int) -> Path:
    """The shipped prometheus.yml and rules, with 1 s intervals and the test's target."""
    doc = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    doc["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    for job in doc["scrape_configs"]:
        if job["job_name"] == "socmon":
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{api_port}"]
    (tmp / "socmon-sites").mkdir()
    (tmp / "socmon-metrics.token").write_text(TOKEN + "\n")
    shutil.copy(PROM_DIR / "socmon.rules.yml", tmp / "socmon.rules.yml")
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _wait(what: str, check: Any, timeout: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            last = check()
            if last:
                return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def query(prom: str, promql: str) -> dict[str, Any]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": promql}, timeout=10)
    return dict(r.json())


def _stop(proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ops")
    es_env = dict(os.environ, SOCMON_ES_LOCAL_PORT=str(FAULT_ES_PORT), SOCMON_ES_LOCAL_HEAP="512m")
    es_sh = str(PROJECT_ROOT / "deploy" / "es.sh")
    subprocess.run(["bash", es_sh, "up"], env=es_env, check=True)
    # this node is the test's own; earlier runs' alerts would turn new alerts into updates
    httpx.delete(f"http://127.0.0.1:{FAULT_ES_PORT}/socmon-ops-*", timeout=30)
    api_port, syslog_port, prom_port = free_port(), free_port(), free_port()
    _auth_log(tmp / "auth.log")
    receiver = HttpReceiver(fail_first=1)
    receiver.__enter__()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env["SOCMON_CONFIG"] = str(_config(tmp, api_port, syslog_port, receiver.url + "/hook"))
    log = (tmp / "socmon.log").open("w")
    socmon = subprocess.Popen(
        [sys.executable, "-m", "socmon", "run"], env=env, cwd=PROJECT_ROOT, stderr=log
    )
    prom_dir = tmp / "prometheus"
    prom_dir.mkdir()
    prom_cfg = _prometheus_config(prom_dir, api_port)
    assert PROMETHEUS is not None
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(prom_dir / "prometheus.log").open("w"),
    )
    prom = f"http://127.0.0.1:{prom_port}"
    try:
        api = f"http://127.0.0.1:{api_port}"
        _wait("socmon's API", lambda: httpx.get(f"{api}/healthz", timeout=2).is_success, 90)
        assert httpx.get(f"{api}/metrics", timeout=5).status_code == 401
        httpx.get(f"{api}/api/v1/alerts", timeout=5)  # refused: an auth failure, counted
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(5):
                s.sendto(
                    f"<38>{_syslog_line(dt.datetime.now(), f'app: msg {i}')}".encode(),
                    ("127.0.0.1", syslog_port),
                )
        _wait("the webhook", lambda: receiver.accepted, 60)
        with (tmp / "auth.log").open("ab") as f:  # a second refusal updates the sudo alert
            f.write(_sudo_refused(dt.datetime.now()))
        _wait(
            "Prometheus' target up",
            lambda: query(prom, 'up{job="socmon"} == 1')["data"]["result"],
            60,
        )
        text = httpx.get(
            f"{api}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        ).text
        yield Stack(text, prom, es_env)
    finally:
        _stop(prometheus, 20)
        _stop(socmon)
        receiver.__exit__()
        subprocess.run(["bash", es_sh, "down"], env=es_env, check=False)
        log.close()


def test_every_named_metric_exists_in_socmon_metrics(stack: Stack) -> None:
    exposed = exposed_names(stack.metrics_text) | recorded_names() | set(PROMETHEUS_SERIES)
    assert "socmon_es_cluster_health_status" in exposed and "socmon_ingest_events_total" in exposed
    assert not [n for n in exposed if n.endswith("_created")], "_created series are exposed"
    missing = {
        (e.where, n)
        for e in dashboard_exprs() + rule_exprs()
        for n in metric_names(e.promql) - exposed
    }
    assert not missing, sorted(missing)


def _empty_after(prom: str, promql: str, timeout: float) -> bool:
    """True when the expression still returns nothing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        r = query(prom, promql)
        assert r["status"] == "success", (promql, r)
        if r["data"]["result"]:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(1)


def test_every_expression_is_valid_and_returns_data(stack: Stack) -> None:
    empty = []
    for e in dashboard_exprs():
        promql = substitute(e.promql)
        panel = e.where.removeprefix("dashboard ").rsplit(" / ", 1)[0]
        if panel in FAULT_ONLY_PANELS:
            assert query(stack.prom, promql)["status"] == "success", e.where
            continue
        if _empty_after(stack.prom, promql, 60):
            empty.append(e.where)
    for e in rule_exprs():
        assert query(stack.prom, e.promql)["status"] == "success", e.where
    for name, rule in alert_rules().items():
        for metric in metric_names(rule["expr"]) - set(FAULT_ONLY) - {"up"}:
            if _empty_after(stack.prom, f"{metric}", 30):
                empty.append(f"rule {name} reads {metric}")
    assert not empty, empty


def test_stopping_elasticsearch_raises_its_alert(stack: Stack) -> None:
    def state() -> str | None:
        r = httpx.get(f"{stack.prom}/api/v1/alerts", timeout=5).json()
        for a in r["data"]["alerts"]:
            if a["labels"]["alertname"] == "SocmonElasticsearchUnreachable":
                return str(a["state"])
        return None

    assert state() is None, "the alert is active while Elasticsearch runs"
    subprocess.run(
        ["bash", str(PROJECT_ROOT / "deploy" / "es.sh"), "down"], env=stack.es_env, check=True
    )

    assert _wait("SocmonElasticsearchUnreachable", state, 60) in ("pending", "firing")


def test_ingest_delay_panel_gives_each_source_its_quantiles(stack: Stack) -> None:
    """The "Ingest delay p50 / p95 by source" panel (issue 14), evaluated by Prometheus over
    the whole run (besides the check above that it returns data): one p50 and one p95 per
    dataset socmon stored (the datasets its ingest counters name), finite, p50 <= p95, and
    small: these events were written at once."""
    ingest = dashboards()["socmon-ingest.json"]
    panel = next(p for p in ingest["panels"] if p["title"] == "Ingest delay p50 / p95 by source")
    stored = {
        s.labels["dataset"]
        for fam in text_string_to_metric_families(stack.metrics_text)
        for s in fam.samples
        if s.name == "socmon_ingest_events_total" and s.value > 0
    }
    assert stored, "socmon stored nothing"
    got: dict[str, dict[str, float]] = {}
    for target in panel["targets"]:
        # over the whole run: the cumulative buckets instead of their rate (socmon stored
        # the first events before Prometheus' first scrape, which a rate does not see)
        promql = re.sub(r"rate\((\w+\{[^}]*\})\[1m\]\)", r"\1", substitute(target["expr"]))
        assert promql != substitute(target["expr"])
        r = query(stack.prom, promql)
        assert r["status"] == "success", (promql, r)
        q = "p50" if "histogram_quantile(0.5," in promql else "p95"
        for row in r["data"]["result"]:
            if row["metric"]["path"] == "direct":
                got.setdefault(row["metric"]["source"], {})[q] = float(row["value"][1])
    assert set(got) == stored, (got, stored)
    for source, qs in got.items():
        assert set(qs) == {"p50", "p95"}, source
        assert 0 <= qs["p50"] <= qs["p95"] < 300, (source, qs)
