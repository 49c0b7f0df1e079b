"""The PromQL socmon ships (dashboard panels, recording and alert rules), and the metric names
each expression reads (parsed with promql-parser, not with regexes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import promql_parser
import yaml

from socmon.settings import PROJECT_ROOT

PROM_DIR = PROJECT_ROOT / "deploy" / "prometheus"
RULES_FILE = PROM_DIR / "socmon.rules.yml"
DASHBOARDS_DIR = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"

# Grafana variables -> what "All" selects (the dashboards' allValue), for evaluation.
VARIABLES = {
    "$__rate_interval": "1m",
    "${datasource}": "",
    "$job": "socmon.*",
    "$instance": ".*",
    "$unit": ".*",
}
# Series a dashboard may read that Prometheus itself makes, not socmon's /metrics.
PROMETHEUS_SERIES = {"up": "scrape health of each target", "ALERTS": "alert states"}


@dataclass(frozen=True)
class Expr:
    where: str  # "dashboard <uid> / <panel title> / <refId>" or "rule <name>"
    promql: str


def substitute(promql: str) -> str:
    for var, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        promql = promql.replace(var, value)
    return promql


def metric_names(promql: str) -> set[str]:
    """Metric names of every vector selector in the expression."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if type(node).__name__ == "VectorSelector":
            if node.name:
                out.add(node.name)
            return
        for attr in ("lhs", "rhs", "expr", "args", "param", "vector_selector"):
            child = getattr(node, attr, None)
            if child is None:
                continue
            for c in child if isinstance(child, list | tuple) else [child]:
                walk(c)

    walk(promql_parser.parse(substitute(promql)))
    return out


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def dashboard_exprs() -> list[Expr]:
    out = []
    for d in dashboards().values():
        for p in d["panels"]:
            for t in p.get("targets", []):
                out.append(Expr(f"dashboard {d['uid']} / {p['title']} / {t['refId']}", t["expr"]))
    return out


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"]]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def alert_rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def rule_exprs() -> list[Expr]:
    return [Expr(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in rules()]


def exposed_names(text: str) -> set[str]:
    """Sample names a /metrics body can have, from its # TYPE lines (counters and histograms
    expand to their series)."""
    out: set[str] = set()
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    for line in text.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split(maxsplit=3)
        out.add(name)
        for s in suffixes.get(kind, ()):
            out.add(name.removesuffix("_total") + s)
    return out
