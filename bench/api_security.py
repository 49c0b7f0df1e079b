"""Benchmark: what two attacks of issue 16 cost the API, before and after the fixes, measured
in the same run.

1. Hostile rule YAML ("billion laughs": 9**levels strings behind nested aliases, in a
   detection field). Baseline: what the validation did before (``yaml.safe_load`` then
   pySigma's ``SigmaCollection.from_yaml`` on the text, collecting errors, and the size of
   the error text it produced); now: ``socmon.api.sigma_tools.check`` (anchors refused).
2. Guessing API keys: N random well-formed keys from one address against the application
   (FastAPI over ASGI, the real Elasticsearch node), counting key look-ups in Elasticsearch
   and the latency per request, with the failed-authentication throttle off (baseline: what
   the code did before) and on (defaults: 30 per minute, burst 20).

    .venv/bin/python bench/api_security.py [--levels 6] [--guesses 2000] [--es-url URL]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sigma.collection import SigmaCollection  # noqa: E402

from socmon.api.app import create_app  # noqa: E402
from socmon.api.context import ApiContext  # noqa: E402
from socmon.api.sigma_tools import check  # noqa: E402
from socmon.es import make_client  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.settings import load_settings  # noqa: E402


def laughs(levels: int) -> str:
    lines = [
        "title: laughs",
        "logsource: {product: linux}",
        "detection:",
        '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["  sel:", f"    date: *l{levels - 1}", "  condition: sel"]
    return "\n".join(lines) + "\n"


def old_validation(text: str) -> int:
    """The validation path before the fix; returns the size of the error text."""
    yaml.safe_load(text)
    coll = SigmaCollection.from_yaml(text, collect_errors=True)
    errors = [e for r in coll.rules for e in r.errors] + list(coll.errors)
    return sum(len(str(e)) for e in errors)


def bench_yaml(levels: int) -> dict[str, Any]:
    text = laughs(levels)
    t = time.perf_counter()
    old_bytes = old_validation(text)
    old_s = time.perf_counter() - t
    t = time.perf_counter()
    c = check(text)
    new_s = time.perf_counter() - t
    new_bytes = sum(len(p["msg"]) for p in c.problems)
    print(f"billion laughs, {levels} levels, {len(text)} bytes of YAML:")
    print(f"  before: {old_s:.3f} s, {old_bytes:,} bytes of error text")
    print(f"  now:    {new_s * 1000:.3f} ms, {new_bytes:,} bytes ({c.problems[0]['msg'][:50]})")
    return {
        "yaml_bytes": len(text),
        "levels": levels,
        "old_s": round(old_s, 3),
        "old_error_bytes": old_bytes,
        "new_ms": round(new_s * 1000, 3),
        "new_error_bytes": new_bytes,
    }


def bench_guessing(es_url: str, guesses: int, throttle: bool) -> dict[str, Any]:
    prefix = f"socmon-bench-sec-{secrets.token_hex(4)}"
    settings = load_settings(es={"url": es_url, "index_prefix": prefix})
    settings.api.rate_limit_per_minute = 0
    if not throttle:
        settings.api.auth_failures_per_minute = 0
    client = make_client(settings.es)
    names = IndexNames(prefix)
    apply_templates(client, names)
    ctx = ApiContext(settings=settings, client=client, names=names)
    lookups = [0]
    real_get = client.get

    def counting_get(**kw: Any) -> Any:
        lookups[0] += 1
        return real_get(**kw)

    client.get = counting_get  # type: ignore[method-assign]
    codes: dict[int, int] = {}
    lat: list[float] = []
    try:
        with TestClient(create_app(ctx), client=("198.51.100.7", 1)) as c:
            for _ in range(guesses):
                key = f"smk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
                t = time.perf_counter()
                r = c.get("/api/v1/alerts", headers={"X-API-Key": key})
                lat.append(time.perf_counter() - t)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
    finally:
        client.get = real_get  # type: ignore[method-assign]
        client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        for t in client.indices.get_index_template(name=f"{prefix}-*").get("index_templates", []):
            client.indices.delete_index_template(name=t["name"])
    lat.sort()
    out = {
        "throttle": throttle,
        "guesses": guesses,
        "es_lookups": lookups[0],
        "codes": codes,
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
        "total_s": round(sum(lat), 2),
    }
    label = "throttle on " if throttle else "throttle off"
    print(
        f"{guesses} random keys, {label}: {lookups[0]} Elasticsearch look-ups, answers {codes}, "
        f"p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, {out['total_s']} s in all"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", type=int, default=6)
    ap.add_argument("--guesses", type=int, default=2000)
    ap.add_argument("--es-url", default="http://127.0.0.1:9250")
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "api_security", "yaml": bench_yaml(args.levels)}
    out["guessing_off"] = bench_guessing(args.es_url, args.guesses, throttle=False)
    out["guessing_on"] = bench_guessing(args.es_url, args.guesses, throttle=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
