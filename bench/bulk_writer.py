"""Benchmark: socmon's bulk writer vs elasticsearch.helpers.bulk on the same ECS documents.

Target (issue 2): socmon's writer at >= 0.9 of the raw helper's rate. Both write the same
200,000 documents with the same ids, op_type and batch size into fresh indices with the events
template; runs alternate and the medians are compared. Prints the figures and ends with one
JSON line.

    .venv/bin/python bench/bulk_writer.py [--docs N] [--repeats R] [--es-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socmon.bulk import BulkWriter  # noqa: E402
from socmon.ids import doc_id  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.settings import load_settings  # noqa: E402


def make_docs(n: int) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for i in range(n):
        docs.append(
            (
                doc_id("bench", i),
                {
                    "@timestamp": f"2026-11-24T10:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
                    "message": f"Failed password for invalid user admin{i % 97} "
                    f"from 198.51.100.{i % 250} port {40000 + i % 20000} ssh2",
                    "event": {
                        "dataset": "system.auth",
                        "kind": "event",
                        "category": ["authentication"],
                        "type": ["start"],
                        "outcome": "failure",
                        "original": f"<38>Nov 24 10:00:00 web01 sshd[{i}]: Failed password",
                    },
                    "source": {"ip": f"198.51.100.{i % 250}", "port": 40000 + i % 20000},
                    "host": {"name": f"web{i % 20:02d}"},
                    "user": {"name": f"admin{i % 97}"},
                    "process": {"name": "sshd", "pid": i},
                    "organization": {"id": f"unit-{i % 12}", "name": f"Unit {i % 12}"},
                    "log": {"file": {"path": "/var/log/auth.log"}, "offset": i * 120},
                },
            )
        )
    return docs


def run_socmon(client: Elasticsearch, names: IndexNames, docs: list, batch: int) -> float:
    s = load_settings(es={"url": "http://unused:1"}, storage={"batch_size": batch})
    index = f"{names.prefix}-events-2026.11.24"
    with tempfile.TemporaryDirectory() as spool:
        w = BulkWriter(client, s.storage, names, spool_dir=Path(spool))
        t0 = time.perf_counter()
        for did, doc in docs:
            w.add(index, did, doc)
        w.close()
        dt = time.perf_counter() - t0
    assert w.counts["created"] == len(docs), w.counts
    return dt


def run_helper(client: Elasticsearch, names: IndexNames, docs: list, batch: int) -> float:
    index = f"{names.prefix}-events-2026.11.24"
    actions = (
        {"_op_type": "create", "_index": index, "_id": did, "_source": doc} for did, doc in docs
    )
    t0 = time.perf_counter()
    ok, errors = helpers.bulk(client, actions, chunk_size=batch, max_chunk_bytes=8 * 1024 * 1024)
    dt = time.perf_counter() - t0
    assert ok == len(docs) and not errors
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--es-url", default=os.environ.get("SOCMON_TEST_ES_URL"))
    args = ap.parse_args()
    url = args.es_url
    if not url:
        port = os.environ.get("SOCMON_TEST_ES_PORT", "9250")
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "es.sh"), "up"],
            env=dict(os.environ, SOCMON_ES_LOCAL_PORT=port),
            check=True,
        )
        url = f"http://127.0.0.1:{port}"
    client = Elasticsearch(url, request_timeout=120)
    docs = make_docs(args.docs)
    rates: dict[str, list[float]] = {"socmon": [], "helpers_bulk": []}
    for r in range(args.repeats):
        for name, fn in (("helpers_bulk", run_helper), ("socmon", run_socmon)):
            names = IndexNames(f"bench-bulk-{name.replace('_', '')}-{r}")
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
            apply_templates(client, names)
            dt = fn(client, names, docs, args.batch)
            rates[name].append(args.docs / dt)
            print(f"run {r + 1}: {name:13s} {args.docs / dt:12,.0f} docs/s ({dt:.2f} s)")
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
            for t in client.indices.get_index_template(name=f"{names.prefix}-*")["index_templates"]:
                client.indices.delete_index_template(name=t["name"])
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = med["socmon"] / med["helpers_bulk"]
    print(f"median socmon writer : {med['socmon']:12,.0f} docs/s")
    print(f"median helpers.bulk  : {med['helpers_bulk']:12,.0f} docs/s")
    print(f"ratio socmon/helper  : {ratio:.2f} (target >= 0.9)")
    print(
        json.dumps(
            {
                "bench": "bulk_writer",
                "docs": args.docs,
                "repeats": args.repeats,
                "socmon_docs_per_s": round(med["socmon"]),
                "helpers_bulk_docs_per_s": round(med["helpers_bulk"]),
                "ratio": round(ratio, 3),
                "target_ratio": 0.9,
                "pass": ratio >= 0.9,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
