"""A site cut off from the province's cluster for 20 minutes of event time (issue 14).

Real processes: a site collector (`socmon collect`, a file source, its own spool) writes to
Elasticsearch through a TCP link (tests/foundation/link.py) that is cut while the site's
log receives 20 minutes of events (timestamped across the 20 minutes before the cut, written
in a few seconds), with an SSH brute-force burst in the middle (12 failures from one address
within 24 s: one detection by the shipped rule's table, >= 10 in 5 minutes) and addresses
that fail less often (no detection). The central service (`socmon run`: scheduled
detection and alerting, no collectors, no API) keeps running its passes over the cluster
meanwhile. The link comes back, the spool is replayed, and the central service raises
exactly one alert for the burst. Every line is stored once, the detection is delivered
once over every pass (the passes that re-read the lookback included), and the alert counts
each of its events once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers
from prometheus_client.parser import text_string_to_metric_families

from socmon.indices import IndexNames
from socmon.settings import PROJECT_ROOT
from tests.alerting.receivers import free_port
from tests.foundation.link import Link

pytestmark = [pytest.mark.es, pytest.mark.slow]

RULES = PROJECT_ROOT / "rules" / "sigma" / "linux" / "sshd_brute_force.yml"
SSH_BRUTE = "ffbe4eca-2102-4b00-bdbf-d2841b905fff"
UNIT = "xa-an-binh"
BURST_IP = "198.51.100.9"
LOOKBACK = 10.0  # the central's scheduled_lookback: short, so its re-reads finish in the test
OUTAGE = 1200  # seconds of event time the site is cut off


def syslog(t: float, host: str, text: str) -> str:
    stamp = dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
    return f"<38>1 {stamp.replace('+00:00', 'Z')} {host} sshd 4242 - - {text}\n"


def outage_lines(cut: float) -> tuple[list[str], list[str]]:
    """(every line, the burst's lines): one line every 2 s of the 20 minutes before ``cut``,
    the burst 10 minutes before it; three addresses fail 4 times each, spread out."""
    lines: list[str] = []
    burst: list[str] = []
    t0 = cut - OUTAGE
    for k in range(OUTAGE // 2):
        t = t0 + 2 * k
        if k % 60 == 7 and k // 60 < 12:  # 4 failures per address, 2 minutes apart
            ip = f"192.0.2.{1 + (k // 60) % 3}"
            lines.append(syslog(t, "srv1", f"Failed password for root from {ip} port {k} ssh2"))
        else:
            lines.append(syslog(t, "srv1", f"Accepted publickey for u{k} from 10.9.0.5 port {k}"))
    for j in range(12):
        b = syslog(cut - 600 + 2 * j, "srv2", f"Failed password for root from {BURST_IP} port {j}")
        burst.append(b)
    return lines + burst, burst


def wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except Exception:
            got = None
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def spooled_docs(spool: Path) -> int:
    """Documents waiting in the spool (segment files are named ``<seq>-<docs>.ndjson``)."""
    return sum(int(p.stem.split("-", 1)[1]) for p in spool.glob("*.ndjson"))


def start(cmd: str, config: dict[str, Any], tmp: Path, name: str) -> subprocess.Popen[bytes]:
    path = tmp / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env["SOCMON_CONFIG"] = str(path)
    with open(tmp / f"{name}.log", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "socmon", cmd],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def metric(port: int, name: str, labels: dict[str, str]) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def stored(client: Elasticsearch, names: IndexNames) -> Counter[str]:
    """How many documents hold each line (``event.original``)."""
    client.indices.refresh(index=names.events_pattern, allow_no_indices=True)
    return Counter(
        h["_source"]["event"]["original"]
        for h in helpers.scan(
            client, index=names.events_pattern, _source=["event.original"], size=2000
        )
    )


def covered_until(client: Elasticsearch, names: IndexNames) -> float:
    got = client.get(index=names.state, id=f"scheduled:{SSH_BRUTE}")["_source"]
    return dt.datetime.fromisoformat(got["covered_until"].replace("Z", "+00:00")).timestamp()


def test_site_cut_off_for_20_minutes_alerts_once_centrally(
    es_client: Elasticsearch, es_url: str, names: IndexNames, tmp_path: Path
) -> None:
    log = tmp_path / "site" / "auth.log"
    log.parent.mkdir()
    log.touch()
    spool = tmp_path / "site" / "spool"
    link = Link(int(es_url.rsplit(":", 1)[1]))
    link.up()
    metrics_port = free_port()
    es = {"index_prefix": names.prefix, "request_timeout": 5}
    central = start(
        "run",
        {
            "es": {**es, "url": es_url},
            "var_dir": str(tmp_path / "central"),
            "storage": {"spool_dir": str(tmp_path / "central" / "spool")},
            "metrics": {"port": metrics_port},
            "collectors": {"enabled": False},
            "detection": {
                "rule_paths": [str(RULES)],
                "store_rules": False,
                "scheduled_interval": 1.0,
                "scheduled_lookback": LOOKBACK,
                "scheduled_delay": 2.0,
            },
            "alerting": {"silent_sources": []},
            "api": {"enabled": False},
        },
        tmp_path,
        "central",
    )
    site = start(
        "collect",
        {
            "es": {**es, "url": link.url},
            "var_dir": str(tmp_path / "site" / "var"),
            "storage": {
                "spool_dir": str(spool),
                "batch_size": 100,
                "flush_interval": 0.3,
                "max_retries": 1,
                "backoff_initial": 0.2,
                "backoff_max": 1.0,
            },
            "collectors": {
                "default_org_id": UNIT,
                "default_org_name": "UBND xã An Bình",
                "files": [
                    {
                        "paths": [str(log)],
                        "format": "syslog",
                        "start_at": "beginning",
                        "poll_interval": 0.1,
                    }
                ],
            },
        },
        tmp_path,
        "site",
    )
    try:
        # before the cut: the site's earlier lines arrive at once
        cut = time.time() + 5
        before = [
            syslog(cut - OUTAGE - 120 + i, "srv1", f"Accepted publickey for b{i} from 10.9.0.6")
            for i in range(50)
        ]
        with log.open("a") as f:
            f.writelines(before)
        wait("the lines before the cut", lambda: sum(stored(es_client, names).values()) == 50, 90)
        wait("the central's first passes", lambda: covered_until(es_client, names) > 0, 60)

        link.cut()
        lines, burst = outage_lines(cut)
        with log.open("a") as f:
            f.writelines(lines)
        wait("the site's spool to fill", lambda: spooled_docs(spool) == len(lines), 120)
        assert sum(stored(es_client, names).values()) == 50
        # the central's coverage moves on past the burst's time while the site is cut off
        mark = time.time()
        wait("central passes during the outage", lambda: covered_until(es_client, names) > mark, 60)

        restored = time.time()
        link.up()
        wait("the spool's replay", lambda: spooled_docs(spool) == 0, 120)
        total = len(before) + len(lines)
        wait("every line stored", lambda: sum(stored(es_client, names).values()) == total, 60)
        done = time.time()
        # every pass whose lookback re-reads the replayed events has run
        wait(
            "the lookback re-reads",
            lambda: covered_until(es_client, names) > done + LOOKBACK + 3,
            90,
        )
        got = stored(es_client, names)
        assert len(got) == total and set(got.values()) == {1}  # nothing lost, none twice

        # the burst was stored late: @timestamp 10 minutes before the cut, socmon.ingested
        # (what scheduled detection windows on) and event.ingested at the replay
        es_client.indices.refresh(index=names.events_pattern)
        hits = es_client.search(
            index=names.events_pattern,
            query={"term": {"source.ip": BURST_IP}},
            size=50,
            _source=["@timestamp", "event.ingested", "socmon.ingested", "organization.id"],
        )["hits"]["hits"]
        assert len(hits) == len(burst)
        burst_ids = {h["_id"] for h in hits}
        for h in hits:
            src = h["_source"]
            stored_at = src["socmon"]["ingested"]
            assert src["event"]["ingested"] == stored_at  # socmon's own: the replay's time
            ingested = dt.datetime.fromisoformat(stored_at.replace("Z", "+00:00"))
            assert ingested.timestamp() >= restored - 1
            assert src["organization"]["id"] == UNIT

        es_client.indices.refresh(index=names.alerts)
        docs = [h["_source"] for h in helpers.scan(es_client, index=names.alerts)]
        alerts = [d for d in docs if d.get("kind") == "detection"]
        assert len(alerts) == 1, [(a["rule"]["id"], a.get("group_key")) for a in alerts]
        alert = alerts[0]
        assert alert["rule"]["id"] == SSH_BRUTE and alert["source"]["ip"] == BURST_IP
        assert alert["organization"]["id"] == UNIT
        es_client.indices.refresh(index=names.state)
        markers = [
            h["_source"]["event_id"]
            for h in helpers.scan(
                es_client, index=names.state, query={"query": {"term": {"kind": "alert_event"}}}
            )
        ]
        assert len(markers) == len(set(markers)) == alert["event_count"] >= 10
        assert set(markers) <= burst_ids
        # one detection delivered over every pass; re-reads of the lookback found it again
        # (deterministic id) and did not deliver it
        new = metric(metrics_port, "socmon_scheduled_detections_total", {"outcome": "new"})
        assert new == 1
        dup = metric(metrics_port, "socmon_scheduled_detections_total", {"outcome": "duplicate"})
        print(f"site outage: {total} lines, 1 alert, detections new={new:.0f} duplicate={dup:.0f}")
        assert central.poll() is None and site.poll() is None
    finally:
        for p in (site, central):
            p.terminate()
        for p in (site, central):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        link.cut()
