"""Benchmark of the streaming Sigma engine (issue 5).

- rule load time: all SigmaHQ rules of rules/, rules-emerging-threats/, rules-threat-hunting/,
  rules-compliance/, rules-placeholder/ (3,780) loaded with pySigma and compiled;
- throughput and per-event latency: the SigmaHQ Windows rules (~2,400+) against >= 200,000
  Windows events (the regression samples' events, read through the collectors' EVTX parser,
  replicated), one core (the process is pinned to one CPU);
- peak RSS;
- the same engine with the Python flattening instead of the native module
  (rules/_eventview.c), on a quarter of the events: ratio native / Python;
- baseline in the same run: a naive evaluation (every compiled rule on every event, no
  prefilter) on a subset; ratio = engine events/s / naive events/s (medians of repeats).

Run: ``.venv/bin/python bench/sigma_engine.py [--quick] [--events N] [--repeats R]``.
Prints figures and ends with one JSON line. Targets: >= 20,000 events/s, p50 <= 50 us,
load <= 20 s, RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPUS = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
    "rules-placeholder",
]


def datasets() -> Path:
    return Path(os.environ.get("SOCMON_DATASETS", ROOT.parent / "shared" / "datasets"))


def sample_events(sigmahq: Path) -> list[dict[str, Any]]:
    """Every event of the regression samples, parsed as `socmon hunt` / `socmon run` would."""
    from socmon.collectors.reader import read_file
    from socmon.rules.hunt import _handler_factory

    events: list[dict[str, Any]] = []
    evtx_files = sorted((sigmahq / "regression_data").rglob("*.evtx"))

    class Collect:
        def emit(self, doc_id: str, event: dict[str, Any], ack: Any = None) -> None:
            events.append(event)

    handler_for = _handler_factory(Collect())  # type: ignore[arg-type]
    for p in evtx_files:
        read_file(p, "auto", handler_for)
    return events


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (smoke test)")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-events", type=int, default=500)
    args = ap.parse_args()
    if args.quick:
        args.events, args.repeats, args.naive_events = 2_000, 1, 50
    logging.disable(logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from socmon.rules import eventview
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.eventview import EventView
    from socmon.rules.loader import load_rules

    sigmahq = datasets() / "sigmahq"
    if not sigmahq.is_dir():
        print(f"SigmaHQ corpus not found at {sigmahq} (set SOCMON_DATASETS)", file=sys.stderr)
        sys.exit(2)
    dirs = [sigmahq / d for d in (CORPUS[:1] if args.quick else CORPUS)]
    if args.quick:
        dirs = [sigmahq / "rules" / "windows" / "process_creation"]

    # 1. load + compile everything
    t0 = time.perf_counter()
    loaded = load_rules(dirs)
    t1 = time.perf_counter()
    full = StreamingEngine.from_rules(loaded)
    t2 = time.perf_counter()
    load_s, compile_s = t1 - t0, t2 - t1
    n_all = len(loaded.rules)
    print(
        f"rules: {n_all} loaded in {load_s:.2f} s, {len(full.rules)} compiled in "
        f"{compile_s:.2f} s (total {load_s + compile_s:.2f} s), "
        f"{sum(1 for p in full.problems if p.fatal)} unusable"
    )

    # 2. the Windows rules
    win_rules = [r for r in loaded.rules if r.logsource.product == "windows"]
    engine = StreamingEngine.from_rules(win_rules)
    print(f"windows rules: {len(engine.rules)} compiled, {len(engine.unanchored)} unanchored")

    base = sample_events(sigmahq)
    reps = -(-args.events // len(base))
    events = (base * reps)[: args.events]
    print(f"events: {len(events)} ({len(base)} sample events replicated)")

    def timed(evs: list[dict[str, Any]]) -> tuple[float, list[float], int]:
        """Median events/s of the repeats, the last repeat's latencies (ns) and matches."""
        runs = []
        lat: list[float] = []
        matches = 0
        for _ in range(args.repeats):
            lat = []
            matches = 0
            pc = time.perf_counter_ns
            start = time.perf_counter()
            for ev in evs:
                a = pc()
                matches += len(engine.match_rules(ev))
                lat.append(pc() - a)
            runs.append(len(evs) / (time.perf_counter() - start))
        return statistics.median(runs), lat, matches

    for ev in base:  # warm-up: plans and memos are built once per kind of event
        engine.match_rules(ev)
    eps, lat, matches = timed(events)
    p50, p99 = pct(lat, 0.50) / 1000, pct(lat, 0.99) / 1000
    print(
        f"engine: {eps:,.0f} events/s (median of {args.repeats}), p50 {p50:.1f} us, "
        f"p99 {p99:.1f} us, {matches} rule matches in the last repeat"
        + ("" if eventview.NATIVE else " [Python flattening: rules._eventview not built]")
    )

    # 2b. the same engine with the Python flattening (rules/eventview.py's reference code):
    # what the native module (rules/_eventview.c) is worth, measured in the same run
    py_events = events[: max(1, len(events) // 4)]
    native_fns = eventview.flatten, eventview.values_text
    eventview.flatten, eventview.values_text = eventview._flatten_py, eventview._values_text_py
    try:
        py_eps, py_lat, _ = timed(py_events)
    finally:
        eventview.flatten, eventview.values_text = native_fns
    py_p50 = pct(py_lat, 0.50) / 1000
    print(
        f"engine with the Python flattening: {py_eps:,.0f} events/s on {len(py_events)} "
        f"events, p50 {py_p50:.1f} us (native / Python: {eps / py_eps:.2f}x)"
    )

    # 3. naive baseline: every rule on every event, no prefilter (same compiled matchers)
    subset = (
        base[: args.naive_events]
        if len(base) >= args.naive_events
        else ((base * (args.naive_events // len(base) + 1))[: args.naive_events])
    )
    naive_runs = []
    naive_matches = 0
    for _ in range(args.repeats):
        naive_matches = 0
        start = time.perf_counter()
        for ev in subset:
            view = EventView(ev)
            for r in engine.rules:
                if r.fn(view):
                    naive_matches += 1
        naive_runs.append(len(subset) / (time.perf_counter() - start))
    naive_eps = statistics.median(naive_runs)
    check = sum(len(engine.match_rules(ev)) for ev in subset)
    print(
        f"naive baseline: {naive_eps:,.0f} events/s on {len(subset)} events "
        f"({naive_matches} matches; engine on the same events: {check})"
    )
    ratio = eps / naive_eps if naive_eps else 0.0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ratio engine/naive: {ratio:.1f}x; peak RSS {rss_mb:.0f} MB")
    targets = {
        "events_per_s>=20000": eps >= 20_000,
        "p50_us<=50": p50 <= 50,
        "load_s<=20": load_s + compile_s <= 20,
        "rss_mb<=1024": rss_mb <= 1024,
    }
    print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in targets.items()))
    print(
        json.dumps(
            {
                "bench": "sigma_engine",
                "quick": args.quick,
                "rules_loaded": n_all,
                "rules_compiled": len(full.rules),
                "load_s": round(load_s, 3),
                "compile_s": round(compile_s, 3),
                "load_total_s": round(load_s + compile_s, 3),
                "windows_rules": len(engine.rules),
                "events": len(events),
                "events_per_s": round(eps, 1),
                "p50_us": round(p50, 2),
                "p99_us": round(p99, 2),
                "native_flattening": eventview.NATIVE,
                "python_flattening_events_per_s": round(py_eps, 1),
                "python_flattening_p50_us": round(py_p50, 2),
                "ratio_native_vs_python_flattening": round(eps / py_eps, 2),
                "naive_events_per_s": round(naive_eps, 1),
                "ratio_vs_naive": round(ratio, 2),
                "peak_rss_mb": round(rss_mb, 1),
                "repeats": args.repeats,
                "targets_met": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
