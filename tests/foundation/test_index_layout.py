"""Shards and replicas of socmon's indices (issue 14): from settings, or decided by
``socmon setup`` from the cluster's data nodes (the rule operators of Elastic clusters use:
one replica when a second data node can hold it, none on a single node). The multi-node
half is in tests/foundation/test_cluster.py (3 data nodes -> 1 replica)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames, apply_templates, replicas_for
from socmon.settings import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.es


def index_replicas(client: Elasticsearch, index: str) -> int:
    got = client.indices.get_settings(index=index, name="index.number_of_replicas")
    return int(next(iter(got.values()))["settings"]["index"]["number_of_replicas"])


def template_index_settings(client: Elasticsearch, names: IndexNames) -> dict[str, str]:
    got = client.indices.get_index_template(name=f"{names.prefix}-events")
    settings: dict[str, str] = got["index_templates"][0]["index_template"]["template"]["settings"][
        "index"
    ]
    return settings


def test_rule_of_the_decision() -> None:
    # the table: 0 data nodes (none answered) and 1 -> 0; 2 or more -> 1
    assert [replicas_for(n) for n in (0, 1, 2, 3, 9)] == [0, 0, 1, 1, 1]


def test_single_node_gets_no_replica_and_settings_win(
    es_client: Elasticsearch, index_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    names = IndexNames(index_prefix)
    assert es_client.cluster.health()["number_of_data_nodes"] == 1
    url = es_client.transport.node_pool.get().base_url
    es = load_settings(es={"index_prefix": index_prefix, "url": url}).es
    with caplog.at_level(logging.INFO, logger="socmon.indices"):
        apply_templates(es_client, names, es, redecide=True)
    decided = [r for r in caplog.records if r.getMessage() == "index layout"]
    assert decided and decided[-1].__dict__["reason"] == "1 data node(s)"
    assert template_index_settings(es_client, names)["number_of_replicas"] == "0"
    es_client.index(index=f"{index_prefix}-events-2026.12.01", document={"a": 1}, refresh=True)
    assert index_replicas(es_client, f"{index_prefix}-events-2026.12.01") == 0
    assert es_client.cluster.health(index=f"{index_prefix}-*")["status"] == "green"

    # explicit settings: 3 shards, 2 replicas (a cluster this node is not: shown, not run)
    explicit = load_settings(
        es={
            "index_prefix": index_prefix,
            "url": url,
            "number_of_shards": 3,
            "number_of_replicas": 2,
        }
    ).es
    apply_templates(es_client, names, explicit)
    got = template_index_settings(es_client, names)
    assert (got["number_of_shards"], got["number_of_replicas"]) == ("3", "2")
    # a later start without an explicit value keeps the template's decision...
    apply_templates(es_client, names, es)
    assert template_index_settings(es_client, names)["number_of_replicas"] == "2"
    # ...and `socmon setup` decides again, for the template and the existing indices
    env = dict(os.environ, SOCMON_ES_URL=es.effective_url, SOCMON_ES_INDEX_PREFIX=index_prefix)
    env.pop("SOCMON_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "socmon", "setup"], env=env, cwd=PROJECT_ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert template_index_settings(es_client, names)["number_of_replicas"] == "0"
    assert index_replicas(es_client, f"{index_prefix}-alerts") == 0
    assert index_replicas(es_client, f"{index_prefix}-events-2026.12.01") == 0
