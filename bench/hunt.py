"""``socmon hunt`` against the method of Zircolite (bench/zircolite_method.py) on a large
Windows event set: both whole processes, the same rules, the same files, the same run.

Rules: every SigmaHQ rule of the corpus directories (bench/sigma_engine.py's ``CORPUS``)
whose ``logsource.product`` is ``windows``. Events: the SigmaHQ regression EVTX records
synthesised into one multi-chunk EVTX file (bench/evtx_synth.py) and the mordor JSON lines
(each line given a ``RecordNumber``, its line number, so both tools name it the same way),
written again as further files until there are at least ``--records`` (200,000) records.

Measured per tool: wall time, CPU time (user + system of the process and its children),
peak memory (the sum of the resident sets of the process tree, sampled every 0.1 s), its
detections as (file, record id, rule id), and the overlap of the two sets over the rules both
could run. ``socmon hunt`` runs twice: with an empty rule cache (cold) and with the cache the
first run wrote (warm). Prints the figures, the machine's load average, one JSON line last.

    python -m bench.hunt [--records N] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.sigma_engine import CORPUS, datasets

ROOT = Path(__file__).resolve().parent.parent


def windows_rules(sigmahq: Path, quick: bool = False) -> list[Path]:
    """The corpus's Windows rules (``quick``: only those of the regression samples)."""
    sampled = {p.parent.name for p in (sigmahq / "regression_data").rglob("info.yml")}
    out = []
    for d in CORPUS:
        for f in sorted((sigmahq / d).rglob("*.yml")):
            try:
                doc = yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
            except yaml.YAMLError:
                continue
            windows = isinstance(doc, dict) and (doc.get("logsource") or {}).get("product")
            if windows == "windows" and (not quick or f.stem in sampled):
                out.append(f)
    return out


def mordor_lines(mordor: Path) -> list[bytes]:
    lines = []
    for z in sorted(mordor.rglob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                lines += [x for x in zf.read(name).splitlines() if x.strip()]
    return lines


def build_events(sigmahq: Path, mordor: Path, target: int, where: Path) -> tuple[list[Path], int]:
    """Input files holding at least ``target`` records; (files, records)."""
    from bench.evtx_synth import build_multi_chunk

    evtx = sorted((sigmahq / "regression_data").rglob("*.evtx"))
    base = where / "synth-0.evtx"
    n_evtx, _ = build_multi_chunk(evtx, base)
    lines = mordor_lines(mordor)
    files: list[Path] = []
    total = 0
    k = 0
    while total < target:
        ev = where / f"synth-{k}.evtx"
        if k:
            shutil.copyfile(base, ev)
        js = where / f"mordor-{k}.jsonl"
        with js.open("wb") as f:
            for n, line in enumerate(lines):
                doc = orjson.loads(line)
                doc["RecordNumber"] = n + 1
                f.write(orjson.dumps(doc) + b"\n")
        files += [ev, js]
        total += n_evtx + len(lines)
        k += 1
    return files, total


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (Linux /proc)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, float], bytes]:
    """Run ``cmd``: wall, CPU (its and its children's), peak tree RSS; and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = tempfile.TemporaryFile()  # noqa: SIM115 - read after the process ends
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    out.seek(0)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": peak / 2**20}
    figures["peak_rss_mb"] = round(figures["peak_rss_mb"], 1)
    return figures, out.read()


def socmon_matches(csv_out: bytes) -> set[tuple[str, str, str]]:
    rows = csv.DictReader(io.StringIO(csv_out.decode()))
    return {(r["source"], r["record_id"], r["rule_id"]) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 20,000 records, the rules of the regression samples only",
    )
    args = ap.parse_args()
    target = 20_000 if args.quick else args.records
    sigmahq, mordor = datasets() / "sigmahq", datasets() / "mordor"
    for d in (sigmahq, mordor):
        if not d.is_dir():
            raise SystemExit(f"corpus not found: {d} (set SOCMON_DATASETS)")
    load_before = os.getloadavg()
    rules = windows_rules(sigmahq, args.quick)
    print(f"{len(rules)} SigmaHQ Windows rules (logsource.product: windows)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        files, n_records = build_events(sigmahq, mordor, target, work / "in")
        print(f"{n_records} records in {len(files)} files")
        rule_list = work / "rules.txt"
        rule_list.write_text("\n".join(str(r) for r in rules))
        env = {**os.environ, "SOCMON_VAR_DIR": str(work / "var"), "PYTHONPATH": str(ROOT)}
        hunt_cmd = [sys.executable, "-m", "socmon", "hunt", "--output", "csv", "--json"]
        for r in rules:
            hunt_cmd += ["--rules", str(r)]
        hunt_cmd += [str(work / "in")]
        runs: dict[str, dict[str, Any]] = {}
        sets: dict[str, set[tuple[str, str, str]]] = {}
        for name in ("socmon_cold", "socmon_warm"):
            figs, out = measure(hunt_cmd, env)
            sets[name] = socmon_matches(out)
            runs[name] = {**figs, "detections": len(sets[name])}
            print(f"{name}: {runs[name]}")
        zcmd = [sys.executable, "-m", "bench.zircolite_method", str(rule_list)]
        figs, out = measure(zcmd + [str(f) for f in files], env)
        doc = orjson.loads(out)
        base = {(f, r, rid) for f, r, rid in doc["matches"]}
        runs["zircolite_method"] = {
            **figs,
            "detections": len(base),
            "rules_converted": doc["rules_converted"],
            "rules_not_converted": doc["rules_not_converted"],
            "queries_refused": doc["queries_refused"],
            "convert_s": doc["convert_s"],
            "load_s": doc["load_s"],
            "query_s": doc["query_s"],
        }
        print(f"zircolite_method: {runs['zircolite_method']}")
        converted = set(doc["converted"])
        ours = {m for m in sets["socmon_warm"] if m[2] in converted}
        both = ours & base
        only_socmon = ours - base
        only_base = base - ours
        diff_rules = Counter(m[2] for m in only_socmon) + Counter(m[2] for m in only_base)
        by_rule = {
            rid: {
                "socmon_only": sum(1 for m in only_socmon if m[2] == rid),
                "zircolite_only": sum(1 for m in only_base if m[2] == rid),
            }
            for rid, _ in diff_rules.most_common(15)
        }
        same_cold_warm = sets["socmon_cold"] == sets["socmon_warm"]
    load_after = os.getloadavg()
    ratio = runs["zircolite_method"]["wall_s"] / max(runs["socmon_warm"]["wall_s"], 1e-9)
    result = {
        "bench": "hunt",
        "quick": args.quick,
        "records": n_records,
        "files": len(files),
        "windows_rules": len(rules),
        "cores": len(os.sched_getaffinity(0)),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        **{k: v for k, v in runs.items()},
        "cold_equals_warm": same_cold_warm,
        "overlap": {
            "rules_compared": len(converted),
            "both": len(both),
            "socmon_only": len(only_socmon),
            "zircolite_only": len(only_base),
            "jaccard": round(len(both) / max(len(ours | base), 1), 4),
            "differing_rules": len(diff_rules),
            "top_differences": by_rule,
        },
        "wall_ratio_vs_zircolite_method": round(ratio, 2),
        "targets_met": {"wall>=10x": ratio >= 10},
    }
    print(f"overlap: {result['overlap']}")
    print(f"socmon warm is {ratio:.1f}x faster (wall) than the Zircolite method")
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
