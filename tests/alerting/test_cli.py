"""`socmon alerts` against the real node and a real HTTP receiver."""

from __future__ import annotations

import json

from click.testing import CliRunner

from socmon.alerting.grouping import AlertManager
from socmon.cli import cli
from socmon.settings.alerting import AlertingSettings

from .helpers import detection, event
from .receivers import HttpReceiver


def test_alerts_cli(es_client, names, es_url, monkeypatch):
    aid = AlertManager(es_client, names, AlertingSettings()).handle(detection([event(1)])).alert_id
    es_client.indices.refresh(index=names.alerts)
    monkeypatch.setenv("SOCMON_ES_URL", es_url)
    monkeypatch.setenv("SOCMON_ES_INDEX_PREFIX", names.prefix)
    runner = CliRunner()
    r = runner.invoke(cli, ["alerts", "list"])
    assert r.exit_code == 0, r.output
    assert aid in r.output and "SSH brute force" in r.output
    r = runner.invoke(cli, ["alerts", "ack", aid, "--by", "alice", "--note", "mine"])
    assert r.exit_code == 0 and "open -> acknowledged" in r.output
    r = runner.invoke(cli, ["alerts", "resolve", aid, "--by", "alice"])
    assert r.exit_code == 0 and "acknowledged -> resolved" in r.output
    r = runner.invoke(cli, ["alerts", "ack", aid, "--by", "alice"])
    assert r.exit_code != 0 and "InvalidTransition" in r.output
    r = runner.invoke(cli, ["alerts", "show", aid])
    assert json.loads(r.output)["status"] == "resolved"
    spec = json.dumps(
        {"scope": "rule", "rule_id": "rule-ssh-brute", "reason": "lab", "owner": "soc"}
    )
    r = runner.invoke(cli, ["alerts", "exceptions", "preview", spec])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["alerts"] == 1
    r = runner.invoke(cli, ["alerts", "exceptions", "add", spec, "--by", "bob"], input="y\n")
    assert r.exit_code == 0 and "would have suppressed 1 past alerts" in r.output
    r = runner.invoke(cli, ["alerts", "exceptions", "list"])
    assert json.loads(r.output)[0]["owner"] == "soc"
    for cmd in (["alerts", "--help"], ["alerts", "exceptions", "--help"]):
        assert runner.invoke(cli, cmd).exit_code == 0


def test_notify_test_command(monkeypatch):
    with HttpReceiver() as rx:
        monkeypatch.setenv(
            "SOCMON_ALERTING_CHANNELS", json.dumps({"hook": {"type": "slack", "url": rx.url}})
        )
        r = CliRunner().invoke(cli, ["alerts", "notify-test", "--lang", "en"])
        assert r.exit_code == 0, r.output
        assert "hook (slack): sent" in r.output
        assert "socmon notification test" in rx.json_bodies()[0]["text"]
