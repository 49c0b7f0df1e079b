"""Shared fixtures: the real Elasticsearch node, per-test index prefixes, the public corpora.

The test command (``make test``) starts a real single-node Elasticsearch with ``deploy/es.sh``
on port ``SOCMON_TEST_ES_PORT`` (default 9250) and exports ``SOCMON_TEST_ES_URL``. Run
directly with pytest, this conftest starts that node itself (idempotent).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.es import is_reachable, make_client
from socmon.indices import IndexNames, apply_templates
from socmon.settings import PROJECT_ROOT, Settings, load_settings

TEST_ES_PORT = int(os.environ.get("SOCMON_TEST_ES_PORT", "9250"))
DATASETS = Path(os.environ.get("SOCMON_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))
REQUIRE_DATASETS = os.environ.get("SOCMON_REQUIRE_DATASETS", "") not in ("", "0", "false")


def _start_test_node() -> str:
    env = dict(os.environ, SOCMON_ES_LOCAL_PORT=str(TEST_ES_PORT))
    subprocess.run(["bash", str(PROJECT_ROOT / "deploy" / "es.sh"), "up"], env=env, check=True)
    return f"http://127.0.0.1:{TEST_ES_PORT}"


@pytest.fixture(scope="session")
def es_url() -> str:
    url = os.environ.get("SOCMON_TEST_ES_URL") or _start_test_node()
    return url


@pytest.fixture(scope="session")
def es_client(es_url: str) -> Elasticsearch:
    client = make_client(load_settings(es={"url": es_url}).es)
    assert is_reachable(client), f"test Elasticsearch at {es_url} is not reachable"
    return client


@pytest.fixture
def index_prefix(es_client: Elasticsearch) -> Iterator[str]:
    """A unique index prefix per test; its indices and templates are deleted afterwards."""
    prefix = f"socmon-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    es_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    tmpl = es_client.options(ignore_status=404).indices.get_index_template(name=f"{prefix}-*")
    for t in tmpl.get("index_templates", []) if tmpl else []:
        es_client.indices.delete_index_template(name=t["name"])


@pytest.fixture
def names(index_prefix: str, es_client: Elasticsearch) -> IndexNames:
    """Index names under the test's prefix, with the templates applied."""
    n = IndexNames(index_prefix)
    apply_templates(es_client, n)
    return n


@pytest.fixture
def settings(es_url: str, index_prefix: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test node, the test's prefix and a private var dir."""
    return load_settings(
        es={"url": es_url, "index_prefix": index_prefix},
        var_dir=tmp_path / "var",
        storage={"spool_dir": tmp_path / "spool", "backoff_initial": 0.05, "backoff_max": 0.5},
    )


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The public corpora (../shared/datasets or SOCMON_DATASETS); skip visibly if absent,
    fail when SOCMON_REQUIRE_DATASETS is set (CI)."""
    if not DATASETS.is_dir():
        msg = f"public corpora not found at {DATASETS} (set SOCMON_DATASETS)"
        if REQUIRE_DATASETS:
            pytest.fail(msg + "; SOCMON_REQUIRE_DATASETS is set")
        pytest.skip(msg)
    return DATASETS
