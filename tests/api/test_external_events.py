"""Events search over ``detection.external_sources``: other shippers' documents (Winlogbeat
straight to Elasticsearch) are searched with socmon's own events, scoped by the same unit
rule as their alerts (host glob, then agent glob, then the default unit), and each item
carries its unit. The expected units are a table in this test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from socmon.api.context import ApiContext
from socmon.indices import IndexNames
from socmon.settings import Settings
from socmon.settings.detection import ExternalSource
from tests.api.conftest import UNIT_A, UNIT_B, h, iso

# (host.name, agent.name) -> the unit the rules below give it
SHIPPED = {
    "w1": ("PC-A-01", "beat-1", UNIT_A),  # host glob, case-insensitive
    "w2": ("pc-x", "agent-b-7", UNIT_B),  # agent glob
    "w3": ("pc-a-02", "agent-b-8", UNIT_A),  # the host rule comes first
    "w4": ("pc-x", "other", "unassigned"),
}


@pytest.fixture
def api_settings(settings: Settings, index_prefix: str) -> Settings:
    s = settings.model_copy(deep=True)
    s.api.rate_limit_per_minute = 100_000
    s.api.rate_limit_burst = 100_000
    s.collectors = s.collectors.model_validate(
        {
            "organization_units": [
                {"id": UNIT_A, "name": "A", "hosts": ["pc-a-*"]},
                {"id": UNIT_B, "name": "B", "agents": ["agent-b-*"]},
            ]
        }
    )
    s.detection.external_sources = [
        ExternalSource(name="wlb", index=f"winlogbeat-{index_prefix}-*")
    ]
    return s


@pytest.fixture
def shipped(es_client: Elasticsearch, names: IndexNames, index_prefix: str) -> Iterator[None]:
    now = dt.datetime.now(dt.UTC)
    index = f"winlogbeat-{index_prefix}-8.15.0"
    # host.name and agent.name are keywords, as Winlogbeat's (ECS) index template maps them
    kw = {"type": "keyword"}
    es_client.indices.create(
        index=index,
        mappings={
            "properties": {
                "host": {"properties": {"name": kw}},
                "agent": {"properties": {"name": kw}},
            }
        },
    )
    ops: list[dict[str, object]] = []
    for i, (key, (host, agent, _)) in enumerate(SHIPPED.items()):
        ops += [
            {"create": {"_index": index, "_id": key}},
            {
                "@timestamp": iso(now - dt.timedelta(minutes=i + 1)),
                "host": {"name": host},
                "agent": {"name": agent, "type": "winlogbeat"},
                "event": {"code": "4625"},
                "winlog": {"channel": "Security", "event_data": {"TargetUserName": "admin"}},
            },
        ]
    ops += [
        {"create": {"_index": names.events(now.date()), "_id": "own-a"}},
        {"@timestamp": iso(now), "organization": {"id": UNIT_A}, "event": {"code": "4625"}},
    ]
    es_client.bulk(operations=ops, refresh="wait_for")
    yield
    es_client.indices.delete(index=index, ignore_unavailable=True)


def _ids(client, key: str, **params: object) -> dict[str, str]:
    r = client.get("/api/v1/events", params=params, headers=h(key))
    assert r.status_code == 200, r.text
    return {e["_id"]: e["organization"]["id"] for e in r.json()["items"]}


def test_external_documents_scoped_by_their_unit_rule(
    client, keys, ctx: ApiContext, shipped: None
) -> None:
    everything = _ids(client, keys["viewer"])
    assert everything == {"own-a": UNIT_A} | {k: u for k, (_, _, u) in SHIPPED.items()}
    assert _ids(client, keys["viewer@A"]) == {"own-a": UNIT_A, "w1": UNIT_A, "w3": UNIT_A}
    assert _ids(client, keys["viewer@B"]) == {"w2": UNIT_B}
    assert _ids(client, keys["viewer"], unit="unassigned") == {"w4": "unassigned"}
    assert _ids(client, keys["viewer@A"], q="winlog.event_data.TargetUserName:admin") == {
        "w1": UNIT_A,
        "w3": UNIT_A,
    }
