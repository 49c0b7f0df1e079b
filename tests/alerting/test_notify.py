"""Notifications through real local receivers: HTTP (webhook, Slack-style, Telegram stand-in)
and SMTP with STARTTLS + AUTH (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import json
import time
from email import policy

from socmon.alerting import model
from socmon.alerting.notify.channels import DELIVERY_HEADER, SIGNATURE_HEADER
from socmon.alerting.notify.dispatcher import Notifier
from socmon.alerting.notify.message import Notification
from socmon.settings.alerting import AlertingSettings

from .receivers import HttpReceiver, SmtpReceiver


def _alert(i: int = 1, severity: str = "high", unit: str = "so-tttt") -> dict:
    return {
        "id": f"alert-{i}",
        "kind": "detection",
        "rule": {"id": "rule-ssh-brute", "name": "SSH brute force", "level": severity},
        "severity": severity,
        "risk_score": 75.0,
        "organization": {"id": unit, "name": "Sở TT&TT"},
        "host": {"name": "web-01"},
        "source": {"ip": f"203.0.113.{i}"},
        "first_seen": "2026-11-24T10:00:00.000Z",
        "last_seen": "2026-11-24T10:05:00.000Z",
        "event_count": 42,
        "status": "open",
        "sla_due": "2026-11-24T11:00:00.000Z",
        "threat": {"technique": {"id": ["T1110.001"]}, "tactic": {"name": ["credential_access"]}},
    }


def _note(i: int = 1, **kw) -> Notification:
    return Notification("new", _alert(i, **kw), model.iso(model.utcnow()))


def _settings(channels: dict, route: dict | None = None, **kw) -> AlertingSettings:
    route = {"name": "soc", "channels": list(channels), **(route or {})}
    return AlertingSettings.model_validate(
        {
            "channels": channels,
            "routes": [route],
            "base_url": "https://soc.example.gov.vn",
            "retry_initial": 0.05,
            "retry_max": 0.2,
            **kw,
        }
    )


def test_webhook_json_signature_and_vietnamese_link():
    with HttpReceiver() as rx:
        s = _settings({"hook": {"type": "webhook", "url": rx.url + "/in", "secret": "k3y"}})
        n = Notifier(s)
        n.start()
        n.submit(_note(1))
        assert n.flush(10)
        n.stop()
        (req,) = rx.accepted
        body = req["body"]
        want = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
        assert req["headers"][SIGNATURE_HEADER] == want
        doc = json.loads(body)
        assert doc["type"] == "socmon.alert" and doc["kind"] == "new"
        assert doc["alert"]["id"] == "alert-1" and doc["alert"]["event_count"] == 42
        assert doc["alert"]["url"] == "https://soc.example.gov.vn/alerts/alert-1"
        assert "Cảnh báo mới" in doc["text"] and "Mức độ: cao" in doc["text"]
        assert "https://soc.example.gov.vn/alerts/alert-1" in doc["text"]
        assert doc["delivery_id"] == req["headers"][DELIVERY_HEADER]


def test_receiver_failing_then_recovering_gets_every_message_once():
    with HttpReceiver(fail_first=4) as rx:
        s = _settings({"hook": {"type": "webhook", "url": rx.url, "secret": "x"}})
        n = Notifier(s)
        n.start()
        for i in range(6):
            n.submit(_note(i))
        n.submit(_note(0))  # the same notification again: not sent twice
        assert n.flush(20)
        n.stop()
        ids = [b["alert"]["id"] for b in rx.json_bodies()]
        assert sorted(ids) == sorted(f"alert-{i}" for i in range(6))
        assert len(rx.requests) == 6 + 4  # four failed attempts, retried
        assert n.counts["sent"] == 6 and n.counts["dead_lettered"] == 0


def test_dead_letter_after_last_try(es_client, names):
    with HttpReceiver(fail_first=10**6) as rx:
        s = _settings(
            {"hook": {"type": "slack", "url": rx.url}}, retry_max_attempts=3, language="en"
        )
        n = Notifier(s, es_client, names)
        n.start()
        n.submit(_note(7))
        assert n.flush(20)
        n.stop()
        assert len(rx.requests) == 3
        es_client.indices.refresh(index=names.deadletter)
        hits = es_client.search(index=names.deadletter, query={"match_all": {}})["hits"]["hits"]
        assert len(hits) == 1
        dl = hits[0]["_source"]
        assert dl["error_type"] == "notification_slack" and dl["status"] == 3
        assert "HTTP 500" in dl["reason"] and "alert-7" in dl["document"]


def test_email_starttls_auth(tmp_path):
    with SmtpReceiver(tmp_path) as smtp:
        channel = {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "soc",
            "password": "s3cret",
            "sender": "socmon@so.example.gov.vn",
            "recipients": ["soc@so.example.gov.vn"],
            "ca_certs": str(smtp.ca),
        }
        s = _settings({"mail": channel}, language="en")
        n = Notifier(s)
        n.start()
        n.submit(_note(3))
        assert n.flush(20)
        n.stop()
        (m,) = smtp.messages
        assert m["tls"] and m["auth"] and m["to"] == ["soc@so.example.gov.vn"]
        msg = email.message_from_string(m["data"], policy=policy.default)
        assert msg["Subject"].startswith("[socmon][HIGH] New alert: SSH brute force")
        text = msg.get_content()
        assert "Events: 42" in text and "https://soc.example.gov.vn/alerts/alert-3" in text
        # wrong password: retried, then dead-lettered (no ES here: logged)
        bad = dict(channel, password="wrong")
        s2 = _settings({"mail": bad}, retry_max_attempts=2)
        n2 = Notifier(s2)
        n2.start()
        n2.submit(_note(4))
        assert n2.flush(20)
        n2.stop()
        assert n2.counts == {"sent": 0, "failed": 2, "dead_lettered": 1, "digests": 0}
        assert len(smtp.messages) == 1


def test_slack_and_telegram():
    with HttpReceiver() as slack, HttpReceiver() as tg:
        s = _settings(
            {
                "chat": {"type": "slack", "url": slack.url + "/hooks/abc", "username": "socmon"},
                "tg": {
                    "type": "telegram",
                    "bot_token": "123:ABC",
                    "chat_id": "-10042",
                    "api_base": tg.url,
                },
            }
        )
        n = Notifier(s)
        n.start()
        n.submit(_note(5))
        assert n.flush(10)
        n.stop()
        (sl,) = slack.json_bodies()
        assert sl["username"] == "socmon" and "SSH brute force" in sl["text"]
        (req,) = tg.accepted
        assert req["path"] == "/bot123:ABC/sendMessage"
        body = json.loads(req["body"])
        assert body["chat_id"] == "-10042"
        assert "/alerts/alert-5" in body["text"]


def test_quiet_hours_hold_then_one_digest():
    now = [dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC)]
    with HttpReceiver() as rx:
        s = _settings(
            {"hook": {"type": "webhook", "url": rx.url}},
            {"quiet_hours": "22:00-06:00"},
            timezone="UTC",
        )
        n = Notifier(s, clock=lambda: now[0])
        n.start()
        for i in range(3):
            n.submit(_note(i, severity="high"))
        n.submit(_note(9, severity="critical"))  # critical bypasses quiet hours
        assert n.flush(10)
        time.sleep(0.3)
        assert [b["alert"]["id"] for b in rx.json_bodies()] == ["alert-9"]
        assert n.pending_digests() == {"soc": 3}
        now[0] = dt.datetime(2026, 11, 25, 6, 1, tzinfo=dt.UTC)
        deadline = time.time() + 5
        while len(rx.accepted) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert n.flush(10)
        n.stop()
        bodies = rx.json_bodies()
        assert len(bodies) == 2
        digest = bodies[1]
        assert digest["type"] == "socmon.digest" and digest["count"] == 3
        assert "Tổng hợp: 3 cảnh báo" in digest["text"]


def test_rate_limit_folds_the_excess_into_a_digest():
    with HttpReceiver() as rx:
        s = _settings(
            {"hook": {"type": "webhook", "url": rx.url}}, {"rate_limit": 2, "rate_period": 0.5}
        )
        n = Notifier(s)
        n.start()
        for i in range(5):
            n.submit(_note(i))
        deadline = time.time() + 5
        while len(rx.accepted) < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert n.flush(10)
        n.stop()
        bodies = rx.json_bodies()
        assert [b["type"] for b in bodies] == ["socmon.alert", "socmon.alert", "socmon.digest"]
        assert bodies[2]["count"] == 3


def test_routes_by_severity_unit_and_rule():
    with HttpReceiver() as a, HttpReceiver() as b:
        s = AlertingSettings.model_validate(
            {
                "channels": {
                    "a": {"type": "webhook", "url": a.url},
                    "b": {"type": "slack", "url": b.url},
                },
                "routes": [
                    {"name": "crit", "channels": ["a"], "min_severity": "critical"},
                    {
                        "name": "unit-x",
                        "channels": ["b"],
                        "units": ["x"],
                        "rules": ["rule-ssh-brute"],
                    },
                ],
            }
        )
        n = Notifier(s)
        n.start()
        n.submit(_note(1, severity="critical", unit="y"))  # a only
        n.submit(_note(2, severity="low", unit="x"))  # b only
        n.submit(_note(3, severity="high", unit="z"))  # nobody
        assert n.flush(10)
        n.stop()
        assert [x["alert"]["id"] for x in a.json_bodies()] == ["alert-1"]
        assert len(b.json_bodies()) == 1 and "alert-2" in b.json_bodies()[0]["text"]
