"""Benchmark: detections -> grouped alerts (alerting.grouping.AlertManager).

Figures (medians of repeats, each into fresh indices):
- ``one_group``: N single-event detections from one attacker -> 1 alert (the flood case);
- ``many_groups``: N detections spread over G attackers -> G alerts;
- ``replay``: the same N detections again (all duplicates: nothing written but a reconcile);
- baseline: the naive approach, one alert document per detection written with the bulk
  helper (what storing raw detections costs), on the same detections.
Ratio: grouped detections/s divided by baseline detections/s (the price of grouping,
idempotency markers and optimistic concurrency). Ends with one JSON line.

    .venv/bin/python bench/alerting.py [--detections N] [--groups G] [--repeats R] [--es-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socmon.alerting.grouping import AlertManager  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.rules.detection import Detection, MatchedEvent  # noqa: E402
from socmon.settings.alerting import AlertingSettings  # noqa: E402


def make_detections(n: int, groups: int) -> list[Detection]:
    out = []
    for i in range(n):
        g = i % groups
        ts = f"2026-11-24T10:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.{i % 10}00Z"
        ev = {
            "@timestamp": ts,
            "event": {"dataset": "linux.auth", "kind": "event", "outcome": "failure"},
            "source": {"ip": f"198.51.{g // 250}.{g % 250}"},
            "host": {"name": "web-01"},
            "user": {"name": "root"},
            "organization": {"id": "so-tttt", "name": "SO TTTT"},
        }
        out.append(
            Detection(
                rule_id="bench-ssh",
                rule_title="SSH authentication failure",
                level="high",
                status="stable",
                tags=["attack.credential_access", "attack.t1110"],
                events=[MatchedEvent(f"ev-{i}", "socmon-events-2026.11.24", ev)],
                timestamp=ts,
                first_timestamp=ts,
                id=f"det-{i}",
            )
        )
    return out


def run_grouped(client: Elasticsearch, dets: list[Detection], batch: int) -> dict[str, float]:
    names = IndexNames(f"socmon-bench-{uuid.uuid4().hex[:8]}")
    apply_templates(client, names)
    try:
        m = AlertManager(client, names, AlertingSettings())
        t0 = time.perf_counter()
        for s in range(0, len(dets), batch):
            m.handle_many(dets[s : s + batch])
        first = time.perf_counter() - t0
        m2 = AlertManager(client, names, AlertingSettings())
        t0 = time.perf_counter()
        for s in range(0, len(dets), batch):
            m2.handle_many(dets[s : s + batch])
        replay = time.perf_counter() - t0
        client.indices.refresh(index=names.alerts)
        alerts = client.count(index=names.alerts)["count"]
        return {"seconds": first, "replay_seconds": replay, "alerts": alerts}
    finally:
        client.indices.delete(index=f"{names.prefix}-*", ignore_unavailable=True)
        for t in client.indices.get_index_template(name=f"{names.prefix}-*")["index_templates"]:
            client.indices.delete_index_template(name=t["name"])


def run_baseline(client: Elasticsearch, dets: list[Detection], batch: int) -> float:
    index = f"socmon-bench-{uuid.uuid4().hex[:8]}-alerts"
    client.indices.create(index=index)
    try:

        def actions() -> Any:
            for d in dets:
                yield {
                    "_op_type": "create",
                    "_index": index,
                    "_id": d.id,
                    "_source": {
                        "rule": {"id": d.rule_id, "name": d.rule_title, "level": d.level},
                        "@timestamp": d.timestamp,
                        "events": [m.event for m in d.events],
                        "status": "open",
                    },
                }

        t0 = time.perf_counter()
        helpers.bulk(client, actions(), chunk_size=batch, raise_on_error=True)
        return time.perf_counter() - t0
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detections", type=int, default=20_000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--es-url", default=os.environ.get("SOCMON_TEST_ES_URL", "http://127.0.0.1:9250")
    )
    a = ap.parse_args()
    client = Elasticsearch(a.es_url, request_timeout=120)
    one = make_detections(a.detections, 1)
    many = make_detections(a.detections, a.groups)
    res: dict[str, list[float]] = {k: [] for k in ("one", "one_replay", "many", "base")}
    alerts = {"one": 0, "many": 0}
    for _ in range(a.repeats):
        r = run_grouped(client, one, a.batch)
        res["one"].append(r["seconds"])
        res["one_replay"].append(r["replay_seconds"])
        alerts["one"] = int(r["alerts"])
        r = run_grouped(client, many, a.batch)
        res["many"].append(r["seconds"])
        alerts["many"] = int(r["alerts"])
        res["base"].append(run_baseline(client, one, a.batch))
    med = {k: statistics.median(v) for k, v in res.items()}
    n = a.detections
    rate = {k: n / v for k, v in med.items()}
    print(f"detections per run: {n}, batch {a.batch}, repeats {a.repeats}")
    print(f"one group   : {rate['one']:10.0f} detections/s -> {alerts['one']} alert(s)")
    print(f"replay      : {rate['one_replay']:10.0f} detections/s (all duplicates)")
    print(f"{a.groups} groups  : {rate['many']:10.0f} detections/s -> {alerts['many']} alerts")
    print(f"baseline    : {rate['base']:10.0f} detections/s (one raw document per detection)")
    print(
        f"ratio one/baseline {rate['one'] / rate['base']:.2f}, many/baseline "
        f"{rate['many'] / rate['base']:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "alerting",
                "detections": n,
                "groups": a.groups,
                "grouped_one_per_s": round(rate["one"], 1),
                "grouped_many_per_s": round(rate["many"], 1),
                "replay_per_s": round(rate["one_replay"], 1),
                "baseline_per_s": round(rate["base"], 1),
                "ratio_one": round(rate["one"] / rate["base"], 3),
                "ratio_many": round(rate["many"] / rate["base"], 3),
                "alerts_one": alerts["one"],
                "alerts_many": alerts["many"],
            }
        )
    )


if __name__ == "__main__":
    main()
