"""Benchmark of the streaming Sigma engine (issue 5).

- rule load time: all SigmaHQ rules of rules/, rules-emerging-threats/, rules-threat-hunting/,
  rules-compliance/, rules-placeholder/ (3,780) loaded with pySigma and compiled;
- throughput and per-event latency: the SigmaHQ Windows rules (~2,400+) against distinct
  Windows events, one core (the process is pinned to one CPU), each repeat with a fresh
  engine (caches cold at the start: no warm-up, the routing plans and candidate memos fill
  while the measured events go through). The events, all distinct (exact duplicates removed,
  and counted), each read through the collectors' readers as ``socmon hunt`` / ``socmon run``
  read them:
  * the sigmahq regression samples' EVTX records (``corpus evtx``);
  * the mordor JSON lines (NXLog-style flat Windows events, ``mordor``);
  * EVTX records synthesised from the regression samples by bench/evtx_synth.py (each
    sample chunk filled with copies of its records; a copy differs from its original in its
    record id, as the next events of the same kinds in a real log differ in a few values,
    ``synthesised``); shuffled together with a fixed seed;
  the rate on the corpus events alone (no synthesised copy) is printed too;
- peak RSS;
- the same engine with the Python flattening instead of the native module
  (rules/_eventview.c), on the same events: ratio native / Python;
- baseline in the same run: a naive evaluation (every compiled rule on every event, no
  prefilter, no routing), one pass over every measured event; ratio = engine events/s /
  naive events/s. The engine's and the naive evaluation's match sets (the rules matched,
  event by event, on every measured event) must be equal: the bench fails otherwise.

Rates are events per CPU-second of this process (robust to other jobs on a shared machine);
the per-event latencies (p50/p99) are wall-clock and grow with the machine's load.

Run: ``.venv/bin/python bench/sigma_engine.py [--quick] [--repeats R]``.
Prints figures and ends with one JSON line. Targets: >= 20,000 events/s, p50 <= 50 us,
load <= 20 s, RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson

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


class Collect:
    """An event sink keeping the events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, doc_id: str, event: dict[str, Any], ack: Any = None) -> None:
        self.events.append(event)


def read_events(paths: list[Path]) -> list[dict[str, Any]]:
    """Every record of these files, through the collectors' reader (format auto-detected:
    EVTX, or JSON lines inside a zip), parsed, normalised to ECS and enriched."""
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.reader import read_file
    from socmon.settings.collectors import CollectorSettings

    cs = CollectorSettings()
    enricher = Enricher(cs)
    sink = Collect()

    def handler_for(fmt: str, label: str) -> LineHandler:
        return LineHandler(fmt, cs, enricher, sink, source_kind="bench", source=label)

    for p in paths:
        read_file(p, "auto", handler_for)
    failed = [e for e in sink.events if "_parse_failure" in (e.get("tags") or [])]
    if failed:
        raise SystemExit(f"{len(failed)} records failed to parse: {failed[0].get('error')}")
    return sink.events


def mordor_lines(zips: list[Path]) -> int:
    """JSON lines in the mordor archives (an independent count of what the reader read)."""
    n = 0
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                n += sum(1 for x in zf.read(name).splitlines() if x.strip())
    return n


def regression_evtx(sigmahq: Path) -> list[Path]:
    """SigmaHQ's regression samples (one EVTX file per rule)."""
    return sorted((sigmahq / "regression_data").rglob("*.evtx"))


def sample_events(sigmahq: Path) -> list[dict[str, Any]]:
    """Every event of the regression samples, read as `socmon hunt` / `socmon run` read them
    (used by tests and bench/prefilter_scanners.py)."""
    return read_events(regression_evtx(sigmahq))


def corpus_events(sigmahq: Path, mordor: Path, quick: bool) -> dict[str, list[dict[str, Any]]]:
    """The events by origin: corpus EVTX, mordor, and EVTX records synthesised from the
    corpus EVTX (bench/evtx_synth.py)."""
    from bench.evtx_synth import build_multi_chunk

    evtx_files = regression_evtx(sigmahq)
    zips = sorted(mordor.rglob("*.zip"))
    if quick:
        evtx_files, zips = evtx_files[:20], zips[:1]
    out = {"corpus evtx": read_events(evtx_files), "mordor": read_events(zips)}
    if len(out["mordor"]) != mordor_lines(zips):
        raise SystemExit(f"mordor: {len(out['mordor'])} events of {mordor_lines(zips)} lines")
    with tempfile.TemporaryDirectory() as tmp:
        multi = Path(tmp) / "synth.evtx"
        n, layout = build_multi_chunk(evtx_files, multi)
        synth = read_events([multi])
    if len(synth) != n:
        raise SystemExit(f"synthesised EVTX: {len(synth)} events read of {n} records written")
    originals = sum(o for _, o, _ in layout)
    copies: list[dict[str, Any]] = []
    at = 0
    for _, o, c in layout:  # per chunk: its original records, then the copies
        copies += synth[at + o : at + o + c]
        at += o + c
    out["synthesised"] = copies
    print(
        f"synthesised EVTX: {n} records in {len(layout)} chunks ({originals} originals, "
        f"{n - originals} copies)"
    )
    return out


def content_key(ev: dict[str, Any]) -> bytes:
    """The event without ``event.created`` (when socmon read it, not what happened)."""
    inner = {k: v for k, v in (ev.get("event") or {}).items() if k not in ("created", "ingested")}
    return orjson.dumps({**ev, "event": inner}, option=orjson.OPT_SORT_KEYS)


def distinct(groups: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[Any]], int]:
    """The groups without exact duplicates (an event seen before, in any group, is dropped;
    ``event.created`` left out of the comparison), and the number dropped."""
    seen: set[bytes] = set()
    dropped = 0
    out: dict[str, list[Any]] = {}
    for name, events in groups.items():
        keep = []
        for ev in events:
            key = content_key(ev)
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            keep.append(ev)
        out[name] = keep
    return out, dropped


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def routing_kinds(events: list[dict[str, Any]]) -> int:
    """Distinct tuples of the routing fields' values (event.code, winlog.channel, ...): the
    kinds of event the engine builds and caches a routing plan for."""
    from socmon.rules.engine import ROUTING_ORDER

    def get(ev: Any, dotted: str) -> str:
        for part in dotted.split("."):
            ev = ev.get(part) if isinstance(ev, dict) else None
        return repr(ev)

    return len({tuple(get(e, f) for f in ROUTING_ORDER) for e in events})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (smoke test)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    logging.disable(logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from socmon.rules import eventview
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.eventview import EventView
    from socmon.rules.loader import load_rules

    sigmahq, mordor = datasets() / "sigmahq", datasets() / "mordor"
    for d in (sigmahq, mordor):
        if not d.is_dir():
            print(f"corpus not found at {d} (set SOCMON_DATASETS)", file=sys.stderr)
            sys.exit(2)
    dirs = [sigmahq / d for d in CORPUS]
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
    n_compiled = len(full.rules)
    del full

    # 2. the Windows rules; a fresh engine for every measured pass (caches cold)
    win_rules = [r for r in loaded.rules if r.logsource.product == "windows"]

    engine = StreamingEngine.from_rules(win_rules)

    def fresh() -> StreamingEngine:
        """A new engine over the same compiled rules (compiled rules hold no per-event state):
        empty routing-plan and candidate caches, nothing built for any event yet."""
        return StreamingEngine(engine.rules, engine.problems)

    print(f"windows rules: {len(engine.rules)} compiled, {len(engine.unanchored)} unanchored")

    groups, dropped = distinct(corpus_events(sigmahq, mordor, args.quick))
    corpus = groups["corpus evtx"] + groups["mordor"]
    events = corpus + groups["synthesised"]
    random.Random(5).shuffle(events)
    sizes = {k: len(v) for k, v in groups.items()}
    print(
        f"events: {len(events)} distinct ({', '.join(f'{v} {k}' for k, v in sizes.items())}; "
        f"{dropped} exact duplicates left out), {routing_kinds(events)} kinds (distinct "
        f"values of the routing fields); os.cpu_count() {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )

    last: list[StreamingEngine] = []
    halves: list[float] = []  # CPU seconds of the last repeat's second half

    def timed(evs: list[dict[str, Any]]) -> tuple[float, list[float], int]:
        """Median events per CPU-second of the repeats (each with a fresh engine: caches cold
        at the start), the last repeat's wall-clock latencies (ns) and matches."""
        runs = []
        lat: list[float] = []
        matches = 0
        mid = len(evs) // 2
        for _ in range(args.repeats):
            eng = fresh()
            last[:] = [eng]
            lat = []
            matches = 0
            pc = time.perf_counter_ns
            start = half = time.process_time()
            for i, ev in enumerate(evs):
                if i == mid:
                    half = time.process_time()
                a = pc()
                matches += len(eng.match_rules(ev))
                lat.append(pc() - a)
            end = time.process_time()
            halves[:] = [end - half]
            runs.append(len(evs) / (end - start))
        return statistics.median(runs), lat, matches

    eps, lat, matches = timed(events)
    p50, p99 = pct(lat, 0.50) / 1000, pct(lat, 0.99) / 1000
    slow = [x for x in lat if x >= 1_000_000]
    slow_s, total_s = sum(slow) / 1e9, sum(lat) / 1e9
    second_half_eps = (len(events) - len(events) // 2) / halves[0]
    print(
        f"engine: {eps:,.0f} events per CPU-second (median of {args.repeats}, a fresh engine "
        f"each), wall-clock p50 "
        f"{p50:.1f} us, p99 {p99:.1f} us, {matches} rule matches in the last repeat"
        + ("" if eventview.NATIVE else " [Python flattening: rules._eventview not built]")
    )
    print(
        f"        of the last repeat's {total_s:.2f} s of matching, {slow_s:.2f} s went to "
        f"{len(slow)} events of >= 1 ms each (the first event of each kind builds its routing "
        f"plan: anchor tables and RE2 sets; first scans of new content build RE2 DFA "
        f"states); the second half of the events alone (every event still new): "
        f"{second_half_eps:,.0f} events/s"
    )
    # the same events again through the last repeat's engine (its caches now hold what the
    # cold pass built): what the cold start and first sight of new content cost
    warm, start = last[0], time.process_time()
    for ev in events:
        warm.match_rules(ev)
    warm_eps = len(events) / (time.process_time() - start)
    print(
        f"        the same events a second time through that engine (its plans, prefilter "
        f"sets and memos built by the first pass): {warm_eps:,.0f} events/s"
    )
    corpus_eps, corpus_lat, _ = timed(corpus)
    corpus_p50 = pct(corpus_lat, 0.50) / 1000
    print(
        f"engine on the {len(corpus)} corpus events alone (no synthesised copy): "
        f"{corpus_eps:,.0f} events/s, p50 {corpus_p50:.1f} us"
    )

    # 2b. the same engine with the Python flattening (rules/eventview.py's reference code):
    # what the native module (rules/_eventview.c) is worth, measured in the same run
    py_events = events
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

    # 3. naive baseline: every rule on every event, no routing, no prefilter (the same
    # compiled matchers); its match sets must equal the engine's, event by event
    # (one pass over every measured event: ~300 events/s, so no repeats)
    subset = events
    naive_sets: list[frozenset[int]] = []
    start = time.process_time()
    for ev in subset:
        view = EventView(ev)
        naive_sets.append(frozenset(r.index for r in engine.rules if r.fn(view)))
    naive_eps = len(subset) / (time.process_time() - start)
    eng = fresh()
    engine_sets = [frozenset(r.index for r in eng.match_rules(ev)) for ev in subset]
    differ = [i for i, (a, b) in enumerate(zip(engine_sets, naive_sets, strict=True)) if a != b]
    naive_matches = sum(map(len, naive_sets))
    print(
        f"naive baseline: {naive_eps:,.0f} events/s on {len(subset)} events; match sets "
        f"equal to the engine's on {len(subset) - len(differ)} of {len(subset)} events "
        f"({naive_matches} matches, {sum(1 for x in naive_sets if x)} events matched)"
    )
    if differ:
        i = differ[0]
        by = {r.index: r.rule_id for r in engine.rules}
        print(
            f"MATCH SETS DIFFER on {len(differ)} events; first: engine only "
            f"{sorted(by[x] for x in engine_sets[i] - naive_sets[i])}, naive only "
            f"{sorted(by[x] for x in naive_sets[i] - engine_sets[i])}",
            file=sys.stderr,
        )
        sys.exit(1)
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
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(
        json.dumps(
            {
                "bench": "sigma_engine",
                "quick": args.quick,
                "rules_loaded": n_all,
                "rules_compiled": n_compiled,
                "load_s": round(load_s, 3),
                "compile_s": round(compile_s, 3),
                "load_total_s": round(load_s + compile_s, 3),
                "windows_rules": len(engine.rules),
                "events": len(events),
                "events_by_origin": sizes,
                "routing_kinds": routing_kinds(events),
                "duplicates_left_out": dropped,
                "caches": "cold (a fresh engine per repeat, no warm-up)",
                "events_per_s": round(eps, 1),
                "p50_us": round(p50, 2),
                "p99_us": round(p99, 2),
                "matching_s": round(total_s, 3),
                "events_over_1ms": len(slow),
                "events_over_1ms_s": round(slow_s, 3),
                "second_half_events_per_s": round(second_half_eps, 1),
                "second_pass_same_engine_events_per_s": round(warm_eps, 1),
                "corpus_only_events_per_s": round(corpus_eps, 1),
                "corpus_only_p50_us": round(corpus_p50, 2),
                "native_flattening": eventview.NATIVE,
                "python_flattening_events_per_s": round(py_eps, 1),
                "python_flattening_p50_us": round(py_p50, 2),
                "ratio_native_vs_python_flattening": round(eps / py_eps, 2),
                "naive_events": len(subset),
                "naive_events_per_s": round(naive_eps, 1),
                "match_sets_equal": not differ,
                "naive_matches": naive_matches,
                "ratio_vs_naive": round(ratio, 2),
                "peak_rss_mb": round(rss_mb, 1),
                "repeats": args.repeats,
                "targets_met": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
