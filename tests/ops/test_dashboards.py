"""Lint of deploy/grafana: the committed JSON is what generate.py writes; unique uids and titles;
every panel has a title, a unit, and queries on the datasource variable; every dashboard has
the datasource and organisation-unit variables; every expression parses. (That every metric
they name exists in socmon's /metrics is checked against a live `socmon run` in
test_prometheus_live.py.)"""

from __future__ import annotations

import subprocess
import sys

from socmon.settings import PROJECT_ROOT
from tests.ops.exprs import dashboard_exprs, dashboards, metric_names


def test_committed_json_is_generated() -> None:
    r = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "deploy" / "grafana" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_uids_titles_units_and_datasource_variable() -> None:
    ds = dashboards()
    assert len(ds) >= 6
    uids = [d["uid"] for d in ds.values()]
    titles = [d["title"] for d in ds.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for name, d in ds.items():
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        assert "unit" in variables, f"{name}: no organisation unit variable"
        for v in variables.values():
            if v["type"] == "query":
                assert v["datasource"]["uid"] == "${datasource}", (name, v["name"])
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), name
        panel_titles = [p["title"] for p in d["panels"]]
        assert len(set(panel_titles)) == len(panel_titles), f"{name}: panel titles repeat"
        for p in d["panels"]:
            where = f"{name} / {p.get('title')!r}"
            assert p.get("title"), where
            assert p["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
            assert p["datasource"]["uid"] == "${datasource}", where
            assert p["targets"], f"{where}: no query"
            for t in p["targets"]:
                assert t["datasource"]["uid"] == "${datasource}", where
                assert t["expr"].strip(), where


def test_every_expression_parses_and_names_a_metric() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) > 50
    for e in exprs:
        assert metric_names(e.promql), e.where


def test_unit_variable_filters_the_per_unit_panels() -> None:
    """Every expression over a series that has a unit label filters on $unit."""
    per_unit = {
        "socmon_ingest_events_total",
        "unit:socmon_ingest_events:rate5m",
        "unit_dataset:socmon_ingest_events:rate5m",
        "unit:socmon_ingest_last_event_age_seconds:min",
        "unit_dataset:socmon_ingest_last_event_age_seconds:min",
        "socmon_alerting_alerts_created_total",
        "socmon_alerting_alerts_updated_total",
    }
    checked = 0
    for e in dashboard_exprs():
        if metric_names(e.promql) & per_unit:
            assert 'unit=~"$unit"' in e.promql, e.where
            checked += 1
    assert checked >= 8
