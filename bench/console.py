"""Benchmark: the console's pages against the API's JSON for the same data, in the same run.

Alerts of alerting's shape under the prefix ``socmon-bench-api`` (shared with bench/api.py,
loaded once, reused). The service runs as `socmon serve` in its own process (as deployed).
``--clients`` concurrent clients, each signed in to the console as its own user (province
users and users bound to one unit), request one kind of page at a time: the overview (``/``),
the queue's first page (``/alerts`` with a mix of filters), an alert page (``/alerts/{id}`` of
an alert in the user's scope). The baseline is the API's JSON for the same data
(``/api/v1/alerts`` with the same filters, ``/api/v1/alerts/{id}``; ``/api/v1/stats`` for the
overview) requested with API keys of the same scopes by as many clients. Two times per request,
both in both modes: the server time the issue's targets are about (the service's own
``Server-Timing: app;dur=`` header, from the request reaching the application to its answer
starting: queueing for the thread pool and the Python interpreter included), and the latency
seen by the client (loopback; adds the client's own event loop, which shares the machine's two
CPUs with the service and Elasticsearch). Modes alternate; repeats are medians. Also says the
queue page's weight (HTML + JS + CSS as served, and gzipped).

Targets (issue 13), on the server time: queue p95 <= 300 ms on an idle machine and <= 1.5x the
API.

    .venv/bin/python bench/console.py [--alerts N] [--clients C] [--requests R] [--repeats K]
                                      [--es-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import PREFIX, UNITS, ensure_alerts, percentile, serve  # noqa: E402
from socmon.api.console.users import create_user, get_user  # noqa: E402
from socmon.api.keys import create_key  # noqa: E402
from socmon.indices import IndexNames  # noqa: E402

PASSWORD = "bench password 1234"
QUEUE_FILTERS = [
    "f=1&status=open&severity=high&severity=critical",
    "f=1&status=open&status=acknowledged&status=in_progress",
    "f=1&severity=critical&start=now-7d",
    "",  # the default view (active statuses)
]
API_FILTERS = [
    "status=open&severity=high&severity=critical",
    "status=open&status=acknowledged&status=in_progress",
    "severity=critical&start=now-7d",
    "status=open&status=acknowledged&status=in_progress",
]
KINDS = ("overview", "queue", "alert")
SCOPES: list[list[str] | None] = [None, [UNITS[0]], [UNITS[1]], [UNITS[2]]]


def sample_ids(client: Elasticsearch, names: IndexNames, units: list[str] | None) -> list[str]:
    q: dict[str, Any] = {"terms": {"organization.id": units}} if units else {"match_all": {}}
    resp = client.search(index=names.alerts, query=q, size=200, source=False)
    return [h["_id"] for h in resp["hits"]["hits"]]


async def sign_in(base: str, name: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=base, timeout=60)
    page = await http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token, "no sign-in form"
    r = await http.post(
        "/login", data={"username": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert r.status_code == 303, f"sign-in failed: {r.status_code}"
    return http


async def run_mode(
    mode: str,
    kind: str,
    sessions: list[tuple[httpx.AsyncClient, int]],
    keys: list[str],
    ids: list[list[str]],
    requests: int,
) -> dict[str, float]:
    """``requests`` requests of one kind of page ('overview', 'queue', 'alert') by
    len(sessions) concurrent clients, as the console (mode 'console') or the API ('api')."""
    lat: list[float] = []
    server: list[float] = []
    errors = 0
    retried = 0
    counter = iter(range(requests))

    async def get(http: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
        """GET, sent again once when a kept-alive connection was closed by the server as the
        request went out (idle timeout race; RFC 9112 9.3.1 lets a client retry an idempotent
        request): counted in ``retried``, its time included in the latency."""
        nonlocal retried
        try:
            return await http.get(url, **kw)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            retried += 1
            return await http.get(url, **kw)

    async def worker(http: httpx.AsyncClient, scope: int) -> None:
        nonlocal errors
        rnd = random.Random(scope)
        for i in counter:
            aid = rnd.choice(ids[scope])
            if mode == "console":
                url = {"overview": "/", "queue": f"/alerts?{QUEUE_FILTERS[i % 4]}"}.get(
                    kind, f"/alerts/{aid}"
                )
                t0 = time.perf_counter()
                r = await get(http, url)
            else:
                url = {
                    "overview": "/api/v1/stats",
                    "queue": f"/api/v1/alerts?{API_FILTERS[i % 4]}",
                }.get(kind, f"/api/v1/alerts/{aid}")
                t0 = time.perf_counter()
                # the same client (connection) as the console's: only the page differs
                r = await get(http, url, headers={"X-API-Key": keys[scope]})
            lat.append(time.perf_counter() - t0)
            timing = re.search(r"app;dur=([0-9.]+)", r.headers.get("server-timing", ""))
            if r.status_code != 200 or timing is None:
                errors += 1
            else:
                server.append(float(timing.group(1)) / 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(h, s) for h, s in sessions))
    wall = time.perf_counter() - t0
    return {
        "p50_ms": percentile(server, 50) * 1000,
        "p95_ms": percentile(server, 95) * 1000,
        "p99_ms": percentile(server, 99) * 1000,
        "client_p50_ms": percentile(lat, 50) * 1000,
        "client_p95_ms": percentile(lat, 95) * 1000,
        "client_p99_ms": percentile(lat, 99) * 1000,
        "rps": len(lat) / wall,
        "errors": float(errors),
        "retried": float(retried),
    }


async def page_weight(http: httpx.AsyncClient) -> dict[str, int]:
    html = (await http.get("/alerts")).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    raw = len(html.encode())
    gz = len(gzip.compress(html.encode()))
    for a in assets:
        body = (await http.get(a)).content
        raw += len(body)
        gz += len(gzip.compress(body))
    return {"bytes": raw, "gzip_bytes": gz, "files": 1 + len(assets)}


async def bench(args: argparse.Namespace, base: str, client: Elasticsearch, names: IndexNames):  # type: ignore[no-untyped-def]
    keys = [
        create_key(client, names, f"bench-console-{i}", "analyst", s, "bench")[0]
        for i, s in enumerate(SCOPES)
    ]
    ids = [sample_ids(client, names, s) for s in SCOPES]
    for i, s in enumerate(SCOPES):
        for c in range(args.clients):
            if c % len(SCOPES) == i:
                name = f"bench-{c}"
                if get_user(client, names, name) is None:
                    create_user(client, names, name, "analyst", s, PASSWORD, "bench")
    sessions = [(await sign_in(base, f"bench-{c}"), c % len(SCOPES)) for c in range(args.clients)]
    weight = await page_weight(sessions[0][0])
    for mode in ("console", "api"):  # warm up
        for kind in KINDS:
            await run_mode(mode, kind, sessions[:10], keys, ids, 60)
    runs: dict[str, list[dict[str, dict[str, float]]]] = {"console": [], "api": []}
    for rep in range(args.repeats):
        for mode in ("api", "console"):
            r = {
                kind: await run_mode(mode, kind, sessions, keys, ids, args.requests)
                for kind in KINDS
            }
            runs[mode].append(r)
            print(
                f"repeat {rep + 1} {mode:7}: "
                + "  ".join(
                    f"{k} p50 {r[k]['p50_ms']:.0f} p95 {r[k]['p95_ms']:.0f} "
                    f"p99 {r[k]['p99_ms']:.0f} ms (client p95 {r[k]['client_p95_ms']:.0f}) "
                    f"{r[k]['rps']:.0f}/s"
                    for k in KINDS
                )
                + f"  errors {sum(r[k]['errors'] for k in KINDS):.0f}",
                flush=True,
            )
    for h, _ in sessions:
        await h.aclose()
    return runs, weight


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1500, help="per mode and repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--es-url", default=os.environ.get("SOCMON_TEST_ES_URL", "http://127.0.0.1:9250")
    )
    ap.add_argument("--prefix", default=PREFIX, help="index prefix (the smoke test uses its own)")
    args = ap.parse_args()
    client = Elasticsearch(args.es_url, request_timeout=120)
    names = IndexNames(args.prefix)
    ensure_alerts(client, names, args.alerts)

    with serve(args.es_url, args.prefix) as base:
        runs, weight = asyncio.run(bench(args, base, client, names))

    def med(mode: str, kind: str, k: str) -> float:
        return round(statistics.median(x[kind][k] for x in runs[mode]), 1)

    out: dict[str, Any] = {
        "alerts": int(client.count(index=names.alerts)["count"]),
        "clients": args.clients,
        "requests_per_repeat": args.requests,
        "repeats": args.repeats,
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
    }
    for mode in ("console", "api"):
        for kind in KINDS:
            for k in ("p50_ms", "p95_ms", "p99_ms"):
                out[f"{mode}_{kind}_{k}"] = med(mode, kind, k)  # server time
                out[f"{mode}_{kind}_client_{k}"] = med(mode, kind, f"client_{k}")
            out[f"{mode}_{kind}_rps"] = med(mode, kind, "rps")
        out[f"{mode}_errors"] = sum(x[k]["errors"] for x in runs[mode] for k in KINDS)
        out[f"{mode}_retried"] = sum(x[k]["retried"] for x in runs[mode] for k in KINDS)
    out["queue_p95_ratio"] = round(out["console_queue_p95_ms"] / out["api_queue_p95_ms"], 2)
    out["queue_client_p95_ratio"] = round(
        out["console_queue_client_p95_ms"] / out["api_queue_client_p95_ms"], 2
    )
    out["target_queue_p95_300ms_met"] = out["console_queue_p95_ms"] <= 300
    out["target_queue_ratio_met"] = out["queue_p95_ratio"] <= 1.5
    out["queue_page_bytes"] = weight["bytes"]
    out["queue_page_gzip_bytes"] = weight["gzip_bytes"]
    out["queue_page_files"] = weight["files"]
    print(
        f"queue page, server time: console p95 {out['console_queue_p95_ms']} ms vs API "
        f"{out['api_queue_p95_ms']} ms (ratio {out['queue_p95_ratio']}, target <= 1.5; "
        f"<= 300 ms: {out['target_queue_p95_300ms_met']}); at the client: console p95 "
        f"{out['console_queue_client_p95_ms']} ms vs API {out['api_queue_client_p95_ms']} ms "
        f"(ratio {out['queue_client_p95_ratio']})"
    )
    print(
        f"alert page: console p95 {out['console_alert_p95_ms']} ms vs API "
        f"{out['api_alert_p95_ms']} ms; overview p95 "
        f"{out['console_overview_p95_ms']} ms vs /api/v1/stats {out['api_overview_p95_ms']} ms"
    )
    print(
        f"queue page weight: {weight['bytes']:,} bytes in {weight['files']} files as served "
        f"(uncompressed), {weight['gzip_bytes']:,} gzipped; load average "
        f"{out['load_avg_1m']} on {out['cpus']} CPUs"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
