"""Benchmark: the alert list through the API vs the same query sent to Elasticsearch directly.

1,000,000 alerts of alerting's shape live under the prefix ``socmon-bench-api`` (loaded once
with the bulk writer, reused on later runs). The API runs as `socmon serve` in its own process
(as deployed). 50 concurrent clients (httpx, asyncio) request the first page of the alert
list with typical filters (status, severity, unit, last 7 days; newest first; 50 per page),
cycling through a mix of filters and of province / unit keys; the baseline is the same
Elasticsearch query (same filters, sort, size, source filtering, total-hits tracking) posted
by the same kind of clients straight to Elasticsearch. Modes alternate, repeats are medians.

Targets: API p99 <= 2x direct p99, and API p99 <= 150 ms. Ends with one JSON line.

    .venv/bin/python bench/api.py [--alerts N] [--clients C] [--requests R] [--repeats K]
                                  [--es-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socmon.api.keys import create_key  # noqa: E402
from socmon.bulk import BulkWriter  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.settings import StorageSettings  # noqa: E402

PREFIX = "socmon-bench-api"
UNITS = [f"unit-{i:02d}" for i in range(40)]
STATUSES = (
    ["open"] * 5 + ["acknowledged"] * 2 + ["in_progress", "resolved", "resolved", "false_positive"]
)
SEVERITIES = ["low"] * 4 + ["medium"] * 3 + ["high"] * 2 + ["critical", "informational"]
RULES = [f"rule-{i:03d}" for i in range(120)]
EXCLUDES = ["events", "history", "notes", "event_refs"]


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def alert_doc(i: int, now: dt.datetime, rnd: random.Random) -> dict[str, Any]:
    t = now - dt.timedelta(seconds=rnd.randint(0, 30 * 86400))
    unit = UNITS[rnd.randrange(len(UNITS))]
    rule = RULES[rnd.randrange(len(RULES))]
    sev = SEVERITIES[rnd.randrange(len(SEVERITIES))]
    ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    return {
        "id": f"alert-{i}",
        "@timestamp": iso(t),
        "first_seen": iso(t),
        "last_seen": iso(t + dt.timedelta(seconds=rnd.randint(0, 3600))),
        "kind": "detection",
        "status": STATUSES[rnd.randrange(len(STATUSES))],
        "severity": sev,
        "risk_score": rnd.randint(1, 100),
        "event_count": rnd.randint(1, 500),
        "group_key": f"{unit}|{ip}",
        "assignee": None if rnd.random() < 0.7 else f"analyst{rnd.randrange(10)}",
        "rule": {
            "id": rule,
            "name": f"Detection rule {rule}",
            "level": sev,
            "tags": ["attack.credential_access", "attack.t1110"],
        },
        "threat": {"technique": {"id": ["T1110"], "name": ["Brute Force"]}},
        "organization": {"id": unit, "name": f"Đơn vị {unit}"},
        "host": {"name": f"host-{rnd.randrange(2000)}"},
        "source": {"ip": ip},
        "message": f"{rule} matched {ip} on host-{i % 2000}",
        "events": [{"@timestamp": iso(t), "source": {"ip": ip}, "message": "Failed password"}],
    }


def ensure_alerts(client: Elasticsearch, names: IndexNames, n: int) -> float:
    """Load n alerts once (ids alert-<i>, deterministic); returns the load time (0: reused)."""
    apply_templates(client, names)
    client.indices.refresh(index=names.alerts)
    have = int(client.count(index=names.alerts, query={"exists": {"field": "id"}})["count"])
    if have >= n:
        print(f"reusing {have:,} alerts in {names.alerts}")
        return 0.0
    print(f"loading {n:,} alerts into {names.alerts} (have {have:,}) ...", flush=True)
    client.indices.put_settings(index=names.alerts, settings={"index": {"refresh_interval": "-1"}})
    writer = BulkWriter(
        client,
        StorageSettings(batch_size=5000, senders=2),  # type: ignore[call-arg]
        names,
        spool_dir=ROOT / "var" / "bench-api-spool",
    )
    rnd = random.Random(42)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    for i in range(n):
        writer.add(names.alerts, f"alert-{i}", alert_doc(i, now, rnd), op="index")
        if i and i % 200_000 == 0:
            print(f"  {i:,} queued, {time.perf_counter() - t0:.0f} s", flush=True)
    writer.close()
    client.indices.put_settings(index=names.alerts, settings={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=names.alerts)
    client.options(request_timeout=600).indices.forcemerge(index=names.alerts, max_num_segments=1)
    took = time.perf_counter() - t0
    print(f"loaded in {took:.0f} s: {client.count(index=names.alerts)['count']:,} alerts")
    return took


FILTERS: list[dict[str, Any]] = [
    {"status": ["open"], "severity": ["high", "critical"]},
    {"status": ["open", "acknowledged", "in_progress"]},
    {"severity": ["critical"], "start": "now-7d"},
    {"status": ["open"], "start": "now-7d"},
]


def es_body(f: dict[str, Any], units: list[str] | None, size: int) -> dict[str, Any]:
    """The query the API sends for these filters (without the point in time)."""
    filters: list[dict[str, Any]] = []
    if units:
        filters.append({"terms": {"organization.id": units}})
    if f.get("status"):
        filters.append({"terms": {"status": f["status"]}})
    if f.get("severity"):
        filters.append({"terms": {"severity": f["severity"]}})
    if f.get("start"):
        filters.append({"range": {"@timestamp": {"gte": f["start"]}}})
    return {
        "query": {"bool": {"filter": filters}},
        "size": size,
        "sort": [
            {"@timestamp": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
            {"id": {"order": "asc", "unmapped_type": "keyword"}},
        ],
        "track_total_hits": 10_000,
        "_source": {"excludes": EXCLUDES},
    }


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


async def load(
    kind: str,
    base: str,
    keys: list[tuple[str, list[str] | None]],
    alerts_index: str,
    clients: int,
    requests: int,
    size: int,
) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                f = FILTERS[i % len(FILTERS)]
                key, units = keys[i % len(keys)]
                t0 = time.perf_counter()
                if kind == "api":
                    params: list[tuple[str, str]] = [("size", str(size))]
                    for k, v in f.items():
                        for x in v if isinstance(v, list) else [v]:
                            params.append((k, x))
                    r = await http.get("/api/v1/alerts", params=params, headers={"X-API-Key": key})
                else:
                    r = await http.post(f"/{alerts_index}/_search", json=es_body(f, units, size))
                lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "rps": len(lat) / wall,
        "errors": errors,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(es_url: str, prefix: str) -> Iterator[str]:
    """`socmon serve` in its own process on a free port (no rate limit); yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env.update(
        SOCMON_ES_URL=es_url,
        SOCMON_ES_INDEX_PREFIX=prefix,
        SOCMON_API_RATE_LIMIT_PER_MINUTE="0",
        SOCMON_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "socmon"), "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000, help="per mode and repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=50)
    ap.add_argument(
        "--es-url", default=os.environ.get("SOCMON_TEST_ES_URL", "http://127.0.0.1:9250")
    )
    args = ap.parse_args()

    client = Elasticsearch(args.es_url, request_timeout=120)
    names = IndexNames(PREFIX)
    load_s = ensure_alerts(client, names, args.alerts)
    province, _ = create_key(client, names, "bench-province", "viewer", None, "bench")
    unit_keys = [
        (create_key(client, names, f"bench-{u}", "viewer", [u], "bench")[0], [u]) for u in UNITS[:3]
    ]
    keys: list[tuple[str, list[str] | None]] = [(province, None), *unit_keys]

    with serve(args.es_url, PREFIX) as base:
        # warm up both paths (caches, connections, JIT of nothing: just first-use costs)
        asyncio.run(load("api", base, keys, names.alerts, 10, 200, args.size))
        asyncio.run(load("es", args.es_url, keys, names.alerts, 10, 200, args.size))
        runs: dict[str, list[dict[str, float]]] = {"api": [], "es": []}
        for rep in range(args.repeats):
            for kind, url in (("es", args.es_url), ("api", base)):
                r = asyncio.run(
                    load(kind, url, keys, names.alerts, args.clients, args.requests, args.size)
                )
                runs[kind].append(r)
                print(
                    f"repeat {rep + 1} {kind:3}: p50 {r['p50_ms']:6.1f} ms  p99 "
                    f"{r['p99_ms']:6.1f} ms  {r['rps']:7.1f} req/s  errors {r['errors']:.0f}",
                    flush=True,
                )

    def med(kind: str, k: str) -> float:
        return statistics.median(x[k] for x in runs[kind])

    out = {
        "alerts": int(client.count(index=names.alerts)["count"]),
        "clients": args.clients,
        "requests_per_repeat": args.requests,
        "repeats": args.repeats,
        "load_seconds": round(load_s, 1),
        "api_p50_ms": round(med("api", "p50_ms"), 1),
        "api_p99_ms": round(med("api", "p99_ms"), 1),
        "api_rps": round(med("api", "rps"), 1),
        "es_p50_ms": round(med("es", "p50_ms"), 1),
        "es_p99_ms": round(med("es", "p99_ms"), 1),
        "es_rps": round(med("es", "rps"), 1),
        "api_errors": sum(x["errors"] for x in runs["api"]),
        "es_errors": sum(x["errors"] for x in runs["es"]),
    }
    out["p99_ratio"] = round(out["api_p99_ms"] / out["es_p99_ms"], 2)
    out["target_ratio_met"] = out["p99_ratio"] <= 2.0
    out["target_150ms_met"] = out["api_p99_ms"] <= 150
    print(f"API    p50 {out['api_p50_ms']} ms, p99 {out['api_p99_ms']} ms, {out['api_rps']} req/s")
    print(f"direct p50 {out['es_p50_ms']} ms, p99 {out['es_p99_ms']} ms, {out['es_rps']} req/s")
    print(
        f"p99 ratio API/direct {out['p99_ratio']} (target <= 2), API p99 <= 150 ms: "
        f"{out['target_150ms_met']}"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
