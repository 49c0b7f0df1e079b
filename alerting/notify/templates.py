"""Message templates in Vietnamese and English, each with a link to the alert."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from socmon.alerting import model
from socmon.alerting.notify.message import Notification

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "new": "New alert",
        "reopened": "Alert reopened",
        "sla_breach": "SLA breached: alert still open",
        "silent": "Silent source",
        "recovered": "Source sending again",
        "severity": "Severity",
        "risk": "risk",
        "unit": "Unit",
        "host": "Host",
        "user": "User",
        "source_ip": "Source IP",
        "destination_ip": "Destination IP",
        "events": "Events",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "attack": "ATT&CK",
        "status": "Status",
        "assignee": "Assignee",
        "sla_due": "Due",
        "link": "Details",
        "digest": "Digest",
        "alerts": "alerts",
        "and_more": "and {n} more",
        "informational": "informational",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "critical": "critical",
    },
    "vi": {
        "new": "Cảnh báo mới",
        "reopened": "Cảnh báo được mở lại",
        "sla_breach": "Quá hạn xử lý (SLA): cảnh báo chưa được tiếp nhận",
        "silent": "Nguồn dữ liệu ngừng gửi",
        "recovered": "Nguồn dữ liệu đã gửi lại",
        "severity": "Mức độ",
        "risk": "điểm rủi ro",
        "unit": "Đơn vị",
        "host": "Máy",
        "user": "Người dùng",
        "source_ip": "IP nguồn",
        "destination_ip": "IP đích",
        "events": "Số sự kiện",
        "first_seen": "Lần đầu",
        "last_seen": "Lần cuối",
        "attack": "ATT&CK",
        "status": "Trạng thái",
        "assignee": "Người xử lý",
        "sla_due": "Hạn xử lý",
        "link": "Xem chi tiết",
        "digest": "Tổng hợp",
        "alerts": "cảnh báo",
        "and_more": "và {n} cảnh báo khác",
        "informational": "thông tin",
        "low": "thấp",
        "medium": "trung bình",
        "high": "cao",
        "critical": "nghiêm trọng",
    },
}

MAX_DIGEST_LINES = 50


@dataclass(slots=True)
class Message:
    """One rendered message, ready for any channel."""

    subject: str
    text: str
    payload: dict[str, Any]  # JSON body of the generic webhook
    alert_ids: list[str] = field(default_factory=list)


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


class Renderer:
    def __init__(self, base_url: str, alert_path: str, timezone: str) -> None:
        self.base_url = base_url
        self.alert_path = alert_path
        self.tz = zone(timezone)

    def url(self, alert: dict[str, Any]) -> str:
        return model.alert_url(self.base_url, self.alert_path, str(alert.get("id", "")))

    def _time(self, value: Any) -> str:
        t = model.parse_ts(value)
        if t is None:
            return "-"
        return t.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    def _title(self, alert: dict[str, Any]) -> str:
        silent = alert.get("silent_source") or {}
        if silent:
            return f"{silent.get('field')}={silent.get('value')}"
        rule = alert.get("rule") or {}
        return str(rule.get("name") or alert.get("message") or rule.get("id") or "alert")

    def _where(self, alert: dict[str, Any]) -> str:
        parts = [
            (alert.get("host") or {}).get("name"),
            (alert.get("user") or {}).get("name"),
            (alert.get("source") or {}).get("ip"),
        ]
        if alert.get("silent_source"):
            return ""  # the title names the source
        return " / ".join(str(p) for p in parts if p)

    def _unit(self, alert: dict[str, Any]) -> str:
        org = alert.get("organization") or {}
        name, uid = org.get("name"), org.get("id")
        return f"{name} ({uid})" if name and name != uid else str(uid or "-")

    def render(self, n: Notification, lang: str) -> Message:
        t = TEXT.get(lang, TEXT["en"])
        a = n.alert
        sev = str(a.get("severity") or "medium")
        where = self._where(a)
        subject = f"[socmon][{sev.upper()}] {t.get(n.kind, n.kind)}: {self._title(a)}"
        if where:
            subject += f" — {where}"
        lines = [
            f"{t.get(n.kind, n.kind)}: {self._title(a)}",
            f"{t['severity']}: {t.get(sev, sev)} ({t['risk']} {a.get('risk_score', '-')})",
            f"{t['unit']}: {self._unit(a)}",
        ]
        for key, path in (
            ("host", ("host", "name")),
            ("user", ("user", "name")),
            ("source_ip", ("source", "ip")),
            ("destination_ip", ("destination", "ip")),
        ):
            v = (a.get(path[0]) or {}).get(path[1])
            if v:
                lines.append(f"{t[key]}: {v}")
        silent = a.get("silent_source") or {}
        if silent:
            lines.append(f"{silent.get('field')}: {silent.get('value')}")
            lines.append(f"{t['last_seen']}: {self._time(silent.get('last_event'))}")
        else:
            lines.append(
                f"{t['events']}: {a.get('event_count', 0)} · {t['first_seen']}: "
                f"{self._time(a.get('first_seen'))} · {t['last_seen']}: "
                f"{self._time(a.get('last_seen'))}"
            )
        threat = a.get("threat") or {}
        techniques = (threat.get("technique") or {}).get("id") or []
        tactics = (threat.get("tactic") or {}).get("name") or []
        if techniques or tactics:
            lines.append(f"{t['attack']}: {', '.join([*techniques, *tactics])}")
        status = f"{t['status']}: {a.get('status', '-')}"
        if a.get("assignee"):
            status += f" · {t['assignee']}: {a['assignee']}"
        if a.get("sla_due"):
            status += f" · {t['sla_due']}: {self._time(a.get('sla_due'))}"
        lines.append(status)
        url = self.url(a)
        lines.append(f"{t['link']}: {url}")
        payload = {
            "type": "socmon.alert",
            "kind": n.kind,
            "notification_id": n.id,
            "at": n.at,
            "language": lang,
            "subject": subject,
            "text": "\n".join(lines),
            "alert": _summary(a, url),
        }
        return Message(subject, "\n".join(lines), payload, [str(a.get("id", ""))])

    def render_digest(self, items: list[Notification], lang: str, route: str) -> Message:
        t = TEXT.get(lang, TEXT["en"])
        worst = max(
            (str(n.alert.get("severity") or "medium") for n in items),
            key=lambda s: model.SEVERITY_RANK.get(s, 2),
            default="medium",
        )
        subject = f"[socmon][{worst.upper()}] {t['digest']}: {len(items)} {t['alerts']} ({route})"
        lines = [subject.split("] ", 2)[-1], ""]
        for n in items[:MAX_DIGEST_LINES]:
            a = n.alert
            sev = str(a.get("severity") or "medium")
            where = self._where(a)
            line = f"- [{t.get(sev, sev)}] {t.get(n.kind, n.kind)}: {self._title(a)}"
            if where:
                line += f" — {where}"
            if a.get("kind") != model.KIND_SILENT_SOURCE:
                line += f" — {t['events']}: {a.get('event_count', 0)}"
            lines.append(line + f" — {self.url(a)}")
        if len(items) > MAX_DIGEST_LINES:
            lines.append(t["and_more"].format(n=len(items) - MAX_DIGEST_LINES))
        text = "\n".join(lines)
        payload = {
            "type": "socmon.digest",
            "route": route,
            "language": lang,
            "count": len(items),
            "subject": subject,
            "text": text,
            "notifications": [
                {
                    "kind": n.kind,
                    "notification_id": n.id,
                    "alert": _summary(n.alert, self.url(n.alert)),
                }
                for n in items
            ],
        }
        return Message(subject, text, payload, [str(n.alert.get("id", "")) for n in items])


def _summary(a: dict[str, Any], url: str) -> dict[str, Any]:
    rule = a.get("rule") or {}
    return {
        "id": a.get("id"),
        "url": url,
        "kind": a.get("kind"),
        "rule": {"id": rule.get("id"), "name": rule.get("name"), "level": rule.get("level")},
        "severity": a.get("severity"),
        "risk_score": a.get("risk_score"),
        "status": a.get("status"),
        "organization": a.get("organization"),
        "host": a.get("host"),
        "user": a.get("user"),
        "source": a.get("source"),
        "destination": a.get("destination"),
        "first_seen": a.get("first_seen"),
        "last_seen": a.get("last_seen"),
        "event_count": a.get("event_count"),
        "sla_due": a.get("sla_due"),
        "threat": a.get("threat"),
        "silent_source": a.get("silent_source"),
    }
