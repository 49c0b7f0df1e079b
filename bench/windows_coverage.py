"""SigmaHQ's Windows rules per logsource category: socmon against an independent evaluation.

For each category (a rule's logsource category, or ``service:<name>``) over the same records:

- **regression samples**: SigmaHQ's regression_data (each rule with its own EVTX sample):
  how many fire their rule in socmon (the collectors' Windows parser, then the streaming
  engine) and in the independent evaluation (``bench.zircolite_method``: the method of
  Zircolite, pySigma's SQLite backend);
- **synthesised samples**: for every Sysmon-category rule, a real record of its event id with
  the fields the rule's selections ask for (``bench.rule_samples``); counted where the
  independent evaluation fires the rule on it, and whether socmon does too (the regression
  corpus has no sample for most categories, none for network_connection);
- **(record, rule) pairs** over all records (the 238 regression records and the mordor
  lines): found by both, by the independent evaluation only, by socmon only.

    python -m bench.windows_coverage [--write-docs]

prints the table and one JSON line; ``--write-docs`` puts the table into docs/detection.md
(between the ``windows-coverage`` markers). tests/rules/test_zircolite_compare.py asserts the
same comparisons.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.rule_samples import sample
from bench.zircolite_method import (
    Conversion,
    Match,
    Record,
    build_db,
    convert_rules,
    convert_yaml,
    evtx_records,
    jsonl_records,
    record_kind,
    rule_files,
    run_queries,
    socmon_matches,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "detection.md"
BEGIN, END = "<!-- windows-coverage:begin -->", "<!-- windows-coverage:end -->"
CORPUS = ["rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance"]
SYSMON = "microsoft-windows-sysmon/operational"


def default_datasets() -> Path:
    return Path(os.environ.get("SOCMON_DATASETS") or ROOT.parent / "shared" / "datasets")


def regression_records(sigmahq: Path) -> list[Record]:
    out: list[Record] = []
    for p in sorted((sigmahq / "regression_data").rglob("*.evtx")):
        out += evtx_records(p, sigmahq)
    return out


def mordor_records(datasets: Path) -> list[Record]:
    out: list[Record] = []
    for p in sorted((datasets / "mordor").rglob("*.zip")):
        out += jsonl_records(p, datasets)
    return out


def regression_cases(sigmahq: Path) -> list[tuple[str, str]]:
    """(rule id, the key prefix of its sample's records)."""
    out = []
    for info in sorted((sigmahq / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text())
        rid = doc["rule_metadata"][0]["id"]
        for t in doc.get("regression_tests_info") or []:
            out.append((rid, str(Path(t["path"]).with_suffix(".evtx")) + "#"))
    return out


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def field_rules(records: Iterable[Record]) -> tuple[str, dict[str, tuple[str, str, Any]]]:
    """One rule per (record kind, EventData field, spelling of its value), routed like the
    record: the value as written, upper-cased, as a number or a YAML boolean when it is one,
    with ``'True'`` for a boolean, and a ``contains`` of its middle. Returns the rules' YAML
    and, per rule id, (record key, field, value)."""
    docs, meta, seen = [], {}, set()
    categories = _sysmon_categories()
    for key, rec in records:
        channel, eid = record_kind(rec)
        ev = rec.get("Event")
        if isinstance(ev, dict):
            data = dict(ev.get("EventData") or {})
            user = ev.get("UserData")
            if isinstance(user, dict) and len(user) == 1:
                data.update(next(iter(user.values())) or {})
            system = ev.get("System") or {}
            data.update({k: system[k] for k in SYSTEM_FIELDS if k in system})
        else:
            data = {
                k: v
                for k, v in rec.items()
                if k not in _FLAT_SYSTEM
                or k in SYSTEM_FIELDS
                or (k == "EventType" and channel == SYSMON)
            }
        logsource = _logsource(channel, eid, categories)
        if logsource is None:
            continue
        for name, v in data.items():
            if name.startswith("#") or " " in name or isinstance(v, dict | list) or v in ("", None):
                continue
            text = ("true" if v else "false") if isinstance(v, bool) else str(v)
            variants: list[tuple[str, Any]] = [("as written", text), ("upper", text.upper())]
            if text.isdigit() and len(text) < 16:
                variants.append(("number", int(text)))
            if text.lower() in ("true", "false"):
                variants += [("boolean", text.lower() == "true"), ("Title", text.capitalize())]
            if len(text) > 6:
                variants.append(("contains", text[2:-2]))
            for how, value in variants:
                if (channel, eid, name, how) in seen:
                    continue
                seen.add((channel, eid, name, how))
                rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{channel}/{eid}/{name}/{how}"))
                sel = name + ("|contains" if how == "contains" else "")
                docs.append(
                    {
                        "title": f"{eid} {name} {how}",
                        "id": rid,
                        "logsource": {"product": "windows", **logsource},
                        "detection": {
                            "sel": {sel: _escape(value) if isinstance(value, str) else value},
                            "condition": "sel",
                        },
                    }
                )
                meta[rid] = (key, name, value)
    return "\n---\n".join(yaml.safe_dump(d) for d in docs), meta


# System fields SigmaHQ rules name (Zircolite flattens every System field into a column)
SYSTEM_FIELDS = ("Keywords", "Computer")
# System fields of the flat (NXLog) lines, not EventData (EventType: NXLog's severity, except
# on Sysmon's registry events, where the line carries Sysmon's EventType instead)
_FLAT_SYSTEM = {
    "EventID", "Channel", "SourceName", "Hostname", "TimeCreated", "@timestamp", "Task", "Level",
    "Keywords", "ProviderGuid", "Message", "EventTime", "EventReceivedTime", "@version", "Opcode",
    "OpcodeValue", "Version", "SeverityValue", "Severity", "EventType", "ExecutionProcessID",
    "ExecutionThreadID", "ThreadID", "Category", "SourceModuleName", "SourceModuleType", "host",
    "port", "tags", "RecordNumber", "AccountType", "UserID", "Domain", "ProviderName",
    "EventRecordID", "Computer",
}  # fmt: skip


def _sysmon_categories() -> dict[int, str]:
    from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping

    out: dict[int, str] = {}
    for cat, ids in sysmon_generic_logsource_eventid_mapping.items():
        for i in ids if isinstance(ids, list) else [ids]:
            out.setdefault(i, cat)
    return out


def _logsource(channel: str, eid: int, categories: dict[int, str]) -> dict[str, str] | None:
    from sigma.pipelines.common import windows_logsource_mapping

    if channel == SYSMON:
        return {"category": categories[eid]} if eid in categories else None
    for service, chans in windows_logsource_mapping.items():
        for c in [chans] if isinstance(chans, str) else chans:
            if c.lower() == channel:
                return {"service": service}
    return None


def base_records(records: Iterable[Record]) -> dict[int, dict[str, Any]]:
    """Sysmon event id -> the first record of that id (mordor lines first: flat, so a
    synthesised sample looks like what NXLog ships; else a regression EVTX record)."""
    out: dict[int, dict[str, Any]] = {}
    for flat_first in (True, False):
        for _, rec in records:
            channel, eid = record_kind(rec)
            if channel == SYSMON and ("Event" not in rec) == flat_first:
                out.setdefault(eid, rec)
    return out


def synthesised(files: Iterable[Path], bases: dict[int, dict[str, Any]]) -> list[Record]:
    """A sample per Sysmon-category rule with a base record of its event id; key = rule id."""
    from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping

    out: list[Record] = []
    for f in files:
        try:
            doc = yaml.safe_load(f.read_text())
        except yaml.YAMLError:
            continue
        ls = doc.get("logsource") or {} if isinstance(doc, dict) else {}
        ids = sysmon_generic_logsource_eventid_mapping.get(ls.get("category"))
        if ids is None or ls.get("product") != "windows" or "id" not in doc:
            continue
        ids = ids if isinstance(ids, list) else [ids]
        base = next((bases[i] for i in ids if i in bases), None)
        if base is None:
            continue
        smp = sample(doc, base)
        if smp is not None:
            out.append((str(doc["id"]), smp))
    return out


@dataclass
class Report:
    conversion: Conversion
    records: int = 0
    independent: set[Match] = field(default_factory=set)
    socmon: set[Match] = field(default_factory=set)
    cases: list[tuple[str, str]] = field(default_factory=list)
    samples: list[Record] = field(default_factory=list)
    sample_independent: set[str] = field(default_factory=set)
    sample_socmon: set[str] = field(default_factory=set)
    field_rules: int = 0
    field_independent: set[str] = field(default_factory=set)
    field_socmon: set[str] = field(default_factory=set)
    field_misses: list[tuple[str, str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run(datasets: Path, engine: Any = None) -> Report:
    """Everything the table needs. ``engine``: socmon's engine over the CORPUS rules (built
    when not given)."""
    sigmahq = datasets / "sigmahq"
    t0 = time.perf_counter()
    records = regression_records(sigmahq) + mordor_records(datasets)
    files = rule_files([sigmahq / d for d in CORPUS])
    conv = convert_rules(files)
    t1 = time.perf_counter()
    if engine is None:
        from socmon.rules.engine import StreamingEngine
        from socmon.rules.loader import load_rules
        from socmon.rules.metrics import UNEXPOSED

        engine = StreamingEngine.from_rules(
            load_rules([sigmahq / d for d in CORPUS]), metrics=UNEXPOSED
        )
    t2 = time.perf_counter()
    rep = Report(conv, records=len(records), cases=regression_cases(sigmahq))
    rep.independent = run_queries(build_db(records), conv.queries)
    rep.socmon = {m for m in socmon_matches(records, engine) if m[1] in conv.rules}
    rep.samples = synthesised(files, base_records(records))
    own = {k for k, _ in rep.samples}
    queries = [q for q in conv.queries if q.rule_id in own]
    rep.sample_independent = {k for k, r in run_queries(build_db(rep.samples), queries) if k == r}
    rep.sample_socmon = {k for k, r in socmon_matches(rep.samples, engine) if k == r}
    field_check(rep, records)
    rep.seconds = {
        "convert": round(t1 - t0, 1),
        "socmon_compile": round(t2 - t1, 1),
        "compare": round(time.perf_counter() - t2, 1),
    }
    return rep


def field_check(rep: Report, records: list[Record]) -> None:
    """The field differential (``field_rules``): each rule on its own record."""
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.loader import load_rules
    from socmon.rules.metrics import UNEXPOSED

    text, meta = field_rules(records)
    keys = {m[0] for m in meta.values()}
    recs = [(k, r) for k, r in records if k in keys]
    loaded = load_rules(texts=[("field rules", text)])
    engine = StreamingEngine.from_rules(loaded, metrics=UNEXPOSED)
    rep.field_rules = len(meta)
    rep.field_independent = {
        r for k, r in run_queries(build_db(recs), convert_yaml(text)) if meta[r][0] == k
    }
    rep.field_socmon = {r for k, r in socmon_matches(recs, engine) if meta[r][0] == k}
    rep.field_misses = sorted(
        (record_kind(dict(recs)[meta[r][0]])[0], *meta[r][1:])
        for r in rep.field_independent - rep.field_socmon
    )


def rows(rep: Report) -> list[dict[str, Any]]:
    cats = rep.conversion.rules
    per: dict[str, Counter[str]] = {}

    def add(cat: str, what: str, n: int = 1) -> None:
        per.setdefault(cat, Counter())[what] += n

    for cat in cats.values():
        add(cat, "rules")
    for rid, prefix in rep.cases:
        cat = cats.get(rid, "?")
        add(cat, "cases")
        if any(k.startswith(prefix) and r == rid for k, r in rep.socmon):
            add(cat, "cases_socmon")
        if any(k.startswith(prefix) and r == rid for k, r in rep.independent):
            add(cat, "cases_independent")
    for rid in rep.sample_independent:
        add(cats.get(rid, "?"), "samples")
        if rid in rep.sample_socmon:
            add(cats.get(rid, "?"), "samples_socmon")
    for rid in rep.sample_socmon - rep.sample_independent:
        add(cats.get(rid, "?"), "samples_socmon_only")
    for _, rid in rep.independent & rep.socmon:
        add(cats[rid], "both")
    for _, rid in rep.independent - rep.socmon:
        add(cats[rid], "independent_only")
    for _, rid in rep.socmon - rep.independent:
        add(cats[rid], "socmon_only")
    out = []
    for cat, c in sorted(per.items(), key=lambda x: (x[0].startswith("service:"), x[0])):
        if not any(c[k] for k in _COLUMNS[1:]):
            continue
        out.append({"category": cat, **{k: c[k] for k in _COLUMNS}})
    return out


_COLUMNS = [
    "rules",
    "cases",
    "cases_socmon",
    "cases_independent",
    "samples",
    "samples_socmon",
    "samples_socmon_only",
    "both",
    "independent_only",
    "socmon_only",
]


def table(rep: Report) -> str:
    lines = [
        "| category | SigmaHQ rules | regression samples | fire in socmon | fire in independent"
        " | synthesised samples the independent evaluation fires | socmon fires too"
        " | socmon only | pairs found by both | independent only | socmon only |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    total: Counter[str] = Counter()
    for row in rows(rep):
        total.update({k: row[k] for k in _COLUMNS})
        lines.append(f"| {row['category']} | " + " | ".join(str(row[k]) for k in _COLUMNS) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[k]}**" for k in _COLUMNS) + " |")
    return "\n".join(lines)


def summary(rep: Report) -> dict[str, Any]:
    return {
        "bench": "windows_coverage",
        "records": rep.records,
        "windows_rules": len(rep.conversion.rules),
        "queries": len(rep.conversion.queries),
        "not_convertible": len({r for r, _ in rep.conversion.failed}),
        "regression_samples": len(rep.cases),
        "pairs_both": len(rep.independent & rep.socmon),
        "pairs_independent_only": len(rep.independent - rep.socmon),
        "pairs_socmon_only": len(rep.socmon - rep.independent),
        "synthesised_samples": len(rep.samples),
        "synthesised_independent_fires": len(rep.sample_independent),
        "synthesised_socmon_fires_too": len(rep.sample_independent & rep.sample_socmon),
        "field_rules": rep.field_rules,
        "field_rules_independent_fires": len(rep.field_independent),
        "field_rules_socmon_fires_too": len(rep.field_independent & rep.field_socmon),
        "field_rules_socmon_misses": dict(Counter(f"{m[0]}: {m[1]}" for m in rep.field_misses)),
        "seconds": rep.seconds,
    }


def write_docs(text: str, path: Path = DOCS) -> None:
    doc = path.read_text()
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"{path}: no {BEGIN} marker")
    path.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=default_datasets())
    ap.add_argument("--write-docs", action="store_true", help="put the table in docs/detection.md")
    args = ap.parse_args(argv)
    rep = run(args.datasets)
    text = table(rep)
    line = orjson.dumps(summary(rep)).decode()
    print(text)
    if args.write_docs:
        write_docs(f"{text}\n\n```\n{line}\n```")
    sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
