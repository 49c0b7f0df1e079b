"""Scheduled report delivery: each ``reports.schedules`` entry sends, once per period, the
report of the last full week (Monday to Sunday) or calendar month in ``alerting.timezone``,
printed to PDF, by email through a configured email channel.

Once per period and schedule, even across restarts and several processes: a marker document
``report:<schedule>:<period start>`` is created in the state index before sending (a create
that fails with a conflict means another run has it); a failed send deletes the marker, is
counted and logged, and the next check tries again. Each send is audited (actor
``schedule:<name>``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any
from zoneinfo import ZoneInfo

from elasticsearch import ConflictError
from prometheus_client import Counter

from socmon.alerting.notify.channels import DeliveryError, send_email
from socmon.api import audit
from socmon.api.auth import Principal
from socmon.api.context import ApiContext
from socmon.api.report_html import TEXT
from socmon.api.report_html import render as report_page
from socmon.api.report_pdf import PdfUnavailable, check_chromium, html_to_pdf
from socmon.api.routes.common import iso
from socmon.api.routes.reports import build_report
from socmon.metrics import REGISTRY
from socmon.settings.alerting import EmailChannel
from socmon.settings.reports import ReportSchedule

log = logging.getLogger(__name__)

REPORTS_SENT = Counter(
    "socmon_api_scheduled_reports_total",
    "Scheduled report deliveries, by schedule and result (sent, failed).",
    ["schedule", "result"],
    registry=REGISTRY,
)


class ScheduleError(RuntimeError):
    """The report schedules cannot run as configured (message says why)."""


def last_period(period: str, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """First and last day of the last full week (Monday-Sunday) or month before ``now``
    (a local time)."""
    today = now.date()
    if period == "weekly":
        end = today - dt.timedelta(days=today.weekday() + 1)
        return end - dt.timedelta(days=6), end
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def email_channel(ctx: ApiContext, s: ReportSchedule) -> EmailChannel:
    cfg = ctx.settings.alerting.channels.get(s.channel)
    if not isinstance(cfg, EmailChannel):
        raise ScheduleError(
            f"reports.schedules '{s.name}': channel '{s.channel}' is not an email channel "
            "of alerting.channels"
        )
    return cfg


def check(ctx: ApiContext) -> None:
    """Refuse to start when a schedule names no email channel or Chromium is missing."""
    for s in ctx.settings.reports.schedules:
        email_channel(ctx, s)
    if ctx.settings.reports.schedules:
        try:
            check_chromium(ctx.settings.reports.chromium)
        except PdfUnavailable as e:
            raise ScheduleError(f"reports.schedules are configured but {e}") from None


def _marker_id(s: ReportSchedule, start: dt.date) -> str:
    return f"report:{s.name}:{start.isoformat()}"


def deliver(ctx: ApiContext, s: ReportSchedule, now: dt.datetime) -> str:
    """Send the schedule's report for the last full period unless already sent:
    'sent', 'already' or 'failed'."""
    tz = ZoneInfo(ctx.settings.alerting.timezone)
    local = now.astimezone(tz)
    first, last = last_period(s.period, local)
    marker = _marker_id(s, first)
    try:
        ctx.client.create(
            index=ctx.names.state,
            id=marker,
            document={"kind": "report_delivery", "@timestamp": iso(now), "updated": iso(now)},
            refresh="wait_for",
        )
    except ConflictError:
        return "already"
    t0 = dt.datetime.combine(first, dt.time(), tz)
    t1 = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz) - dt.timedelta(
        milliseconds=1
    )
    actor = Principal(f"schedule:{s.name}", "viewer", tuple(s.units) or None, f"schedule:{s.name}")
    try:
        report = build_report(ctx, actor, iso(t0), iso(t1), s.units or None, s.language)
        rs = ctx.settings.reports
        pdf = html_to_pdf(report_page(report, s.language), rs.chromium, rs.pdf_timeout)
        t = TEXT[s.language]
        scope = ", ".join(s.units) or t["province"]
        subject = f"{t['title']}: {scope}, {first.isoformat()} - {last.isoformat()}"
        body = _body(report, s.language, scope, first, last)
        filename = f"socmon-report-{'-'.join(s.units) or 'province'}-{first.isoformat()}.pdf"
        send_email(
            email_channel(ctx, s),
            subject,
            body,
            marker.replace(":", "-"),
            recipients=s.recipients,
            attachments=((filename, "application/pdf", pdf),),
        )
    except Exception as e:
        # Whatever failed (figures, printing, SMTP), the period is not marked sent: the
        # next check tries again.
        ctx.client.delete(index=ctx.names.state, id=marker, refresh="wait_for")
        REPORTS_SENT.labels(s.name, "failed").inc()
        expected = isinstance(e, DeliveryError | PdfUnavailable | ScheduleError)
        log.error(
            "scheduled report not sent",
            extra={"schedule": s.name, "error": f"{type(e).__name__}: {e}"},
            exc_info=not expected,
        )
        return "failed"
    after = {"period": [first.isoformat(), last.isoformat()], "recipients": s.recipients}
    audit.record(ctx, actor, "report.send", "report", marker, None, after, list(s.units) or None)
    REPORTS_SENT.labels(s.name, "sent").inc()
    log.info("scheduled report sent", extra={"schedule": s.name, "period_start": str(first)})
    return "sent"


def _body(report: dict[str, Any], lang: str, scope: str, first: dt.date, last: dt.date) -> str:
    t = TEXT[lang]
    fig = report["figures"]
    lines = [
        f"{t['title']} - {scope}",
        f"{t['period']}: {first.isoformat()} - {last.isoformat()}",
        f"{t['total']}: {fig['total']}",
    ]
    lines += [f"  {t[k]}: {fig['by_severity'].get(k, 0)}" for k in ("critical", "high", "medium")]
    return "\n".join(lines) + "\n"


def run_due(ctx: ApiContext, now: dt.datetime | None = None) -> dict[str, str]:
    """One check of every schedule (what the scheduler does each interval)."""
    now = now or dt.datetime.now(dt.UTC)
    out = {}
    for s in ctx.settings.reports.schedules:
        try:
            out[s.name] = deliver(ctx, s, now)
        except Exception:
            REPORTS_SENT.labels(s.name, "failed").inc()
            log.exception("scheduled report failed", extra={"schedule": s.name})
            out[s.name] = "failed"
    return out


class ReportScheduler:
    """``socmon run`` service: checks the schedules every ``reports.check_interval``."""

    name = "report-scheduler"

    def __init__(self, ctx: ApiContext) -> None:
        check(ctx)
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            run_due(self.ctx)
            self._stop.wait(self.ctx.settings.reports.check_interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
