"""The method of Zircolite, as the baseline of bench/hunt.py: Sigma rules converted to SQL
by pySigma's sqlite backend (``pySigma-backend-sqlite``, Zircolite's own backend), the
events flattened into one in-memory SQLite table ``logs`` (every column ``TEXT COLLATE
NOCASE``, as Zircolite builds it), one query per rule.

Rules: pySigma's ``sysmon`` and ``windows-logsources`` pipelines (what Zircolite's Sysmon
rule set is converted with: logsource -> ``Channel``/``EventID`` conditions, field names
left as Windows names). Events:

- EVTX records (read with the ``evtx`` package, the library of ``evtx_dump`` that Zircolite
  runs) flattened as Zircolite does: ``Event.EventData.X`` -> ``X``, ``Event.System.X`` ->
  ``X``, attributes joined to their element (``Provider_Name``), ``UserData`` items by name;
- JSON lines (the mordor NXLog exports): already flat, keys as they are.

Each row also holds ``_file`` and ``_record`` (the record id): what a match is reported as.
Rules that reference a column no event has get SQLite's "no such column": no match, as in
Zircolite. Run as a script it prints one JSON document: matches and timings.

    python -m bench.zircolite_method RULES_LIST_FILE INPUT...
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

_SELECT = re.compile(r"^SELECT \* FROM (\S+) WHERE ", re.I)


def convert(rule_files: Iterable[Path]) -> tuple[dict[str, str], dict[str, str]]:
    """(rule id -> SQL ``WHERE`` query, rule id -> why it was not converted)."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_logsource_pipeline

    backend = sqliteBackend(sysmon_pipeline() + windows_logsource_pipeline())
    queries: dict[str, str] = {}
    failed: dict[str, str] = {}
    for f in rule_files:
        text = f.read_text(encoding="utf-8")
        try:
            coll = SigmaCollection.from_yaml(text)
        except Exception as e:
            failed[str(f)] = f"{type(e).__name__}: {e}"
            continue
        for rule in coll.rules:
            rid = str(rule.id) if rule.id is not None else (rule.title or str(f))
            try:
                out = backend.convert_rule(rule)
            except Exception as e:  # the backend's own errors: reported, not fatal
                failed[rid] = f"{type(e).__name__}: {e}"
                continue
            if len(out) != 1 or not isinstance(out[0], str):
                failed[rid] = f"{len(out)} queries"
                continue
            queries[rid] = _SELECT.sub("SELECT _file, _record FROM logs WHERE ", out[0], count=1)
    return queries, failed


def _flatten_evtx(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(x: Any, name: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "#attributes":
                    walk(v, name)
                elif k == "#text":
                    out[name] = v
                else:
                    walk(v, f"{name}_{k}" if name else k)
        elif isinstance(x, list):
            out[name] = " ".join(str(v) for v in x)
        elif x is not None:
            out[name] = x

    ev = doc.get("Event", doc)
    system = ev.get("System") or {}
    walk(system, "")
    for part in ("EventData", "UserData"):
        data = ev.get(part)
        if isinstance(data, dict):
            if part == "UserData" and len(data) == 1:  # one element holding the items
                data = next(iter(data.values()))
            if isinstance(data, dict):
                for k, v in data.items():
                    if k != "#attributes":
                        walk(v, k)
    out.pop("xmlns", None)
    return out


def records(path: Path) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(file, record id, flat record) of an EVTX or JSON-lines file."""
    if path.suffix.lower() == ".evtx":
        from evtx import PyEvtxParser

        for r in PyEvtxParser(str(path)).records_json():
            flat = _flatten_evtx(orjson.loads(r["data"]))
            # the record's EventRecordID (what socmon reports as winlog.record_id; the
            # record header's number may differ in the synthesised copies)
            yield str(path), flat.get("EventRecordID", r["event_record_id"]), flat
    else:
        with path.open("rb") as f:
            for n, line in enumerate(f):
                if line.strip():
                    flat = orjson.loads(line)
                    yield str(path), flat.get("RecordNumber", n), flat


def load(paths: Iterable[Path]) -> tuple[sqlite3.Connection, int]:
    """The ``logs`` table of every record of ``paths`` (in memory), and the record count."""
    rows: list[dict[str, Any]] = []
    # SQLite's column names ignore case: "ProcessId" (Sysmon) and "ProcessID" (NXLog) are
    # one column, named as first seen; a record holding both keeps its first value
    columns: dict[str, str] = {"_file": "_file", "_record": "_record"}
    for p in paths:
        for f, rid, flat in records(p):
            row: dict[str, Any] = {}
            for k, v in flat.items():
                col = columns.setdefault(k.lower(), k)
                if col not in row and col not in ("_file", "_record"):
                    row[col] = v
            row["_file"], row["_record"] = f, rid
            rows.append(row)
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, _regexp, deterministic=True)
    cols = list(columns.values())
    quoted = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in cols)
    db.execute(f"CREATE TABLE logs ({quoted})")
    marks = ", ".join("?" for _ in cols)
    db.executemany(
        f"INSERT INTO logs VALUES ({marks})",
        ([_cell(r.get(c)) for c in cols] for r in rows),
    )
    db.commit()
    return db, len(rows)


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float):
        return v
    return orjson.dumps(v).decode()


_RX: dict[str, re.Pattern[str]] = {}


def _regexp(pattern: str, value: Any) -> int:
    """Zircolite's REGEXP: Python ``re.search``."""
    if value is None:
        return 0
    rx = _RX.get(pattern)
    if rx is None:
        rx = _RX[pattern] = re.compile(pattern)
    return 1 if rx.search(str(value)) else 0


def run(queries: dict[str, str], db: sqlite3.Connection) -> tuple[set[tuple[str, str, str]], int]:
    """(file, record, rule id) of every match, and how many queries SQLite refused."""
    out: set[tuple[str, str, str]] = set()
    refused = 0
    for rid, sql in queries.items():
        try:
            for f, rec in db.execute(sql):
                out.add((f, str(rec), rid))
        except sqlite3.Error:  # e.g. no such column: no event has the field
            refused += 1
    return out, refused


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    rule_files = [Path(x) for x in Path(argv[0]).read_text().split("\n") if x]
    queries, failed = convert(rule_files)
    t1 = time.perf_counter()
    db, n = load(Path(p) for p in argv[1:])
    t2 = time.perf_counter()
    matches, refused = run(queries, db)
    t3 = time.perf_counter()
    doc = {
        "rules_converted": len(queries),
        "rules_not_converted": len(failed),
        "queries_refused": refused,
        "records": n,
        "convert_s": round(t1 - t0, 3),
        "load_s": round(t2 - t1, 3),
        "query_s": round(t3 - t2, 3),
        "converted": sorted(queries),
        "not_converted": failed,
        "matches": sorted(matches),
    }
    sys.stdout.buffer.write(orjson.dumps(doc))


if __name__ == "__main__":
    main(sys.argv[1:])
