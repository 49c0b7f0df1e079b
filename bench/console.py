"""Benchmark: console pages against the API JSON for the same data, same run.

Alerts of alerting's shape (``--alerts``, 1,000,000 by default) live under the prefix of
bench/api.py (``socmon-bench-api``, loaded once with the bulk writer by its
``ensure_alerts``, reused by both benches). The service runs as ``socmon serve`` in its own
process. ``--clients`` concurrent clients (default 50), each signed in to the console as a
real user (argon2id, server-side session; half the province, half one of three units) and
holding the matching API key, request in turn:

- the overview ``/`` vs ``GET /api/v1/stats?start=now-30d&interval=1d`` (the same
  aggregations; the overview adds the unit tiles' query);
- the queue's first page ``/alerts`` vs ``GET /api/v1/alerts`` with the queue's default
  filter (active statuses, newest first);
- an alert page ``/alerts/{id}`` vs ``GET /api/v1/alerts/{id}``.

Latency is measured at the client over loopback (request sent to body read): p50/p95/p99
per path. Modes alternate (console, API) per repeat; figures are medians of the repeats.
Page weight: the queue page's HTML plus every script and stylesheet it links, as
transferred (the service sends them uncompressed). Ends with one JSON line.

    .venv/bin/python bench/console.py [--alerts N] [--clients C] [--requests R]
                                      [--repeats K] [--es-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import PREFIX, UNITS, ensure_alerts, free_port, percentile  # noqa: E402
from socmon.api.console import users  # noqa: E402
from socmon.api.keys import create_key  # noqa: E402
from socmon.indices import IndexNames  # noqa: E402

PASSWORD = "bench console password"
ACTIVE = ("open", "acknowledged", "in_progress")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
ASSET_RE = re.compile(r'<(?:script[^>]+src|link[^>]+rel="stylesheet"[^>]+href)="([^"]+)"')


# name -> (console path, API path); {id} is an alert of the client's scope
PATHS = {
    "overview": ("/", "/api/v1/stats?start=now-30d&interval=1d"),
    "queue": ("/alerts", "/api/v1/alerts?" + "&".join(f"status={s}" for s in ACTIVE)),
    "alert": ("/alerts/{id}", "/api/v1/alerts/{id}"),
}


async def sign_in(http: httpx.AsyncClient, name: str) -> None:
    page = await http.get("/login")
    m = CSRF_RE.search(page.text)
    if not m:
        raise SystemExit(f"no sign-in form: {page.status_code}")
    r = await http.post(
        "/login", data={"username": name, "password": PASSWORD, "csrf_token": m.group(1)}
    )
    if r.status_code != 303:
        raise SystemExit(f"sign-in of {name} failed: {r.status_code} {r.text[:200]}")


Session = tuple[httpx.AsyncClient, str, list[str]]


async def one_mode(
    sessions: list[Session], mode: str, path: str, requests: int
) -> tuple[list[float], int]:
    """``requests`` requests of ``path`` spread over the signed-in clients, all at once."""
    lat: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(http: httpx.AsyncClient, key: str, ids: list[str]) -> None:
        nonlocal errors
        headers = {"X-API-Key": key} if mode == "api" else {}
        for i in counter:
            t0 = time.perf_counter()
            r = await http.get(path.format(id=ids[i % len(ids)]), headers=headers)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors += 1

    await asyncio.gather(*(worker(*s) for s in sessions))
    return lat, errors


async def run(
    base: str,
    who: list[tuple[str, str, list[str] | None]],
    alert_ids: dict[str, list[str]],
    clients: int,
    requests: int,
    repeats: int,
    quiet: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """Per path and mode ('console'/'api'): the per-repeat p50/p95/p99 and errors."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    sessions: list[Session] = []
    for i in range(clients):
        name, key, units = who[i % len(who)]
        http = httpx.AsyncClient(base_url=base, limits=limits, timeout=60)
        await sign_in(http, name)
        sessions.append((http, key, alert_ids[units[0] if units else ""]))
    out: dict[str, dict[str, list[float]]] = {}
    try:
        for rep in range(repeats):
            for path_name, (console_path, api_path) in PATHS.items():
                for mode in ("console", "api"):
                    path = console_path if mode == "console" else api_path
                    lat, errors = await one_mode(sessions, mode, path, requests)
                    res = out.setdefault(f"{path_name}_{mode}", {})
                    for p in (50, 95, 99):
                        res.setdefault(f"p{p}_ms", []).append(percentile(lat, p) * 1000)
                    res.setdefault("errors", []).append(float(errors))
                    if quiet:
                        continue
                    print(
                        f"repeat {rep + 1} {path_name:8} {mode:7}: p50 "
                        f"{res['p50_ms'][-1]:7.1f} ms  p95 {res['p95_ms'][-1]:7.1f} ms  "
                        f"p99 {res['p99_ms'][-1]:7.1f} ms  errors {errors}",
                        flush=True,
                    )
    finally:
        for http, _k, _ids in sessions:
            await http.aclose()
    return out


async def page_weight(base: str, name: str) -> dict[str, int]:
    """Bytes of the queue page's HTML and of the scripts and stylesheets it links."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await sign_in(http, name)
        page = await http.get("/alerts")
        html = len(page.content)
        js = css = 0
        for url in sorted(set(ASSET_RE.findall(page.text))):
            r = await http.get(url)
            if r.status_code != 200:
                raise SystemExit(f"asset {url}: {r.status_code}")
            if url.endswith(".css"):
                css += len(r.content)
            else:
                js += len(r.content)
    return {"html": html, "js": js, "css": css, "total": html + js + css}


def first_ids(client: Elasticsearch, index: str, unit: str | None, n: int = 50) -> list[str]:
    q: dict[str, Any] = {"term": {"organization.id": unit}} if unit else {"match_all": {}}
    resp = client.search(index=index, query=q, size=n, _source=False, sort=["_doc"])
    return [h["_id"] for h in resp["hits"]["hits"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=500, help="per path, mode and repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--es-url", default=os.environ.get("SOCMON_TEST_ES_URL", "http://127.0.0.1:9250")
    )
    ap.add_argument("--prefix", default=PREFIX, help="index prefix (tests use their own)")
    args = ap.parse_args()

    client = Elasticsearch(args.es_url, request_timeout=300)
    names = IndexNames(args.prefix)
    load_s = ensure_alerts(client, names, args.alerts)
    who: list[tuple[str, str, list[str] | None]] = []
    for units in (None, *([u] for u in UNITS[:3])):
        name = f"bench-{units[0] if units else 'province'}"
        if users.get_user(client, names, name) is None:
            users.create_user(client, names, name, "viewer", units, PASSWORD, "bench")
        key, _ = create_key(client, names, name, "viewer", units, "bench")
        who.append((name, key, units))
    client.indices.refresh(index=users.users_index(names))
    # province clients read province-wide alerts, unit clients their unit's
    alert_ids = {
        u[0] if u else "": first_ids(client, names.alerts, u[0] if u else None) for _n, _k, u in who
    }
    who = [who[0], who[1], who[0], who[2], who[0], who[3]]  # half province, half units

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env.update(
        SOCMON_ES_URL=args.es_url,
        SOCMON_ES_INDEX_PREFIX=args.prefix,
        SOCMON_API_RATE_LIMIT_PER_MINUTE="0",
        SOCMON_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "socmon"), "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        weight = asyncio.run(page_weight(base, who[0][0]))
        asyncio.run(run(base, who, alert_ids, min(4, args.clients), 20, 1, quiet=True))  # warm-up
        runs = asyncio.run(run(base, who, alert_ids, args.clients, args.requests, args.repeats))
    finally:
        server.terminate()
        server.wait(timeout=30)

    out: dict[str, Any] = {
        "alerts": int(client.count(index=names.alerts)["count"]),
        "clients": args.clients,
        "requests_per_path_mode_repeat": args.requests,
        "repeats": args.repeats,
        "load_seconds": round(load_s, 1),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    for key, res in runs.items():
        for stat in ("p50_ms", "p95_ms", "p99_ms"):
            out[f"{key}_{stat}"] = round(statistics.median(res[stat]), 1)
        out[f"{key}_errors"] = int(sum(res["errors"]))
    for path_name in ("overview", "queue", "alert"):
        ratio = out[f"{path_name}_console_p95_ms"] / max(out[f"{path_name}_api_p95_ms"], 0.001)
        out[f"{path_name}_p95_ratio"] = round(ratio, 2)
        print(
            f"{path_name:8}: console p50/p95/p99 {out[f'{path_name}_console_p50_ms']}/"
            f"{out[f'{path_name}_console_p95_ms']}/{out[f'{path_name}_console_p99_ms']} ms; "
            f"API {out[f'{path_name}_api_p50_ms']}/{out[f'{path_name}_api_p95_ms']}/"
            f"{out[f'{path_name}_api_p99_ms']} ms; p95 ratio {ratio:.2f}"
        )
    out["queue_page_bytes"] = weight
    out["target_queue_p95_300ms_met"] = out["queue_console_p95_ms"] <= 300
    out["target_queue_ratio_1_5_met"] = out["queue_p95_ratio"] <= 1.5
    print(
        f"queue page weight: HTML {weight['html']:,} + JS {weight['js']:,} + CSS "
        f"{weight['css']:,} = {weight['total']:,} bytes (uncompressed)"
    )
    print(f"load average (1 min) at the end: {out['loadavg_1m']} on {out['cpus']} CPUs")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
