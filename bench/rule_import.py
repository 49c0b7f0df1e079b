"""Benchmark: importing a rule pack (the SigmaHQ corpus) into the rule store.

Figures, each into fresh indices on the given node:
- ``import``: `rules.packs.import_pack` over the pack: wall and CPU time, split into read,
  check (pySigma load + streaming compile), store (bulk) and audit (bulk);
- ``reimport``: the same pack again (every rule unchanged: nothing written, no compile);
- baseline: requests per rule, as a client of the rule store without bulk would do it (the
  API's path per rule, ``store.save_rule``: read the current document, write the version and
  the current document, then one audit document; without the API's ``refresh=wait_for``,
  which alone caps it near one rule per refresh interval), on the first ``--baseline`` rules
  of the pack, its rate extrapolated to the whole pack (said so in the output).
Ends with one JSON line.

    .venv/bin/python bench/rule_import.py [--pack DIR|ZIP] [--limit N] [--baseline N] [--es-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socmon.audit import audit_document  # noqa: E402
from socmon.es import make_client  # noqa: E402
from socmon.indices import IndexNames, apply_templates  # noqa: E402
from socmon.rules import store  # noqa: E402
from socmon.rules.packs import (  # noqa: E402
    PackFilter,
    PackReport,
    import_pack,
    read_pack,
    select_rules,
)
from socmon.settings import load_settings  # noqa: E402

DEFAULT_PACK = (
    Path(os.environ.get("SOCMON_DATASETS", ROOT.parent / "shared" / "datasets")) / "sigmahq"
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _fresh(client, tag: str) -> IndexNames:  # type: ignore[no-untyped-def]
    names = IndexNames(f"socmon-bench-{tag}-{uuid.uuid4().hex[:8]}")
    apply_templates(client, names)
    return names


def _drop(client, names: IndexNames) -> None:  # type: ignore[no-untyped-def]
    client.indices.delete(index=f"{names.prefix}-*", ignore_unavailable=True)
    for t in client.indices.get_index_template(name=f"{names.prefix}-*")["index_templates"]:
        client.indices.delete_index_template(name=t["name"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    ap.add_argument("--limit", type=int, default=0, help="Only the first N rule files.")
    ap.add_argument("--baseline", type=int, default=200, help="Rules stored one by one.")
    ap.add_argument(
        "--baseline-refresh",
        action="store_true",
        help="Baseline through store.save_rule itself (with its refresh=wait_for, as the API).",
    )
    ap.add_argument("--es-url", default=os.environ.get("SOCMON_TEST_ES_URL"))
    args = ap.parse_args()
    es = {"url": args.es_url} if args.es_url else {}
    client = make_client(load_settings(es=es).es)
    pack = args.pack
    if args.limit:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="socmon-bench-pack-"))
        for f in read_pack(pack, [])[: args.limit]:
            (tmp / f.path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / f.path).write_text(f.text, encoding="utf-8")
        pack = tmp
    load = os.getloadavg()

    names = _fresh(client, "pack")
    try:
        c0, t0 = _cpu(), time.perf_counter()
        rep = import_pack(client, names, pack, PackFilter())
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        c0, t0 = _cpu(), time.perf_counter()
        rep2 = import_pack(client, names, pack, PackFilter())
        re_wall, re_cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        _drop(client, names)
    imported = len(rep.imported)
    print(f"import: {imported} rules in {wall:.1f} s wall, {cpu:.1f} s CPU: {rep.seconds}")
    print(f"re-import: {len(rep2.unchanged)} unchanged in {re_wall:.1f} s ({re_cpu:.1f} s CPU)")

    # baseline: the same rules, one request per rule
    sel = select_rules(read_pack(pack, []), PackFilter(), PackReport(str(pack)))
    ids = [rid for rid in sel if rid in set(rep.imported)][: args.baseline]
    names = _fresh(client, "one")
    try:
        t0 = time.perf_counter()
        for rid in ids:
            text = sel[rid].text
            if args.baseline_refresh:
                doc = store.save_rule(client, names, rid, text, "bench", enabled=False)
                audit = audit_document("bench", "admin", "b", "rule.create", "rule", rid, None, doc)
                client.index(index=names.audit, document=audit)
                continue
            store.get_rule(client, names, rid)
            ver = {"kind": "version", "rule_id": rid, "version": 1, "yaml": text}
            client.index(index=names.rules, id=f"{rid}@1", document=ver)
            doc = {"kind": "current", "rule_id": rid, "yaml": text, "version": 1}
            doc |= store.summary_fields(text)
            client.index(index=names.rules, id=rid, document=doc)
            audit = audit_document("bench", "admin", "b", "rule.create", "rule", rid, None, doc)
            client.index(index=names.audit, document=audit)
        base_wall = time.perf_counter() - t0
    finally:
        _drop(client, names)
    base_rate = len(ids) / base_wall if base_wall else 0.0
    bulk_store = rep.seconds["store"] + rep.seconds["audit"]
    bulk_rate = imported / bulk_store if bulk_store else 0.0
    extrapolated = imported / base_rate if base_rate else 0.0
    print(
        f"baseline: {len(ids)} rules one request each in {base_wall:.1f} s = {base_rate:.1f} "
        f"rules/s; the whole pack at that rate (extrapolated): {extrapolated:.0f} s"
    )
    ratio = bulk_rate / base_rate if base_rate else 0.0
    print(
        f"bulk store + audit: {bulk_rate:.0f} rules/s = {ratio:.1f}x the baseline's rate; "
        f"load average at start {load[0]:.1f}"
    )
    out = {
        "bench": "rule_import",
        "pack": str(args.pack),
        "files": rep.files,
        "imported": imported,
        "filtered": sum(rep.filtered.values()),
        "skipped": len(rep.skipped),
        "errors": len(rep.errors),
        "import_wall_s": round(wall, 2),
        "import_cpu_s": round(cpu, 2),
        "phases_s": rep.seconds,
        "reimport_unchanged": len(rep2.unchanged),
        "reimport_written": len(rep2.imported) + len(rep2.updated),
        "reimport_wall_s": round(re_wall, 2),
        "baseline_rules": len(ids),
        "baseline_refresh_wait_for": args.baseline_refresh,
        "baseline_wall_s": round(base_wall, 2),
        "baseline_rules_per_s": round(base_rate, 1),
        "baseline_whole_pack_s_extrapolated": round(extrapolated, 1),
        "bulk_store_rules_per_s": round(bulk_rate, 1),
        "ratio_store_vs_baseline": round(bulk_rate / base_rate, 1) if base_rate else None,
        "loadavg_1m_at_start": round(load[0], 1),
    }
    if pack != args.pack:
        shutil.rmtree(pack, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
