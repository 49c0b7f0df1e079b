"""The printable report page: one self-contained HTML document, inline SVG charts, no
external assets (scripts, fonts, images), in Vietnamese or English."""

from __future__ import annotations

import html
from typing import Any

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo an toàn thông tin",
        "province": "Toàn tỉnh",
        "period": "Kỳ báo cáo",
        "scope": "Phạm vi",
        "total": "Tổng số cảnh báo",
        "by_severity": "Cảnh báo theo mức độ",
        "by_status": "Cảnh báo theo trạng thái",
        "over_time": "Cảnh báo theo thời gian",
        "top_rules": "Luật phát hiện nổi bật",
        "top_techniques": "Kỹ thuật ATT&CK nổi bật",
        "units": "Theo đơn vị",
        "unit": "Đơn vị",
        "count": "Số lượng",
        "rule": "Luật",
        "technique": "Kỹ thuật",
        "sla": "Vi phạm SLA",
        "open_overdue": "Đang mở, quá hạn",
        "closed_late": "Đóng trễ hạn",
        "mtta": "Thời gian trung bình đến khi tiếp nhận (MTTA)",
        "mttr": "Thời gian trung bình đến khi xử lý xong (MTTR)",
        "silent": "Nguồn dữ liệu im lặng",
        "none": "Không có",
        "generated": "Lập lúc",
        "informational": "Thông tin",
        "low": "Thấp",
        "medium": "Trung bình",
        "high": "Cao",
        "critical": "Nghiêm trọng",
        "open": "Mới",
        "acknowledged": "Đã tiếp nhận",
        "in_progress": "Đang xử lý",
        "resolved": "Đã xử lý",
        "false_positive": "Cảnh báo sai",
    },
    "en": {
        "title": "Security monitoring report",
        "province": "Whole province",
        "period": "Period",
        "scope": "Scope",
        "total": "Total alerts",
        "by_severity": "Alerts by severity",
        "by_status": "Alerts by status",
        "over_time": "Alerts over time",
        "top_rules": "Top detection rules",
        "top_techniques": "Top ATT&CK techniques",
        "units": "By unit",
        "unit": "Unit",
        "count": "Count",
        "rule": "Rule",
        "technique": "Technique",
        "sla": "SLA breaches",
        "open_overdue": "Open and overdue",
        "closed_late": "Closed late",
        "mtta": "Mean time to acknowledge (MTTA)",
        "mttr": "Mean time to resolve (MTTR)",
        "silent": "Silent sources",
        "none": "None",
        "generated": "Generated",
        "informational": "Informational",
        "low": "Low",
        "medium": "Medium",
        "high": "High",
        "critical": "Critical",
        "open": "Open",
        "acknowledged": "Acknowledged",
        "in_progress": "In progress",
        "resolved": "Resolved",
        "false_positive": "False positive",
    },
}

SEVERITY_ORDER = ("critical", "high", "medium", "low", "informational")
SEVERITY_COLOUR = {
    "critical": "#7b1fa2",
    "high": "#d32f2f",
    "medium": "#f57c00",
    "low": "#fbc02d",
    "informational": "#1976d2",
}


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return TEXT[lang]["none"]
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    unit_h, unit_m, unit_s = ("giờ", "phút", "giây") if lang == "vi" else ("h", "min", "s")
    if h:
        return f"{h} {unit_h} {m} {unit_m}"
    if m:
        return f"{m} {unit_m} {sec} {unit_s}"
    return f"{sec} {unit_s}"


def bar_chart(items: list[tuple[str, int, str]], width: int = 520) -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return ""
    row, label_w = 24, 170
    top = max(v for _, v, _ in items) or 1
    h = row * len(items) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
        f'viewBox="0 0 {width} {h}" role="img">'
    ]
    for i, (label, value, colour) in enumerate(items):
        y = 4 + i * row
        w = int((width - label_w - 60) * value / top)
        parts.append(f'<text x="0" y="{y + 16}" font-size="12">{_e(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="16" fill="{colour}"/>'
        )
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 16}" font-size="12">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def time_chart(points: list[dict[str, Any]], width: int = 640, height: int = 180) -> str:
    """Stacked columns by severity over time."""
    if not points:
        return ""
    top = max(p["total"] for p in points) or 1
    n = len(points)
    bw = max((width - 40) / n, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" '
        f'viewBox="0 0 {width} {height + 20}" role="img">',
        f'<line x1="40" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>',
        f'<text x="0" y="12" font-size="11">{top}</text>',
        f'<text x="0" y="{height}" font-size="11">0</text>',
    ]
    for i, p in enumerate(points):
        x = 40 + i * bw
        y = float(height)
        for sev in reversed(SEVERITY_ORDER):
            v = p["by_severity"].get(sev, 0)
            if not v:
                continue
            h = (height - 10) * v / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{SEVERITY_COLOUR[sev]}"><title>{_e(p["t"])}: '
                f"{sev} {v}</title></rect>"
            )
    parts.append(f'<text x="40" y="{height + 15}" font-size="10">{_e(points[0]["t"][:16])}</text>')
    parts.append(
        f'<text x="{width - 110}" y="{height + 15}" font-size="10">'
        f"{_e(points[-1]['t'][:16])}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]], none: str) -> str:
    if not rows:
        return f"<p>{_e(none)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(report: dict[str, Any], lang: str) -> str:
    t = TEXT[lang]
    fig = report["figures"]
    scope = ", ".join(report["units"]) if report["units"] else t["province"]
    sev_items = [(t[s], fig["by_severity"].get(s, 0), SEVERITY_COLOUR[s]) for s in SEVERITY_ORDER]
    status_items = [(t.get(k, k), v, "#455a64") for k, v in sorted(fig["by_status"].items())]
    units_rows = [
        [
            u["name"] or u["id"],
            u["id"],
            u["total"],
            ", ".join(f"{t.get(k, k)}: {v}" for k, v in u["by_severity"].items()),
        ]
        for u in fig.get("units", [])
    ]
    silent = fig["silent_sources"]
    silent_rows = [[k, v] for k, v in sorted(silent["hosts"].items())]
    rule_rows = [[r["name"], r["id"], r["count"]] for r in fig["by_rule"]]
    rules_table = _table([t["rule"], "id", t["count"]], rule_rows, t["none"])
    tech_rows = [[r["id"], r["count"]] for r in fig["top_techniques"]]
    tech_table = _table([t["technique"], t["count"]], tech_rows, t["none"])
    sla = fig["sla_breaches"]
    sla_table = _table(
        [t["open_overdue"], t["closed_late"]],
        [[sla["open_overdue"], sla["closed_late"]]],
        t["none"],
    )
    silent_table = _table(["host.name", t["count"]], silent_rows, t["none"])
    units_table = _table([t["unit"], "id", t["total"], t["by_severity"]], units_rows, t["none"])
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{_e(t["title"])}</title>
<style>
body{{font-family:"DejaVu Sans",Arial,sans-serif;margin:2em;color:#222}}
h1{{font-size:1.6em}} h2{{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.5em}}
table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #bbb;padding:3px 8px;font-size:12px}}
.kpi{{display:inline-block;margin-right:2em}} .kpi b{{font-size:1.4em;display:block}}
@media print{{body{{margin:1cm}} h2{{page-break-after:avoid}}}}
</style></head><body>
<h1>{_e(t["title"])}</h1>
<p>{_e(t["period"])}: {_e(report["start"])} → {_e(report["end"])}<br>
{_e(t["scope"])}: {_e(scope)}<br>{_e(t["generated"])}: {_e(report["generated"])}</p>
<div class="kpi">{_e(t["total"])}<b>{fig["total"]}</b></div>
<div class="kpi">{_e(t["mtta"])}<b>{_e(duration(fig["mtta_seconds"], lang))}</b></div>
<div class="kpi">{_e(t["mttr"])}<b>{_e(duration(fig["mttr_seconds"], lang))}</b></div>
<h2>{_e(t["by_severity"])}</h2>{bar_chart(sev_items)}
<h2>{_e(t["by_status"])}</h2>{bar_chart(status_items)}
<h2>{_e(t["over_time"])}</h2>{time_chart(fig["over_time"])}
<h2>{_e(t["top_rules"])}</h2>
{rules_table}
<h2>{_e(t["top_techniques"])}</h2>
{tech_table}
<h2>{_e(t["sla"])}</h2>
{sla_table}
<h2>{_e(t["silent"])}</h2>
{silent_table}
<h2>{_e(t["units"])}</h2>
{units_table}
</body></html>
"""
