"""The parts of the fault suite: a dedicated Elasticsearch node, `socmon run` as a real process,
a log-file load generator, a real HTTP receiver for notifications, and the counts.

Every event line carries a sequence number; attack lines (a sudo refusal with a user name
unique to the line) make the shipped rule ``sudo_not_in_sudoers`` fire, and the default
grouping (user.name is a group-by field) makes one alert per attack line. The expectations are
the generator's own tallies, never socmon's counters: stored events are counted by scanning
Elasticsearch for the sequence numbers, alerts by the user names in the alerts index, and
notifications by what the receiver accepted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from socmon.settings import PROJECT_ROOT
from tests.alerting.receivers import HttpReceiver, free_port

RULE = PROJECT_ROOT / "rules" / "sigma" / "linux" / "sudo_not_in_sudoers.yml"
ATTACK_EVERY = 50  # one attack line in 50
SEQ = re.compile(rb"(?:fault-suite event |atk)(\d{9})")
ATK = re.compile(r"atk(\d{9})")


def line(seq: int) -> str:
    """The log line with sequence number ``seq`` (RFC 3339 time, as rsyslog writes it)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    if seq % ATTACK_EVERY == ATTACK_EVERY - 1:
        return (
            f"{now} fhost sudo:  atk{seq:09d} : user NOT in sudoers ; TTY=pts/0 ; "
            "PWD=/root ; USER=root ; COMMAND=/bin/sh\n"
        )
    return f"{now} fhost app[42]: fault-suite event {seq:09d}\n"


def is_attack(seq: int) -> bool:
    return seq % ATTACK_EVERY == ATTACK_EVERY - 1


# ------------------------------------------------------------------------------ Elasticsearch


class Node:
    """A local node on its own port (deploy/es.sh), which the scenarios stop and pause."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.client = Elasticsearch(self.url, request_timeout=60)

    def _script(self, action: str) -> None:
        env = dict(os.environ, SOCMON_ES_LOCAL_PORT=str(self.port), SOCMON_ES_LOCAL_HEAP="512m")
        done = subprocess.run(
            ["bash", str(PROJECT_ROOT / "deploy" / "es.sh"), action],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"es.sh {action} failed: {done.stderr[-2000:]}")

    def up(self) -> None:
        self._script("up")

    def down(self) -> None:
        self._script("down")

    def pid(self) -> int:
        var = Path(os.environ.get("SOCMON_VAR_DIR", PROJECT_ROOT / "var"))
        return int((var / "es" / f"node-{self.port}" / "es.pid").read_text())

    def pause(self) -> None:
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)


# ------------------------------------------------------------------------------ receiver


class Receiver:
    """The HTTP receiver of tests/alerting, on a fixed port so it can go down and come back;
    what every incarnation accepted is kept."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.bodies: list[dict[str, Any]] = []
        self._rx: HttpReceiver | None = None

    def up(self) -> None:
        if self._rx is None:
            self._rx = HttpReceiver(port=self.port).__enter__()

    def down(self) -> None:
        if self._rx is not None:
            self.bodies += self._rx.json_bodies()
            self._rx.__exit__(None, None, None)
            self._rx = None

    def all_bodies(self) -> list[dict[str, Any]]:
        return self.bodies + (self._rx.json_bodies() if self._rx else [])


# ------------------------------------------------------------------------------ socmon run


@dataclass
class Workdir:
    root: Path
    prefix: str = field(default_factory=lambda: f"socmon-fault-{uuid.uuid4().hex[:8]}")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def checkpoints(self) -> Path:
        return self.var / "checkpoints"


class Socmon:
    """`socmon run` as a child process, configured by a YAML file; its stderr (JSON logs) goes
    to a file per start, and its resident memory is sampled."""

    def __init__(self, wd: Workdir, node: Node, receiver: Receiver, **storage: Any) -> None:
        self.wd = wd
        self.metrics_port = free_port()
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self.rss_samples: list[int] = []
        wd.logs.mkdir(parents=True, exist_ok=True)
        config = {
            "es": {"url": node.url, "index_prefix": wd.prefix, "request_timeout": 10},
            "var_dir": str(wd.var),
            "storage": {
                "spool_dir": str(wd.spool),
                "batch_size": 500,
                "flush_interval": 0.5,
                "max_retries": 2,
                "backoff_initial": 0.2,
                "backoff_max": 2,
                **storage,
            },
            "metrics": {"port": self.metrics_port},
            "collectors": {
                "files": [
                    {
                        "paths": [str(wd.logs / "*.log")],
                        "format": "syslog",
                        "start_at": "beginning",
                        "poll_interval": 0.1,
                    }
                ],
            },
            "detection": {"rule_paths": [str(RULE)], "store_rules": False},
            "alerting": {
                "channels": {"rx": {"type": "webhook", "url": receiver.url}},
                "routes": [{"name": "all", "channels": ["rx"], "kinds": ["new"]}],
                "silent_sources": [],
            },
            "api": {"enabled": False},
        }
        self.config = wd.root / "socmon.yaml"
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self._sampler_stop = threading.Event()
        threading.Thread(target=self._sample_rss, daemon=True).start()

    def start(self, wait: bool = True) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
        env["SOCMON_CONFIG"] = str(self.config)
        self.stderr_path = self.wd.root / f"socmon-{self.starts}.log"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "socmon", "run"],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"socmon run exited: {self.logs()[-3000:]}")
            try:
                url = f"http://127.0.0.1:{self.metrics_port}/metrics"
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("socmon run did not serve /metrics in time")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 120) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return -9

    def close(self) -> None:
        self._sampler_stop.set()
        self.stop()

    def logs(self) -> str:
        """Everything every start of this process logged."""
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.wd.root.glob("socmon-*.log"))
        )

    def rss(self) -> int:
        """Resident memory of the running process, bytes (0 when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(m.group(1)) * 1024 if m else 0

    def _sample_rss(self) -> None:
        while not self._sampler_stop.wait(0.25):
            r = self.rss()
            if r:
                self.rss_samples.append(r)
                self.peak_rss = max(self.peak_rss, r)


# ------------------------------------------------------------------------------ load


class Generator:
    """Appends numbered lines to logs/app.log at ``rate`` lines/s in a thread (written in
    chunks of 1/20 s, each flushed)."""

    def __init__(self, wd: Workdir, rate: float) -> None:
        self.path = wd.logs / "app.log"
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        t0, base = time.monotonic(), self.sent
        with open(self.path, "a", encoding="utf-8") as f:
            while not self._stop.is_set():
                due = base + int((time.monotonic() - t0) * self.rate)
                if due > self.sent:
                    f.write("".join(line(s) for s in range(self.sent, due)))
                    f.flush()
                    self.sent = due
                self._stop.wait(0.05)

    def run_for(self, seconds: float) -> None:
        self.start()
        time.sleep(seconds)
        self.stop()

    @property
    def attacks(self) -> int:
        return sum(1 for s in range(self.sent) if is_attack(s))


# ------------------------------------------------------------------------------ counts


@dataclass
class Row:
    scenario: str
    sent: int = 0
    stored: int = 0
    missing: int = 0
    duplicated: int = 0
    alerts_expected: int = 0
    alerts_raised: int = 0
    alerts_duplicated: int = 0
    notes_expected: int = 0
    notes_delivered: int = 0
    notes_duplicated: int = 0
    notes_redelivered: int = 0  # of the duplicates, those with a delivery id seen before
    seconds: float = 0.0
    detail: str = ""
    missing_seqs: list[int] = field(default_factory=list)

    def clean(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.alerts_raised != self.alerts_expected
            or self.alerts_duplicated
            or self.notes_delivered != self.notes_expected
            # a delivery repeated with its delivery id (a kill between the receiver's answer
            # and the outbox update) is the documented at-least-once: receivers drop it
            or self.notes_duplicated > self.notes_redelivered
        )


def stored_seqs(client: Elasticsearch, prefix: str) -> Counter[int]:
    """How many times each sequence number is stored in the events indices."""
    pattern = f"{prefix}-events-*"
    client.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
    seen: Counter[int] = Counter()
    for hit in helpers.scan(
        client,
        index=pattern,
        _source=["event.original"],
        size=5000,
        ignore_unavailable=True,
        allow_no_indices=True,
    ):
        original = ((hit.get("_source") or {}).get("event") or {}).get("original", "")
        m = SEQ.search(original.encode())
        if m:
            seen[int(m.group(1))] += 1
    return seen


def alert_users(client: Elasticsearch, prefix: str) -> Counter[int]:
    """Alerts per attacking user (the group key holds the user name)."""
    index = f"{prefix}-alerts"
    if not client.indices.exists(index=index):
        return Counter()
    client.indices.refresh(index=index)
    users: Counter[int] = Counter()
    for hit in helpers.scan(client, index=index, _source=["user.name", "group"], size=5000):
        found = set(ATK.findall(json.dumps(hit.get("_source"))))
        for u in found:
            users[int(u)] += 1
    return users


def redeliveries(receiver: Receiver) -> int:
    """Deliveries the receiver had already taken (same ``delivery_id``: a retry it can drop)."""
    ids = Counter(str(b.get("delivery_id")) for b in receiver.all_bodies())
    return sum(n - 1 for n in ids.values() if n > 1)


def delivered_users(receiver: Receiver) -> Counter[int]:
    """Notifications of new alerts the receiver accepted, per attacking user (a digest counts
    each alert it carries)."""
    users: Counter[int] = Counter()
    for body in receiver.all_bodies():
        items = body.get("notifications") if body.get("type") == "socmon.digest" else [body]
        for item in items or []:
            if item.get("kind") != "new":
                continue
            for u in set(ATK.findall(json.dumps(item.get("alert")))):
                users[int(u)] += 1
    return users


def measure(
    name: str,
    gen: Generator,
    node: Node,
    wd: Workdir,
    receiver: Receiver,
    lost: frozenset[int] = frozenset(),
) -> Row:
    """Count; ``lost``: events the scenario destroyed on purpose (their alerts are not
    expected)."""
    seqs = stored_seqs(node.client, wd.prefix)
    alerts = alert_users(node.client, wd.prefix)
    notes = delivered_users(receiver)
    expected_attacks = sum(1 for s in range(gen.sent) if is_attack(s) and s not in lost)
    return Row(
        scenario=name,
        sent=gen.sent,
        stored=sum(1 for s in seqs if s < gen.sent),
        missing=sum(1 for s in range(gen.sent) if s not in seqs),
        duplicated=sum(n - 1 for n in seqs.values() if n > 1),
        alerts_expected=expected_attacks,
        alerts_raised=len(alerts),
        alerts_duplicated=sum(n - 1 for n in alerts.values() if n > 1),
        notes_expected=expected_attacks,
        notes_delivered=len(notes),
        notes_duplicated=sum(n - 1 for n in notes.values() if n > 1),
        notes_redelivered=redeliveries(receiver),
        missing_seqs=[s for s in range(gen.sent) if s not in seqs][:20],
    )


def settle(
    name: str,
    gen: Generator,
    node: Node,
    wd: Workdir,
    receiver: Receiver,
    timeout: float,
    lost: frozenset[int] = frozenset(),
) -> Row:
    """Wait until every event, alert and notification arrived, or nothing more arrived for
    ``timeout`` seconds (at most 30 min in all), then a few seconds more for late duplicates,
    and count."""
    t0 = time.monotonic()
    last_change, last = t0, None
    while time.monotonic() - last_change < timeout and time.monotonic() - t0 < 1800:
        with contextlib.suppress(Exception):
            row = measure(name, gen, node, wd, receiver, lost)
            done = (
                row.missing <= len(lost)
                and row.alerts_raised >= row.alerts_expected
                and row.notes_delivered >= row.notes_expected
            )
            if done:
                break
            progress = (row.stored, row.alerts_raised, row.notes_delivered)
            if progress != last:
                last_change, last = time.monotonic(), progress
        time.sleep(2)
    time.sleep(3)
    return measure(name, gen, node, wd, receiver, lost)


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | events sent | stored | missing | duplicated | alerts expected | raised "
        "| duplicated | notifications expected | delivered | duplicated | seconds | notes |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    body = [
        f"| {r.scenario} | {r.sent} | {r.stored} | {r.missing} | {r.duplicated} "
        f"| {r.alerts_expected} | {r.alerts_raised} | {r.alerts_duplicated} "
        f"| {r.notes_expected} | {r.notes_delivered} | {r.notes_duplicated}"
        + (f" ({r.notes_redelivered} same delivery id)" if r.notes_duplicated else "")
        + " "
        f"| {r.seconds:.0f} | {r.detail} |"
        for r in rows
    ]
    return "\n".join([head, *body])
