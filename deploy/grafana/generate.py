"""Generate socmon's Grafana dashboards (deploy/grafana/dashboards/*.json) as code.

    python deploy/grafana/generate.py          # rewrite the JSON files
    python deploy/grafana/generate.py --check  # exit 1 when a committed file is stale

Plain Python, no SDK: a dashboard is a title, a uid and a list of panels; every panel has a
title, a unit and PromQL on the ``$datasource`` variable. Every dashboard has the variables
``datasource``, ``job``, ``instance`` and ``unit`` (organisation unit, where the metric has that
label). Schema: Grafana 11 (schemaVersion 39). tests/ops/ lint the result and evaluate every
expression against a real Prometheus scraping a real ``socmon run``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
# Selector of socmon's own series; recording rules aggregated by unit carry only ``unit``.
SEL = 'job=~"$job", instance=~"$instance"'
UNIT = 'unit=~"$unit"'
RATE = "$__rate_interval"


@dataclass
class Panel:
    title: str
    exprs: list[tuple[str, str]]  # (PromQL, legend)
    unit: str
    description: str = ""
    kind: str = "timeseries"
    width: int = 12
    mappings: list[dict[str, object]] = field(default_factory=list)


def stat(title: str, expr: str, unit: str, description: str = "", **kw: object) -> Panel:
    return Panel(title, [(expr, "")], unit, description, kind="stat", width=6, **kw)  # type: ignore[arg-type]


def ts(title: str, exprs: list[tuple[str, str]] | str, unit: str, description: str = "") -> Panel:
    if isinstance(exprs, str):
        exprs = [(exprs, "")]
    return Panel(title, exprs, unit, description)


HEALTH_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "green", "color": "green"},
            "1": {"text": "yellow", "color": "yellow"},
            "2": {"text": "red", "color": "red"},
        },
    }
]
UP_MAPPING = [
    {
        "type": "value",
        "options": {"0": {"text": "down", "color": "red"}, "1": {"text": "up", "color": "green"}},
    }
]
HEALTH = (
    f'max(socmon_es_cluster_health_status{{{SEL}, color="red"}}) * 2'
    f' + max(socmon_es_cluster_health_status{{{SEL}, color="yellow"}})'
)


def hq(q: float, metric: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{SEL}}}[{RATE}])))"


def rate(metric: str, by: str = "", extra: str = "") -> str:
    sel = SEL + (f", {extra}" if extra else "")
    agg = f"sum by ({by}) " if by else "sum "
    return f"{agg}(rate({metric}{{{sel}}}[{RATE}]))"


OVERVIEW = [
    stat(
        "socmon targets up",
        'sum(up{job=~"$job", instance=~"$instance"})',
        "none",
        "Scraped socmon processes answering (Prometheus' up).",
    ),
    stat(
        "Elasticsearch reachable",
        f"min(socmon_es_up{{{SEL}}})",
        "none",
        "1 when socmon read the cluster's health at its last poll.",
        mappings=UP_MAPPING,
    ),
    stat("Cluster health", HEALTH, "none", "0 green, 1 yellow, 2 red.", mappings=HEALTH_MAPPING),
    stat(
        "Firing socmon alerts",
        'sum(ALERTS{alertname=~"Socmon.*", alertstate="firing"}) or vector(0)',
        "none",
        "Prometheus alerts of deploy/prometheus/socmon.rules.yml now firing.",
    ),
    ts(
        "Events ingested per unit",
        [(f"sum by (unit) (unit:socmon_ingest_events:rate5m{{{UNIT}}})", "{{unit}}")],
        "ops",
    ),
    ts(
        "Detections by level",
        [(rate("socmon_rules_streaming_detections_total", "level"), "{{level}}")],
        "ops",
    ),
    ts(
        "Open alerts by severity",
        [(f"sum by (severity) (socmon_alerting_open_alerts{{{SEL}}})", "{{severity}}")],
        "none",
    ),
    ts(
        "Disk spool",
        [(f"sum by (instance) (socmon_spool_bytes{{{SEL}}})", "{{instance}}")],
        "bytes",
        "Bytes waiting on disk for Elasticsearch (0 in normal operation).",
    ),
    ts(
        "API 5xx ratio",
        [(f"job_instance:socmon_api_requests_5xx:ratio_rate5m{{{SEL}}}", "{{instance}}")],
        "percentunit",
    ),
    ts(
        "Notifications sent and given up",
        [
            (rate("socmon_alerting_notifications_sent_total", "channel"), "sent {{channel}}"),
            (
                f"sum(increase(socmon_alerting_notification_dead_letters_total{{{SEL}}}[1h]))"
                " or vector(0)",
                "dead letters (1h)",
            ),
        ],
        "ops",
    ),
]

INGEST = [
    ts(
        "Events per unit",
        [(f"sum by (unit) (unit:socmon_ingest_events:rate5m{{{UNIT}}})", "{{unit}}")],
        "ops",
    ),
    ts(
        "Events per unit and dataset",
        [(f"unit_dataset:socmon_ingest_events:rate5m{{{UNIT}}}", "{{unit}} {{dataset}}")],
        "ops",
    ),
    ts(
        "Time since the last event, per unit and dataset",
        [
            (
                f"unit_dataset:socmon_ingest_last_event_age_seconds:min{{{UNIT}}}",
                "{{unit}} {{dataset}}",
            )
        ],
        "s",
        "Alerts SocmonSourceSilent / SocmonUnitSilent fire above 30 minutes.",
    ),
    ts(
        "Time since the last event, per unit",
        [(f"unit:socmon_ingest_last_event_age_seconds:min{{{UNIT}}}", "{{unit}}")],
        "s",
    ),
    ts(
        "Ingest delay p50 / p95 by source",
        [
            (
                hq(0.5, "socmon_ingest_delay_seconds", "le, source, path"),
                "p50 {{source}} {{path}}",
            ),
            (
                hq(0.95, "socmon_ingest_delay_seconds", "le, source, path"),
                "p95 {{source}} {{path}}",
            ),
        ],
        "s",
        "Seconds from an event's @timestamp to its hand-over to Elasticsearch, per "
        "event.dataset; path direct (written at once) or replay (from a site's disk spool after "
        "an outage: large by nature). Alert SocmonIngestDelayHigh watches the direct path.",
    ),
    ts(
        "Events by source kind and format",
        [(rate("socmon_collector_events_total", "source, format"), "{{source}} {{format}}")],
        "ops",
    ),
    ts(
        "Bad input by kind",
        [(rate("socmon_collector_bad_input_total", "kind, source"), "{{kind}} ({{source}})")],
        "ops",
        "Records kept with a failure tag (parse_failure, invalid_utf8, ...), counted.",
    ),
    ts("Bytes read", [(rate("socmon_collector_read_bytes_total", "source"), "{{source}}")], "Bps"),
    ts(
        "Syslog messages by sender",
        [
            (
                rate("socmon_collector_syslog_messages_total", "protocol, sender"),
                "{{protocol}} {{sender}}",
            )
        ],
        "ops",
    ),
    ts("Files followed", [(f"sum(socmon_collector_files_open{{{SEL}}})", "files")], "none"),
    ts("Network packets", [(rate("socmon_network_packets_total", "source"), "{{source}}")], "pps"),
    ts(
        "Live capture drops",
        [
            (
                rate("socmon_network_dropped_packets_total", "interface, where"),
                "{{interface}} {{where}}",
            )
        ],
        "pps",
    ),
    ts(
        "Network flows in the table",
        [(f"sum(socmon_network_flows_active{{{SEL}}})", "flows")],
        "none",
    ),
    ts(
        "Bulk writer documents by outcome",
        [("outcome:socmon_bulk_documents:rate5m", "{{outcome}}")],
        "ops",
    ),
    ts(
        "Spool: oldest batch age",
        [(f"max(socmon_spool_oldest_batch_age_seconds{{{SEL}}})", "oldest")],
        "s",
    ),
]

DETECTION = [
    stat("Streaming rules loaded", f"sum(socmon_rules_streaming_rules{{{SEL}}})", "none"),
    stat("Open correlation groups", f"sum(socmon_correlation_groups{{{SEL}}})", "none"),
    stat(
        "Rule problems (1h)",
        f"sum(increase(socmon_rules_problems_total{{{SEL}}}[1h])) or vector(0)",
        "none",
    ),
    stat(
        "Streaming queue fill",
        f"max(socmon_rules_streaming_queue_depth{{{SEL}}}"
        f" / socmon_rules_streaming_queue_capacity{{{SEL}}})",
        "percentunit",
    ),
    ts("Events evaluated", [(rate("socmon_rules_streaming_events_total"), "events")], "ops"),
    ts(
        "Streaming detections by level",
        [(rate("socmon_rules_streaming_detections_total", "level"), "{{level}}")],
        "ops",
    ),
    ts(
        "Engine latency p99 (one event, all rules)",
        [("socmon_rules_streaming_match_seconds:p99_5m", "p99")],
        "s",
    ),
    ts(
        "Streaming queue wait",
        [(f"max(socmon_rules_streaming_queue_wait_seconds{{{SEL}}})", "wait")],
        "s",
        "Detection lag: how long events wait.",
    ),
    ts(
        "Correlation detections by type",
        [(rate("socmon_correlation_detections_total", "type"), "{{type}}")],
        "ops",
    ),
    ts(
        "Correlation evictions",
        [(rate("socmon_correlation_evictions_total", "reason"), "{{reason}}")],
        "ops",
    ),
    ts(
        "Scheduled rule lag",
        [(f"max by (rule) (socmon_scheduled_rule_lag_seconds{{{SEL}}})", "{{rule}}")],
        "s",
    ),
    ts("Scheduled pass duration p90", [(hq(0.9, "socmon_scheduled_run_seconds"), "p90")], "s"),
    ts(
        "Scheduled detections",
        [(rate("socmon_scheduled_detections_total", "outcome"), "{{outcome}}")],
        "ops",
    ),
    ts(
        "Scheduled coverage gaps (1h)",
        [
            (
                f"sum by (rule) (increase(socmon_scheduled_gap_seconds_total{{{SEL}}}[1h]))",
                "{{rule}}",
            )
        ],
        "s",
        "Event time never searched by a scheduled rule.",
    ),
    ts(
        "Rule reloads (1h)",
        [(f"sum by (outcome) (increase(socmon_rules_reloads_total{{{SEL}}}[1h]))", "{{outcome}}")],
        "none",
    ),
]

ALERTING = [
    ts(
        "Alerts created by severity",
        [(rate("socmon_alerting_alerts_created_total", "severity", UNIT), "{{severity}}")],
        "ops",
    ),
    ts(
        "Alerts created by unit",
        [(rate("socmon_alerting_alerts_created_total", "unit", UNIT), "{{unit}}")],
        "ops",
    ),
    ts(
        "Alerts updated by grouping",
        [(rate("socmon_alerting_alerts_updated_total", "severity", UNIT), "{{severity}}")],
        "ops",
    ),
    ts(
        "Open alerts by status",
        [(f"sum by (status) (socmon_alerting_open_alerts{{{SEL}}})", "{{status}}")],
        "none",
    ),
    ts("Event to alert p90", [("socmon_alerting_event_to_alert_seconds:p90_5m", "p90")], "s"),
    ts(
        "Queues",
        [
            (f"sum(socmon_alerting_detection_queue_depth{{{SEL}}})", "detections"),
            (f"sum(socmon_alerting_notification_queue_depth{{{SEL}}})", "notifications"),
        ],
        "none",
    ),
    ts(
        "Notifications sent by channel",
        [(rate("socmon_alerting_notifications_sent_total", "channel"), "{{channel}}")],
        "ops",
    ),
    ts(
        "Notification failures by channel",
        [(rate("socmon_alerting_notification_failures_total", "channel"), "{{channel}}")],
        "ops",
    ),
    ts(
        "Notification dead letters (1h)",
        [
            (
                "sum by (channel) (increase(socmon_alerting_notification_dead_letters_total"
                f"{{{SEL}}}[1h]))",
                "{{channel}}",
            )
        ],
        "none",
    ),
    ts(
        "Silent sources",
        [(f"sum by (field) (socmon_alerting_silent_sources{{{SEL}}})", "{{field}}")],
        "none",
    ),
    ts(
        "Alerts past their SLA",
        [(f"sum(socmon_alerting_sla_breached_alerts{{{SEL}}})", "breached")],
        "none",
    ),
]

API = [
    ts("Requests by route", [("route:socmon_api_requests:rate5m", "{{route}}")], "reqps"),
    ts(
        "Requests by status", [(rate("socmon_api_requests_total", "status"), "{{status}}")], "reqps"
    ),
    ts(
        "5xx ratio",
        [(f"job_instance:socmon_api_requests_5xx:ratio_rate5m{{{SEL}}}", "{{instance}}")],
        "percentunit",
    ),
    ts(
        "Latency p99 by route",
        [("route:socmon_api_request_duration_seconds:p99_5m", "{{route}}")],
        "s",
    ),
    ts(
        "Authentication failures",
        [(rate("socmon_api_auth_failures_total", "reason"), "{{reason}}")],
        "reqps",
    ),
    ts(
        "Rejected bodies (too large)",
        [(rate("socmon_api_rejected_bodies_total"), "rejected")],
        "reqps",
    ),
    ts(
        "Audit records",
        [(rate("socmon_api_audit_records_total", "object_type"), "{{object_type}}")],
        "ops",
    ),
]

ELASTICSEARCH = [
    stat("Reachable", f"min(socmon_es_up{{{SEL}}})", "none", mappings=UP_MAPPING),
    stat("Cluster health", HEALTH, "none", "0 green, 1 yellow, 2 red.", mappings=HEALTH_MAPPING),
    stat("Nodes", f"max(socmon_es_cluster_nodes{{{SEL}}})", "none"),
    stat("Unassigned shards", f"max(socmon_es_cluster_unassigned_shards{{{SEL}}})", "none"),
    ts(
        "Disk used per node and watermarks",
        [
            (f"node:socmon_es_disk_used:ratio{{{SEL}}}", "{{node}}"),
            (f"max by (level) (socmon_es_disk_watermark_ratio{{{SEL}}})", "watermark {{level}}"),
        ],
        "percentunit",
    ),
    ts(
        "Disk available per node",
        [(f"max by (node) (socmon_es_node_fs_available_bytes{{{SEL}}})", "{{node}}")],
        "bytes",
    ),
    ts(
        "Bulk documents by outcome",
        [(rate("socmon_bulk_documents_total", "outcome"), "{{outcome}}")],
        "ops",
    ),
    ts(
        "Bulk request duration p99",
        [(hq(0.99, "socmon_bulk_request_duration_seconds"), "p99")],
        "s",
    ),
    ts(
        "Bulk retries by reason",
        [(rate("socmon_bulk_retries_total", "reason"), "{{reason}}")],
        "ops",
        "status_429 / document_429: the cluster rejects writes (SocmonBulkRejections).",
    ),
    ts(
        "Documents dead-lettered",
        [(rate("socmon_bulk_dead_lettered_documents_total"), "dead-lettered")],
        "ops",
    ),
    ts("Spool", [(f"sum(socmon_spool_bytes{{{SEL}}})", "bytes")], "bytes"),
    ts("Pending bulk batches", [(f"sum(socmon_bulk_pending_batches{{{SEL}}})", "batches")], "none"),
]

DASHBOARDS = [
    ("socmon-overview", "socmon / Overview", "Health of every layer at a glance.", OVERVIEW),
    ("socmon-ingest", "socmon / Ingest", "Rate, silence and failures per source and unit.", INGEST),
    (
        "socmon-detection",
        "socmon / Detection",
        "Rules, matches, engine latency, scheduled coverage and lag, correlations.",
        DETECTION,
    ),
    (
        "socmon-alerting",
        "socmon / Alerting and notifications",
        "Alerts and their delivery.",
        ALERTING,
    ),
    ("socmon-api", "socmon / API", "Requests, errors, latency, authentication.", API),
    (
        "socmon-elasticsearch",
        "socmon / Elasticsearch",
        "Cluster health, disk, bulk writes.",
        ELASTICSEARCH,
    ),
]


def variable(name: str, label: str, query: str, all_value: str = ".*") -> dict[str, object]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"var-{name}"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": all_value,
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def templating() -> dict[str, object]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            },
            variable("job", "Job", 'label_values(up{job=~"socmon.*"}, job)', "socmon.*"),
            variable("instance", "Instance", 'label_values(up{job=~"$job"}, instance)'),
            variable("unit", "Organisation unit", "label_values(socmon_ingest_events_total, unit)"),
        ]
    }


def panel_json(p: Panel, pid: int, x: int, y: int) -> dict[str, object]:
    defaults: dict[str, object] = {"unit": p.unit}
    if p.mappings:
        defaults["mappings"] = p.mappings
    out: dict[str, object] = {
        "id": pid,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DS,
        "gridPos": {"h": 4 if p.kind == "stat" else 8, "w": p.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": e, "legendFormat": legend}
            for i, (e, legend) in enumerate(p.exprs)
        ],
    }
    if p.kind == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}
    return out


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, object]:
    out, x, y, row_h = [], 0, 0, 0
    for i, p in enumerate(panels, start=1):
        if x + p.width > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel_json(p, i, x, y))
        row_h = max(row_h, 4 if p.kind == "stat" else 8)
        x += p.width
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["socmon"],
        "timezone": "browser",
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [
            {"title": "socmon", "type": "dashboards", "tags": ["socmon"], "asDropdown": True}
        ],
        "templating": templating(),
        "panels": out,
    }


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{uid}.json": json.dumps(dashboard(uid, t, d, p), indent=2, ensure_ascii=False) + "\n"
        for uid, t, d, p in DASHBOARDS
    }


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [
            n
            for n, text in files.items()
            if not (OUT / n).is_file() or (OUT / n).read_text(encoding="utf-8") != text
        ]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        for n in stale + extra:
            print(f"stale: deploy/grafana/dashboards/{n} (run python deploy/grafana/generate.py)")
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (OUT / n).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
