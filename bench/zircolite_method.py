"""The method of Zircolite, as an independent Sigma evaluator for Windows event records.

Records are flattened the way Zircolite flattens them (every leaf of the record keyed by its
last path component, or by Zircolite's name for the System fields; booleans as the strings
``true``/``false``; null and empty values dropped) into one SQLite table whose columns are
``COLLATE NOCASE``; the SigmaHQ rules are converted with pySigma's SQLite backend (the backend
Zircolite is built on) and the pipelines Zircolite's published rule sets use: ``sysmon``
(pySigma's Sysmon + Windows log-source pipelines) and ``generic`` (Windows audit + log-source
pipelines, process creation from Security 4688); one query per rule and rule set. Nothing of
socmon's mapping or matcher is used.

Small API (``bench/hunt.py`` and ``tests/rules/test_zircolite_compare.py`` use it)::

    records = list(evtx_records(path)) + list(jsonl_records(path))  # (key, record dict)
    db = build_db(records)                                          # sqlite3.Connection
    queries = convert_rules(rule_files)                             # Conversion
    matches = run_queries(db, queries.queries)                      # {(record key, rule id)}

``socmon_matches(records, engine)`` gives socmon's own set for the same records (the
collectors' Windows parser, then the streaming engine), to compare with.

Run as a script (bench/hunt.py's baseline, a process of its own) it converts the rules listed
in RULES_LIST_FILE (one path per line), loads the INPUT files (EVTX, JSON lines) and prints
one JSON document: the (file, record id, rule id) matches and the time of each phase. A
record id is the EVTX record's ``EventRecordID`` or a JSON line's ``RecordNumber`` (else its
line index from 0), what ``socmon hunt`` reports as ``record_id``::

    python -m bench.zircolite_method RULES_LIST_FILE INPUT...
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

Record = tuple[str, dict[str, Any]]
Match = tuple[str, str]  # (record key, rule id)

# Zircolite's names for paths whose last component is ambiguous (config/fieldMappings).
_PATHS = {
    "Event.System.Provider.#attributes.Name": "Provider_Name",
    "Event.System.Provider.#attributes.Guid": "Guid",
    "Event.System.Provider.#attributes.EventSourceName": "EventSourceName",
    "Event.System.EventID.#text": "EventID",
    "Event.System.EventID.#attributes.Qualifiers": "Qualifiers",
    "Event.System.Execution.#attributes.ProcessID": "ProcessID",
    "Event.System.Execution.#attributes.ThreadID": "ThreadID",
    "Event.System.Correlation.#attributes.ActivityID": "ActivityID",
    "Event.System.Security.#attributes.UserID": "UserID",
    "Event.System.TimeCreated.#attributes.SystemTime": "SystemTime",
}
RULESETS = ("sysmon", "generic")
# The categories windows_audit_pipeline routes (to Security 4688/4657). For any other category
# it adds no EventID condition, so a "generic" query would run over every record (a
# raw_access_thread rule then matches hundreds of records of other kinds); those rules are
# left to the "sysmon" rule set, as are services (both rule sets route them alike).
AUDIT_CATEGORIES = frozenset(("process_creation", "registry_event", "registry_set", "registry_add"))


def _key(path: str, last: str) -> str:
    mapped = _PATHS.get(path)
    if mapped:
        return mapped
    return "".join(c for c in last if c.isalnum() or c == "_")


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One record (an ``evtx`` JSON record or a flat JSON line) -> {column: value}."""
    out: dict[str, Any] = {}
    stack: list[tuple[dict[str, Any], str]] = [(record, "")]
    while stack:
        node, prefix = stack.pop()
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                stack.append((v, path))
                continue
            if "xmlns" in path:
                continue
            if isinstance(v, list):
                v = str(v)
            elif v is True or v is False:
                v = "true" if v else "false"
            if v is None or v == "":
                continue
            key = _key(path, k)
            if key:
                out[key] = v
    return out


def evtx_records(path: Path, root: Path | None = None) -> Iterator[Record]:
    """The records of an EVTX file (``evtx`` package), keyed ``<path>#<n>`` (n from 0)."""
    import evtx

    name = str(path.relative_to(root)) if root else str(path)
    for n, rec in enumerate(evtx.PyEvtxParser(str(path)).records_json()):
        yield f"{name}#{n}", orjson.loads(rec["data"])


def jsonl_records(path: Path, root: Path | None = None) -> Iterator[Record]:
    """The JSON lines of a file, or of each member of a ``.zip``, keyed
    ``<path>[/<member>]:<line number>`` (from 1)."""
    name = str(path.relative_to(root)) if root else str(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for member in sorted(z.namelist()):
                if not member.endswith("/"):
                    yield from _lines(f"{name}/{member}", z.read(member).splitlines())
        return
    yield from _lines(name, path.read_bytes().splitlines())


def _lines(name: str, lines: Iterable[bytes]) -> Iterator[Record]:
    for n, line in enumerate(lines, 1):
        if line.strip():
            yield f"{name}:{n}", orjson.loads(line)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    return re.search(pattern, str(value)) is not None


def _scalar(v: Any) -> Any:
    return v if isinstance(v, int | float | str) else str(v)


def build_db(records: Iterable[Record]) -> sqlite3.Connection:
    """An in-memory ``logs`` table, one row per record, ``_key`` holding its key."""
    rows = [(key, flatten(rec)) for key, rec in records]
    columns: dict[str, str] = {}  # lower-case name -> (first spelling, type)
    types: dict[str, str] = {}
    for _, flat in rows:
        for k, v in flat.items():
            low = k.lower()
            if low not in columns and low != "_key":
                columns[low] = k
                types[low] = "INTEGER" if isinstance(v, int) else "TEXT"
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, _regexp, deterministic=True)
    cols = ", ".join(f"{_quote(columns[c])} {types[c]} COLLATE NOCASE" for c in columns)
    db.execute(f"CREATE TABLE logs (_key TEXT PRIMARY KEY{', ' + cols if cols else ''})")
    for key, flat in rows:
        seen = {}
        for k, v in flat.items():
            seen.setdefault(k.lower(), v)
        names = [c for c in seen if c in columns]
        db.execute(
            f"INSERT INTO logs (_key{''.join(', ' + _quote(columns[c]) for c in names)}) "
            f"VALUES (?{', ?' * len(names)})",
            [
                key,
                *(
                    v if isinstance(v, int | float | str) else str(v)
                    for v in (seen[c] for c in names)
                ),
            ],
        )
    db.commit()
    return db


@dataclass(frozen=True)
class RuleQuery:
    rule_id: str
    title: str
    category: str  # the rule's logsource category, else its service
    ruleset: str
    sql: str
    fields: tuple[str, ...]


@dataclass
class Conversion:
    queries: list[RuleQuery] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, ruleset) -> why
    rules: dict[str, str] = field(default_factory=dict)  # windows rule id -> category


def ruleset_pipeline(ruleset: str) -> Any:
    """The pipelines of one of Zircolite's rule sets (``RULESETS``)."""
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_audit_pipeline, windows_logsource_pipeline

    if ruleset == "sysmon":
        return sysmon_pipeline() + windows_logsource_pipeline()
    return windows_audit_pipeline() + windows_logsource_pipeline()


def rule_files(dirs: Sequence[Path]) -> list[Path]:
    """The Windows rule files (``product: windows``) under the directories."""
    out = []
    for d in dirs:
        for p in sorted(d.rglob("*.yml")):
            text = p.read_text(errors="replace")
            if re.search(r"^\s+product:\s*windows\s*$", text, re.M):
                out.append(p)
    return out


Kind = tuple[str, int]  # (channel, lower-case; event id)


def record_kind(record: dict[str, Any]) -> Kind:
    flat = flatten(record)
    try:
        eid = int(flat.get("EventID", -1))
    except (TypeError, ValueError):
        eid = -1
    return str(flat.get("Channel", "")).lower(), eid


def _may_route(logsource: Any, ruleset: str, kinds: set[Kind]) -> bool:
    """Whether the rule set's pipelines route the rule to one of ``kinds`` (Zircolite skips
    the others by their channel and event ids alike); an unknown category: yes."""
    from sigma.pipelines.common import windows_logsource_mapping
    from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping

    channels = {ch for ch, _ in kinds}
    if logsource.category is None:
        chans = windows_logsource_mapping.get(logsource.service)
        if chans is None:
            return True
        chans = [chans] if isinstance(chans, str) else chans
        return any(c.lower() in channels for c in chans)
    if ruleset == "generic":
        ids = {4688} if logsource.category == "process_creation" else {4657}
        return any((("security", i) in kinds) for i in ids)
    eids = sysmon_generic_logsource_eventid_mapping.get(logsource.category)
    if eids is None:
        return True
    eids = eids if isinstance(eids, list) else [eids]
    return any(("microsoft-windows-sysmon/operational", i) in kinds for i in eids)


def convert_rules(
    files: Sequence[Path], rulesets: Sequence[str] = RULESETS, kinds: set[Kind] | None = None
) -> Conversion:
    """Each Windows rule converted with each rule set's pipelines (a rule's conversion
    changes it in place, so each rule set loads the files again). ``kinds``: convert only the
    rules routed to one of these record kinds (``record_kind``)."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    out = Conversion()
    for ruleset in rulesets:
        backend = sqliteBackend(ruleset_pipeline(ruleset))
        coll = SigmaCollection.load_ruleset(list(files), collect_errors=True)
        for rule in coll:
            if not isinstance(rule, SigmaRule) or rule.logsource.product != "windows":
                continue
            rid = str(rule.id or rule.title)
            cat = rule.logsource.category or f"service:{rule.logsource.service}"
            out.rules[rid] = cat
            if ruleset == "generic" and rule.logsource.category not in AUDIT_CATEGORIES:
                continue
            if kinds is not None and not _may_route(rule.logsource, ruleset, kinds):
                continue
            if rule.errors:
                out.failed[(rid, ruleset)] = str(rule.errors[0])
                continue
            try:
                conv = backend.convert_rule(rule, "zircolite")
            except Exception as e:  # the backend's refusal is a result, not a crash
                out.failed[(rid, ruleset)] = f"{type(e).__name__}: {e}"[:300]
                continue
            for q in conv:
                for sql in q["rule"]:
                    out.queries.append(
                        RuleQuery(rid, rule.title, cat, ruleset, sql, tuple(q["required_fields"]))
                    )
    return out


def convert_yaml(text: str, ruleset: str = "sysmon") -> list[RuleQuery]:
    """Rules given as YAML text (``---``-separated), converted with one rule set."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    backend = sqliteBackend(ruleset_pipeline(ruleset))
    out = []
    for rule in SigmaCollection.from_yaml(text).rules:
        cat = rule.logsource.category or f"service:{rule.logsource.service}"
        for q in backend.convert_rule(rule, "zircolite"):
            out += [
                RuleQuery(str(rule.id), rule.title, cat, ruleset, sql, tuple(q["required_fields"]))
                for sql in q["rule"]
            ]
    return out


def run_queries(db: sqlite3.Connection, queries: Iterable[RuleQuery]) -> set[Match]:
    """Every (record key, rule id) a query returns. A field no record has is NULL."""
    have = {r[1].lower() for r in db.execute("PRAGMA table_info(logs)")}
    out: set[Match] = set()
    for q in queries:
        for f in q.fields:
            if f.lower() not in have:
                db.execute(f"ALTER TABLE logs ADD COLUMN {_quote(f)} TEXT COLLATE NOCASE")
                have.add(f.lower())
        sql = q.sql.replace("SELECT * FROM logs", "SELECT _key FROM logs", 1)
        for (key,) in db.execute(sql):
            out.add((key, q.rule_id))
    return out


def socmon_event(record: dict[str, Any]) -> dict[str, Any]:
    """A record through the collectors' Windows parser (EVTX JSON or a flat line)."""
    from socmon.collectors.parsers.windows import WindowsRecordParser

    parser = WindowsRecordParser()
    if isinstance(record.get("Event"), dict):
        return parser.from_record(record)
    return parser.flat(record, None)


def socmon_matches(records: Iterable[Record], engine: Any) -> set[Match]:
    """socmon's own (record key, rule id) set: parser, then ``engine.match_rules``."""
    out: set[Match] = set()
    for key, rec in records:
        for r in engine.match_rules(socmon_event(rec)):
            out.add((key, r.rule_id))
    return out


def _file_record(key: str, rec: dict[str, Any]) -> str:
    """``<file>\t<record id>`` of a record yielded by ``evtx_records``/``jsonl_records``."""
    system = rec.get("Event", {}).get("System") if isinstance(rec.get("Event"), dict) else None
    if isinstance(system, dict):
        return f"{key.rsplit('#', 1)[0]}\t{system.get('EventRecordID')}"
    name, line = key.rsplit(":", 1)
    return f"{name}\t{rec.get('RecordNumber', int(line) - 1)}"


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    files = [Path(x) for x in Path(argv[0]).read_text().split("\n") if x]
    conv = convert_rules(files)
    t1 = time.perf_counter()
    records: list[Record] = []
    for p in (Path(a) for a in argv[1:]):
        records += evtx_records(p) if p.suffix.lower() == ".evtx" else jsonl_records(p)
    # a match is reported as (file, record id); record ids need not be unique in a file
    reported = {k: _file_record(k, r) for k, r in records}
    db = build_db(records)
    t2 = time.perf_counter()
    matches = run_queries(db, conv.queries)
    t3 = time.perf_counter()
    converted = {q.rule_id for q in conv.queries}
    doc = {
        "rules_converted": len(converted),
        "rules_not_converted": len({rid for rid, _ in conv.failed} - converted),
        "queries_refused": 0,  # run_queries adds the columns no record has: NULL, no match
        "records": len(records),
        "convert_s": round(t1 - t0, 3),
        "load_s": round(t2 - t1, 3),
        "query_s": round(t3 - t2, 3),
        "converted": sorted(converted),
        "not_converted": {f"{rid} ({rs})": why for (rid, rs), why in conv.failed.items()},
        "matches": sorted({(*reported[key].split("\t", 1), rid) for key, rid in matches}),
    }
    sys.stdout.buffer.write(orjson.dumps(doc))


if __name__ == "__main__":
    main(sys.argv[1:])
