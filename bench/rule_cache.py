"""Start-up of the rule set with and without the compiled rule cache (rules/cache.py).

All SigmaHQ rules of bench/sigma_engine.py's ``CORPUS`` (3,780) made ready for streaming,
each mode in a fresh process (``--repeats`` times, the median reported):

- ``before``: the path as it was before the cache (``copy.deepcopy`` of each rule before the
  pipeline, cyclic GC running while building): the baseline;
- ``cold``: today's path with an empty cache (pickle copies, GC paused, the entry written);
- ``warm``: the same rules again (the entry read; the matchers compiled on first use);
- ``warm_all``: warm, then every matcher compiled (what a hunt touching every logsource
  pays over its run).

Wall and CPU seconds of building the engine (imports excluded, reported apart), the rule
count, the load average. Ends with one JSON line.

    python -m bench.rule_cache [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.sigma_engine import CORPUS, datasets

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import contextlib, copy, sys, time
t0 = time.perf_counter()
from pathlib import Path
import orjson
from socmon.rules import engine as eng, loader
from socmon.rules.cache import CacheStats, RuleCache, engine_for_paths
from socmon.rules.engine import StreamingEngine
mode, cache_dir, *dirs = sys.argv[1:]
t_import = time.perf_counter() - t0
w0, c0 = time.perf_counter(), time.process_time()
stats = CacheStats()
if mode == "before":
    eng._work_copy = lambda r, in_place=False: (copy.deepcopy(r), None)
    eng.gc_paused = loader.gc_paused = contextlib.nullcontext
    e = StreamingEngine.from_rules(loader.load_rules(dirs))
else:
    e = engine_for_paths(dirs, RuleCache(Path(cache_dir)), stats=stats)
    if mode == "warm_all":
        for r in e.rules:
            if r.lazy is not None:
                r.lazy.load()
out = {"mode": mode, "outcome": stats.outcome, "rules": len(e.rules),
       "problems": sum(1 for p in e.problems if p.fatal),
       "import_s": t_import, "wall_s": time.perf_counter() - w0,
       "cpu_s": time.process_time() - c0}
sys.stdout.write(orjson.dumps(out).decode())
"""


def run(mode: str, cache_dir: Path, dirs: list[Path]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOCMON_LOG_LEVEL": "error"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(cache_dir), *map(str, dirs)],
        capture_output=True,
        env=env,
        check=True,
    )
    return dict(orjson.loads(proc.stdout.splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sigmahq = datasets() / "sigmahq"
    if not sigmahq.is_dir():
        raise SystemExit(f"corpus not found: {sigmahq} (set SOCMON_DATASETS)")
    dirs = [sigmahq / d for d in CORPUS]
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            cache = Path(tmp) / f"cache{i}"  # empty: the cold run fills it
            for mode in ("before", "cold", "warm", "warm_all"):
                r = run(mode, cache, dirs)
                results.setdefault(mode, []).append(r)
                print(f"repeat {i + 1} {mode}: {r}")
    out: dict[str, object] = {"bench": "rule_cache", "repeats": args.repeats}
    for mode, rs in results.items():
        out[mode] = {
            "wall_s": round(statistics.median(float(r["wall_s"]) for r in rs), 3),  # type: ignore[arg-type]
            "cpu_s": round(statistics.median(float(r["cpu_s"]) for r in rs), 3),  # type: ignore[arg-type]
            "import_s": round(statistics.median(float(r["import_s"]) for r in rs), 3),  # type: ignore[arg-type]
            "rules": rs[0]["rules"],
            "outcomes": sorted({str(r["outcome"]) for r in rs}),
        }
    same = len({r["rules"] for rs in results.values() for r in rs}) == 1
    warm = out["warm"]
    before = out["before"]
    cold = out["cold"]
    assert isinstance(warm, dict) and isinstance(before, dict) and isinstance(cold, dict)
    out["same_rule_count"] = same
    out["cold_vs_before_cpu"] = round(before["cpu_s"] / max(cold["cpu_s"], 1e-9), 2)
    out["warm_vs_before_wall"] = round(before["wall_s"] / max(warm["wall_s"], 1e-9), 1)
    out["load_avg_before"] = [round(x, 2) for x in load_before]
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["targets_met"] = {"warm_wall_s<=1": warm["wall_s"] <= 1.0}
    print(orjson.dumps(out).decode())
    if not same:
        raise SystemExit("the modes built different rule counts")


if __name__ == "__main__":
    main()
