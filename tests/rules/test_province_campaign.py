"""The shipped cross-site correlation in scheduled mode against the real node: one source
address failing SSH logins at three organisation units within an hour raises one
province-level alert; at two units, none (the rule's table: value_count of organization.id
>= 3 per source.ip in 1 hour)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.ids import doc_id
from socmon.indices import IndexNames
from socmon.rules.loader import finish, load_paths
from socmon.rules.scheduled import ScheduledRunner
from socmon.rules.scheduled_convert import ScheduledSet, convert
from socmon.rules.scheduled_output import DetectionOutput
from socmon.settings import Settings
from tests.rules.test_late_events import LINUX, alerts, store_now
from tests.rules.test_scheduled_mode import ssh

pytestmark = pytest.mark.es

CAMPAIGN = "0c7d6a3e-5b1f-4e8a-9d2c-7f4b1a6e9c21"


def at(unit: str, t: float, ip: str) -> tuple[str, dict[str, Any]]:
    ev = ssh(t, ip)
    ev["organization"] = {"id": unit, "name": unit}
    return doc_id("campaign", ip, unit, str(t)), ev


def test_one_address_at_three_units_alerts_once_at_province_level(
    es_client: Elasticsearch, names: IndexNames, settings: Settings
) -> None:
    now = time.time()
    units = ["xa-an-binh", "phuong-1", "so-tai-chinh"]
    # one unit each, then more attempts at the first unit only: one campaign, one alert
    seq = [*units, units[0], units[0], units[0]]
    events = [at(u, now - 1500 + 200 * i, "198.51.100.44") for i, u in enumerate(seq)]
    events += [at(units[i % 2], now - 1500 + 200 * i, "198.51.100.45") for i in range(6)]
    store_now(es_client, settings, names, events)
    es_client.indices.refresh(index=names.events_pattern)
    conv = convert(finish(load_paths([LINUX])))
    only = ScheduledSet(
        rules=[],
        correlations=[c for c in conv.correlations if c.key == CAMPAIGN],
        suppressed=conv.suppressed,
    )
    ds = settings.detection.model_copy(update={"scheduled_delay": 0.0})
    r = ScheduledRunner(es_client, names, only, ds, DetectionOutput(es_client, names))
    assert r.run_once() == 1
    assert r.run_once() == 0
    got = alerts(es_client, names)
    assert [rule for rule, _ in got] == [CAMPAIGN]
    doc = es_client.get(index=names.alerts, id=got[0][1])["_source"]
    assert doc["group"] == [{"field": "source.ip", "value": "198.51.100.44"}]
    assert doc["severity"] == "critical"
