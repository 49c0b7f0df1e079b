"""bench/bulk_writer.py runs on a tiny input against the test node and ends with one JSON
line naming its baseline: parallel_bulk with as many threads as socmon's senders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from socmon.settings import PROJECT_ROOT, StorageSettings

pytestmark = pytest.mark.es


def test_bench_bulk_writer_tiny(es_url: str, index_prefix: str) -> None:
    r = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "bulk_writer.py"),
            "--docs",
            "3000",
            "--repeats",
            "1",
            "--prefix",
            index_prefix,
            "--es-url",
            es_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "bulk_writer" and last["baseline"] == "helpers.parallel_bulk"
    assert last["senders"] == last["parallel_bulk_threads"] == StorageSettings().senders
    for k in ("socmon_docs_per_s", "parallel_bulk_docs_per_s", "helpers_bulk_docs_per_s"):
        assert last[k] > 0, k
