"""A rule created through the API fires on a log line collected after it, without a restart:
the collectors' line handler, the streaming engine (which polls the rule store), alerting and
the API all run in this process, as in `socmon run`. The delay is measured and printed."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from socmon.api.app import create_app
from socmon.api.context import ApiContext
from socmon.api.keys import create_key
from socmon.runner import build_context
from tests.api.conftest import h


@pytest.mark.slow
def test_rule_created_through_api_fires_without_restart(settings, names, capsys):
    from socmon.alerting import services as alerting_services
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.timeparse import TimeParser
    from socmon.rules import services as rules_services

    s = settings.model_copy(deep=True)
    s.detection.rule_paths = []
    s.detection.extra_rule_paths = []
    s.detection.store_poll_interval = 0.5
    s.detection.scheduled_enabled = False
    s.detection.correlation_state = "off"
    s.api.rate_limit_per_minute = 0
    run = build_context(s)
    run.writer.start()
    services = [*alerting_services.build(run), *rules_services.build(run)]
    for svc in services:
        svc.start()
    lines = LineHandler(
        "auto",
        s.collectors,
        Enricher(s.collectors),
        run.events,
        source_kind="file",
        source="/var/log/auth.log",
        tp=TimeParser(s.collectors.timezone),
    )
    canary = f"canary{uuid.uuid4().hex[:8]}"
    position = [0]

    def collect_line() -> None:
        position[0] += 1
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime())
        raw = (
            f"{stamp} web01 sshd[{position[0]}]: Failed password for invalid user {canary} "
            f"from 203.0.113.9 port {40000 + position[0]} ssh2"
        ).encode()
        lines.handle(raw, "auth.log", position[0])

    try:
        api = ApiContext(settings=s, client=run.client, names=names)
        admin, _ = create_key(run.client, names, "admin", "admin", None, "test")
        with TestClient(create_app(api), raise_server_exceptions=False) as client:
            collect_line()  # before the rule exists: must not fire
            rule = f"""title: Canary login {canary}
status: experimental
logsource:
  product: linux
  service: sshd
detection:
  selection:
    user.name: {canary}
  condition: selection
level: high
"""
            r = client.post("/api/v1/rules", json={"yaml": rule, "enabled": True}, headers=h(admin))
            assert r.status_code == 201, r.text
            rid = r.json()["rule_id"]
            created = time.monotonic()
            fired_at = None
            while time.monotonic() - created < 30:
                collect_line()  # a new line collected after the rule was created
                time.sleep(0.25)
                run.writer.flush(5)
                page = client.get("/api/v1/alerts", params={"rule": rid}, headers=h(admin)).json()
                if page["total"] >= 1:
                    fired_at = time.monotonic()
                    alert = page["items"][0]
                    break
            assert fired_at is not None, "the rule did not fire within 30 s"
            delay = fired_at - created
            with capsys.disabled():
                print(
                    f"\nrule created through the API -> alert visible through the API: "
                    f"{delay:.2f} s (store poll interval 0.5 s)"
                )
            assert delay < 10
            assert alert["rule"]["id"] == rid
            # The first line (collected before the rule existed) was not matched: the alert's
            # events all came after the rule.
            detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=h(admin)).json()
            ports = [e.get("source", {}).get("port") for e in detail["events"]]
            assert 40001 not in ports
    finally:
        for svc in reversed(services):
            svc.stop()
        run.writer.close()
