"""Reports: the printable page and the PDF (printed by Debian's Chromium, read back with pypdf)
for a unit and the province, scoped to the user's units; scheduled delivery by email through
the real SMTP receiver (aiosmtpd, STARTTLS + AUTH) with the PDF attached, once per period.

Expected figures come from the alerts the test writes (a table below), not from the report
code."""

from __future__ import annotations

import datetime as dt
import email
import io
import re
from email import policy
from pathlib import Path

import pytest
from pypdf import PdfReader

from socmon.api.report_schedule import ReportScheduler, ScheduleError, last_period, run_due
from socmon.settings.alerting import AlertingSettings
from socmon.settings.reports import ReportSettings
from tests.alerting.receivers import SmtpReceiver, free_port
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (deploy/test.sh installs it)"
)

# Wednesday 2 December 2026, 10:00 in Asia/Ho_Chi_Minh: last full week is 23-29 November.
NOW = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)
IN_WEEK = dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC)
AFTER_WEEK = dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)
# (n, unit, severity, time): unit A has 3 alerts in the week (1 critical), B has 2.
ALERTS = [
    (1, UNIT_A, "high", IN_WEEK),
    (2, UNIT_A, "high", IN_WEEK),
    (3, UNIT_A, "critical", IN_WEEK),
    (4, UNIT_A, "high", AFTER_WEEK),
    (5, UNIT_B, "low", IN_WEEK),
    (6, UNIT_B, "low", IN_WEEK),
]
WEEK = {"start": "2026-11-23", "end": "2026-11-29"}


def write_alerts(ctx) -> None:  # type: ignore[no-untyped-def]
    docs = [make_alert(n, unit, severity=sev, rule_id=f"r{n}", at=t) for n, unit, sev, t in ALERTS]
    index_alerts(ctx.client, ctx.names, docs)


def pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-", data[:20]
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def kpi_total(text: str, label: str) -> int:
    m = re.search(rf"{label}\s*(\d+)", text)
    assert m, f"no '{label}' figure in: {text[:400]}"
    return int(m.group(1))


def test_last_period_table():
    # (local now, period) -> (first, last): from the calendar, not from the code
    table = [
        ("2026-12-02T10:00", "weekly", ("2026-11-23", "2026-11-29")),
        ("2026-11-30T00:01", "weekly", ("2026-11-23", "2026-11-29")),
        ("2026-11-29T23:59", "weekly", ("2026-11-16", "2026-11-22")),
        ("2026-12-02T10:00", "monthly", ("2026-11-01", "2026-11-30")),
        ("2026-03-01T08:00", "monthly", ("2026-02-01", "2026-02-28")),
        ("2026-01-15T08:00", "monthly", ("2025-12-01", "2025-12-31")),
    ]
    for now, period, (first, last) in table:
        got = last_period(period, dt.datetime.fromisoformat(now))
        assert (got[0].isoformat(), got[1].isoformat()) == (first, last), (now, period)


def test_printable_report_per_unit_and_province(ctx, signed):
    write_alerts(ctx)
    qs = f"start={WEEK['start']}&end={WEEK['end']}"
    kpi = re.compile(r'<div class="kpi">[^<]*<b>(\d+)</b>')
    assert signed["viewer"].get("/reports").status_code == 200
    # unit A's user: A's 3 alerts of the week; the province: 5
    assert kpi.findall(signed["viewer@A"].get(f"/reports/print?{qs}").text)[0] == "3"
    assert kpi.findall(signed["viewer"].get(f"/reports/print?{qs}").text)[0] == "5"
    assert kpi.findall(signed["viewer"].get(f"/reports/print?{qs}&unit={UNIT_B}").text)[0] == "2"
    # another unit's report is refused; a bad date is a clear 422
    assert signed["viewer@A"].get(f"/reports/print?{qs}&unit={UNIT_B}").status_code == 403
    assert signed["viewer"].get("/reports/print?start=2026-13-01").status_code == 422


@needs_chromium
def test_pdf_download(ctx, signed):
    write_alerts(ctx)
    r = signed["viewer@A"].get(f"/reports/pdf?start={WEEK['start']}&end={WEEK['end']}")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    text = pdf_text(r.content)
    assert kpi_total(text, "Tổng số cảnh báo") == 3  # Vietnamese by default
    assert UNIT_A in text and UNIT_B not in text


def test_pdf_without_chromium_is_a_clear_error(ctx, signed, tmp_path):
    ctx.settings.reports = ReportSettings.model_validate({"chromium": str(tmp_path / "none")})
    r = signed["viewer"].get("/reports/pdf")
    assert r.status_code == 503 and "apt-get install chromium" in r.text
    ctx.settings.reports = ReportSettings.model_validate(
        {
            "chromium": str(tmp_path / "none"),
            "schedules": [
                {"name": "w", "period": "weekly", "channel": "mail", "recipients": ["a@b.c"]}
            ],
        }
    )
    ctx.settings.alerting = _alerting({"type": "email", "host": "h", "recipients": ["x@y.z"]})
    with pytest.raises(ScheduleError, match="chromium"):
        ReportScheduler(ctx)


def _alerting(channel: dict) -> AlertingSettings:  # type: ignore[type-arg]
    return AlertingSettings.model_validate({"channels": {"mail": channel}})


@needs_chromium
def test_scheduled_delivery_by_email(ctx, tmp_path):
    write_alerts(ctx)
    schedules = [
        {
            "name": "so-tttt-weekly",
            "period": "weekly",
            "units": [UNIT_A],
            "channel": "mail",
            "recipients": ["lanhdao@so-tttt.example.gov.vn"],
            "language": "en",
        },
        {
            "name": "standing-committee",
            "period": "weekly",
            "channel": "mail",
            "recipients": ["thuongtruc@tinh.example.gov.vn", "vanphong@tinh.example.gov.vn"],
            "language": "en",
        },
    ]
    ctx.settings.reports = ReportSettings.model_validate({"schedules": schedules})
    # First the SMTP server is down: nothing is marked sent, the next check sends
    down = {"type": "email", "host": "127.0.0.1", "port": free_port(), "timeout": 3,
            "recipients": ["x@y.z"]}  # fmt: skip
    ctx.settings.alerting = _alerting(down)
    assert run_due(ctx, NOW) == {"so-tttt-weekly": "failed", "standing-committee": "failed"}
    with SmtpReceiver(tmp_path) as smtp:
        channel = {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "soc",
            "password": "s3cret",
            "sender": "socmon@so.example.gov.vn",
            "recipients": ["channel-default@example.gov.vn"],
            "ca_certs": str(smtp.ca),
        }
        ctx.settings.alerting = _alerting(channel)
        assert run_due(ctx, NOW) == {"so-tttt-weekly": "sent", "standing-committee": "sent"}
        # once per period: later checks in the same week send nothing more
        later = NOW + dt.timedelta(days=3)
        assert run_due(ctx, later) == {"so-tttt-weekly": "already", "standing-committee": "already"}
        msgs = {tuple(m["to"]): m for m in smtp.messages}
    assert len(smtp.messages) == 2
    # recipients -> (total alerts in the week, unit ids that must / must not appear)
    committee = ("thuongtruc@tinh.example.gov.vn", "vanphong@tinh.example.gov.vn")
    expected = {
        ("lanhdao@so-tttt.example.gov.vn",): (3, [UNIT_A], [UNIT_B]),
        committee: (5, [UNIT_A, UNIT_B], []),
    }
    for to, (total, present, absent) in expected.items():
        m = msgs[to]
        assert m["tls"] and m["auth"]
        mail = email.message_from_string(m["data"], policy=policy.default)
        assert "2026-11-23 - 2026-11-29" in str(mail["Subject"])
        (att,) = list(mail.iter_attachments())
        assert att.get_content_type() == "application/pdf"
        assert att.get_filename().endswith("-2026-11-23.pdf")
        text = pdf_text(att.get_content())
        assert kpi_total(text, "Total alerts") == total
        for u in present:
            assert u in text
        for u in absent:
            assert u not in text
    # each send audited with the schedule as actor
    ctx.client.indices.refresh(index=ctx.names.audit)
    resp = ctx.client.search(index=ctx.names.audit, query={"term": {"action": "report.send"}})
    actors = sorted(h["_source"]["actor"] for h in resp["hits"]["hits"])
    assert actors == ["schedule:so-tttt-weekly", "schedule:standing-committee"]
