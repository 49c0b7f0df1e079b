"""Benchmark: socmon's bulk writer vs the client's own bulk helpers on the same ECS documents.

Target (issue 2): socmon's writer at >= 0.9 of the baseline's rate. The baseline does the same
job with the same resources: ``elasticsearch.helpers.parallel_bulk`` with as many threads as
socmon's writer has concurrent senders (``storage.senders``, 2 by default). The serial
``elasticsearch.helpers.bulk`` (one request at a time) is printed too, for reference; the
verdict is against parallel_bulk. All write the same 200,000 documents with the same ids,
op_type ``create``, batch size and request size limit into fresh indices with the events
template, and every run checks that every document was created; runs alternate and the
medians are compared. Prints the figures and ends with one JSON line.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socmon.bulk import BulkWriter  # noqa: E402
from socmon.ids import doc_id  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.settings import StorageSettings, load_settings  # noqa: E402


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


MAX_CHUNK_BYTES = 8 * 1024 * 1024


def run_socmon(
    client: Elasticsearch, names: IndexNames, docs: list, batch: int, senders: int
) -> float:
    s = load_settings(
        es={"url": "http://unused:1"}, storage={"batch_size": batch, "senders": senders}
    )
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


def _actions(names: IndexNames, docs: list) -> Iterator[dict[str, Any]]:
    index = f"{names.prefix}-events-2026.11.24"
    return (
        {"_op_type": "create", "_index": index, "_id": did, "_source": doc} for did, doc in docs
    )


def run_helper(
    client: Elasticsearch, names: IndexNames, docs: list, batch: int, senders: int
) -> float:
    """The serial helper: one bulk request at a time (``senders`` unused)."""
    actions = _actions(names, docs)
    t0 = time.perf_counter()
    ok, errors = helpers.bulk(client, actions, chunk_size=batch, max_chunk_bytes=MAX_CHUNK_BYTES)
    dt = time.perf_counter() - t0
    assert ok == len(docs) and not errors
    return dt


def run_parallel(
    client: Elasticsearch, names: IndexNames, docs: list, batch: int, senders: int
) -> float:
    """The client's threaded helper with as many threads as socmon has senders, and as many
    chunks queued ahead as socmon's writer lets wait (``storage.max_pending_batches``)."""
    actions = _actions(names, docs)
    t0 = time.perf_counter()
    ok = 0
    for success, info in helpers.parallel_bulk(
        client,
        actions,
        thread_count=senders,
        chunk_size=batch,
        max_chunk_bytes=MAX_CHUNK_BYTES,
        queue_size=StorageSettings().max_pending_batches,
    ):
        assert success, info
        ok += 1
    dt = time.perf_counter() - t0
    assert ok == len(docs)
    return dt


RUNNERS = (
    ("parallel_bulk", run_parallel),
    ("socmon", run_socmon),
    ("helpers_bulk", run_helper),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument(
        "--senders",
        type=int,
        default=StorageSettings().senders,
        help="socmon's concurrent senders = parallel_bulk's threads (default: storage.senders)",
    )
    ap.add_argument("--prefix", default="bench-bulk", help="index prefix of the runs")
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
    print(
        f"{args.docs:,} documents, batches of {args.batch}; socmon's writer with {args.senders} "
        f"senders; parallel_bulk with {args.senders} threads (the baseline); serial "
        f"helpers.bulk (one request at a time, for reference); os.cpu_count() "
        f"{os.cpu_count()}, load average before {os.getloadavg()[0]:.1f}"
    )
    rates: dict[str, list[float]] = {name: [] for name, _ in RUNNERS}
    for r in range(args.repeats):
        order = RUNNERS if r % 2 == 0 else RUNNERS[::-1]  # neither always runs first
        for name, fn in order:
            names = IndexNames(f"{args.prefix}-{name.replace('_', '')}-{r}")
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
            apply_templates(client, names)
            dt = fn(client, names, docs, args.batch, args.senders)
            rates[name].append(args.docs / dt)
            print(f"run {r + 1}: {name:13s} {args.docs / dt:12,.0f} docs/s ({dt:.2f} s)")
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
            for t in client.indices.get_index_template(name=f"{names.prefix}-*")["index_templates"]:
                client.indices.delete_index_template(name=t["name"])
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = med["socmon"] / med["parallel_bulk"]
    ratio_serial = med["socmon"] / med["helpers_bulk"]
    print(f"median socmon writer ({args.senders} senders)   : {med['socmon']:12,.0f} docs/s")
    print(f"median parallel_bulk ({args.senders} threads)   : {med['parallel_bulk']:12,.0f} docs/s")
    print(f"median helpers.bulk (serial)      : {med['helpers_bulk']:12,.0f} docs/s")
    print(f"ratio socmon/parallel_bulk        : {ratio:.2f} (target >= 0.9)")
    print(f"ratio socmon/serial helpers.bulk  : {ratio_serial:.2f} (reference only)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(
        json.dumps(
            {
                "bench": "bulk_writer",
                "docs": args.docs,
                "repeats": args.repeats,
                "senders": args.senders,
                "socmon_docs_per_s": round(med["socmon"]),
                "parallel_bulk_docs_per_s": round(med["parallel_bulk"]),
                "parallel_bulk_threads": args.senders,
                "helpers_bulk_docs_per_s": round(med["helpers_bulk"]),
                "ratio": round(ratio, 3),
                "ratio_vs_serial_helpers_bulk": round(ratio_serial, 3),
                "baseline": "helpers.parallel_bulk",
                "target_ratio": 0.9,
                "pass": ratio >= 0.9,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
