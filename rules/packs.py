"""Rule packs: a SigmaHQ checkout, a release zip or a folder of rules, imported into the rule
store (``socmon rules import`` / ``socmon rules update``).

A pack is read whole (files of a zip are read in memory, never extracted), each file checked
(one YAML document with an ``id``, not a duplicate; unless the store holds the same text,
loaded by pySigma and compiled by the streaming engine as ``socmon run`` would), filtered
(status, level, product, category), then stored in bulk (``rules.store.import_rules``) and
audited. Every rule read is counted once in the report: imported, updated, unchanged,
filtered (why), skipped (file, id, why), conflict (changed in socmon) or error (not written).
"""

from __future__ import annotations

import getpass
import io
import logging
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from elasticsearch import Elasticsearch, helpers

from socmon.audit import audit_document
from socmon.indices import IndexNames
from socmon.rules.loader import RULE_SUFFIXES, YAML_LOADER, LoadedRules, finish, load_text
from socmon.rules.metrics import UNEXPOSED

log = logging.getLogger(__name__)


# statuses left out unless asked for with --status (SigmaHQ's own packages leave them out too)
EXCLUDED_STATUSES = ("deprecated", "unsupported")
# top-level folders of a SigmaHQ checkout or release zip that hold rules
CHECKOUT_FOLDERS = ("rules", "deprecated", "unsupported")
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_PACK_BYTES = 512 * 1024 * 1024
IMPORT_ACTOR = "import"


class PackError(Exception):
    """The pack as a whole cannot be read (not a folder or zip, too large, unreachable)."""


@dataclass(frozen=True, slots=True)
class PackFile:
    path: str  # relative to the pack, with '/'
    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    rule_id: str | None
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class PackFilter:
    """Repeatable filters: a rule passes when each given filter has its value."""

    status: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    category: tuple[str, ...] = ()

    def reason(self, doc: dict[str, Any]) -> str | None:
        """Why the rule is filtered out (None: it is imported)."""
        raw_ls = doc.get("logsource")
        ls: dict[str, Any] = raw_ls if isinstance(raw_ls, dict) else {}
        status = str(doc.get("status") or "")
        if self.status and status not in self.status:
            return f"status {status or '(none)'} not selected"
        if not self.status and status in EXCLUDED_STATUSES:
            return f"status {status} (select it with --status)"
        for name, allowed, value in (
            ("level", self.level, doc.get("level")),
            ("product", self.product, ls.get("product")),
            ("category", self.category, ls.get("category")),
        ):
            if allowed and str(value or "") not in allowed:
                return f"{name} {value or '(none)'} not selected"
        return None


@dataclass
class PackReport:
    source: str
    files: int = 0
    imported: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    filtered: Counter[str] = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    product_of: dict[str, str] = field(default_factory=dict)  # rule id -> product
    seconds: dict[str, float] = field(default_factory=dict)

    def by_product(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for outcome, ids in (
            ("imported", self.imported),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("conflicts", [c[0] for c in self.conflicts]),
            ("errors", [e[0] for e in self.errors]),
        ):
            for rid in ids:
                out.setdefault(self.product_of.get(rid, "-"), Counter())[outcome] += 1
        for s in self.skipped:
            prod = self.product_of.get(s.rule_id or "", "-")
            out.setdefault(prod, Counter())["skipped"] += 1
        return {p: dict(c) for p, c in sorted(out.items())}

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "imported": len(self.imported),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "filtered": sum(self.filtered.values()),
            "skipped": len(self.skipped),
            "conflicts": len(self.conflicts),
            "errors": len(self.errors),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "by_product": self.by_product(),
            "filtered_by_reason": dict(self.filtered.most_common()),
            "skipped_by_kind": dict(Counter(s.kind for s in self.skipped).most_common()),
            "skipped": [
                {"path": s.path, "rule_id": s.rule_id, "kind": s.kind, "reason": s.reason}
                for s in self.skipped
            ],
            "conflicts": [{"rule_id": r, "reason": why} for r, why in self.conflicts],
            "errors": [{"rule_id": r, "reason": why} for r, why in self.errors],
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------- reading a pack


def _decode(path: str, data: bytes, skipped: list[Skipped]) -> PackFile | None:
    if len(data) > MAX_FILE_BYTES:
        skipped.append(Skipped(path, None, "io", f"file larger than {MAX_FILE_BYTES} bytes"))
        return None
    try:
        return PackFile(path, data.decode("utf-8"))
    except UnicodeDecodeError as e:
        skipped.append(Skipped(path, None, "io", f"not UTF-8: {e}"))
        return None


def _zip_files(data: bytes, skipped: list[Skipped]) -> list[PackFile]:
    out: list[PackFile] = []
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(RULE_SUFFIXES):
                continue
            total += info.file_size
            if total > MAX_PACK_BYTES:
                raise PackError(f"the zip holds more than {MAX_PACK_BYTES} bytes of rules")
            if info.file_size > MAX_FILE_BYTES:
                reason = f"file larger than {MAX_FILE_BYTES} bytes"
                skipped.append(Skipped(info.filename, None, "io", reason))
                continue
            try:
                raw = zf.read(info)
            except (zipfile.BadZipFile, OSError, NotImplementedError) as e:
                skipped.append(Skipped(info.filename, None, "io", f"cannot read: {e}"))
                continue
            f = _decode(info.filename, raw, skipped)
            if f is not None:
                out.append(f)
    return out


def _dir_files(root: Path, skipped: list[Skipped]) -> list[PackFile]:
    out: list[PackFile] = []
    for p in sorted(root.rglob("*")):
        if p.suffix not in RULE_SUFFIXES or not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        try:
            f = _decode(rel, p.read_bytes(), skipped)
        except OSError as e:
            skipped.append(Skipped(rel, None, "io", f"cannot read: {e}"))
            continue
        if f is not None:
            out.append(f)
    return out


def _rule_files(files: list[PackFile]) -> list[PackFile]:
    """Only the rule folders of a SigmaHQ checkout or release (``rules*``, ``deprecated``,
    ``unsupported``; not tests, workflows or regression data), under one common top folder
    if there is one (``sigma-master/``); any other folder is read whole."""
    parts = [PurePosixPath(f.path).parts for f in files]
    tops = {p[0] for p in parts if len(p) > 1}
    strip = 0
    if len(tops) == 1 and all(len(p) > 1 for p in parts):
        (top,) = tops
        if not top.startswith(CHECKOUT_FOLDERS):
            strip = 1
    heads = {p[strip] for p in parts if len(p) > strip + 1}
    if "rules" not in heads:
        return files
    return [
        f
        for f, p in zip(files, parts, strict=True)
        if len(p) > strip + 1 and p[strip].startswith(CHECKOUT_FOLDERS)
    ]


def read_pack(path: Path, skipped: list[Skipped]) -> list[PackFile]:
    """The rule files of a folder or a zip file (unreadable ones added to ``skipped``)."""
    if path.is_dir():
        return _rule_files(_dir_files(path, skipped))
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            return _rule_files(_zip_files(path.read_bytes(), skipped))
        except zipfile.BadZipFile as e:
            raise PackError(f"{path}: not a readable zip: {e}") from None
    if path.is_file() and path.suffix in RULE_SUFFIXES:
        f = _decode(path.name, path.read_bytes(), skipped)
        return [f] if f else []
    raise PackError(f"{path}: not a folder, a zip file or a rule file")


# ---------------------------------------------------------------- checking rules


def _one_document(f: PackFile, filt: PackFilter, report: PackReport) -> dict[str, Any] | None:
    """The file's one rule document; a file of several documents (a Sigma collection) is
    filtered when its first document (the collection's common part) is filtered, otherwise
    skipped."""
    try:
        docs = [d for d in yaml.load_all(f.text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError as e:
        report.skipped.append(Skipped(f.path, None, "yaml", f"invalid YAML: {e}"))
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        why = filt.reason(docs[0]) if len(docs) > 1 and isinstance(docs[0], dict) else None
        if why:
            report.filtered[why] += 1
            return None
        what = "not one YAML mapping" if len(docs) <= 1 else f"{len(docs)} YAML documents"
        reason = f"{what}: a pack rule is one document per file"
        report.skipped.append(Skipped(f.path, None, "collection", reason))
        return None
    doc: dict[str, Any] = docs[0]
    return doc


def select_rules(
    files: list[PackFile], filt: PackFilter, report: PackReport
) -> dict[str, PackFile]:
    """Rule id -> file of the rules to consider: one YAML mapping per file, with an id, not
    filtered out, not a duplicate. Everything else is counted in ``report``."""
    out: dict[str, PackFile] = {}
    for f in files:
        doc = _one_document(f, filt, report)
        if doc is None:
            continue
        raw_id = doc.get("id")
        rid = str(raw_id) if raw_id else None
        ls = doc.get("logsource")
        product = str(ls.get("product") or "-") if isinstance(ls, dict) else "-"
        if rid:
            report.product_of.setdefault(rid, product)
        why = filt.reason(doc)
        if why:
            report.filtered[why] += 1
        elif rid is None:
            report.skipped.append(Skipped(f.path, None, "no-id", "the rule has no id"))
        elif rid in out:
            reason = f"duplicate id (first in {out[rid].path})"
            report.skipped.append(Skipped(f.path, rid, "duplicate", reason))
        else:
            out[rid] = f
    return out


def check_rules(
    rules: dict[str, PackFile],
    report: PackReport,
    placeholders: dict[str, list[str]] | None = None,
) -> dict[str, PackFile]:
    """The rules that pySigma loads and the streaming engine compiles (as ``socmon run``
    would); the others are added to ``report.skipped`` with each problem."""
    from socmon.rules.engine import StreamingEngine

    good: dict[str, PackFile] = {}
    loaded = LoadedRules()
    for rid, f in rules.items():
        part = load_text(f.text, f.path, problems=UNEXPOSED.problems)
        fatal = [p for p in part.problems if p.fatal]
        for p in fatal:
            report.skipped.append(Skipped(f.path, rid, p.kind, p.reason))
        if fatal:
            continue
        if part.correlations or part.filters:
            kind = "correlation" if part.correlations else "filter"
            reason = f"a {kind} rule: packs import detection rules only"
            report.skipped.append(Skipped(f.path, rid, kind, reason))
            continue
        good[rid] = f
        loaded.extend(part)
    engine = StreamingEngine.from_rules(finish(loaded), placeholders, metrics=UNEXPOSED)
    bad: set[str] = set()
    for p in engine.problems:
        if p.fatal and p.rule_id in good:
            bad.add(p.rule_id)
            report.skipped.append(Skipped(good[p.rule_id].path, p.rule_id, p.kind, p.reason))
    return {rid: f for rid, f in good.items() if rid not in bad}


# ---------------------------------------------------------------- importing


def _audit(
    client: Elasticsearch,
    names: IndexNames,
    changes: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any]]],
    report: PackReport,
) -> None:
    """One audit document per created/updated rule (action ``rule.import``) and one for the
    import itself (``rules.import``, the report's summary), like the API's rule changes."""
    key = f"cli:{getpass.getuser()}"

    def doc(action: str, otype: str, oid: str, before: Any, after: Any) -> dict[str, Any]:
        return audit_document(IMPORT_ACTOR, "admin", key, action, otype, oid, before, after)

    actions = [
        {
            "_index": names.audit,
            "_id": uuid.uuid4().hex,
            "_source": doc("rule.import", "rule", rid, before, after),
        }
        for rid, before, after in changes
    ]
    summary = {**report.summary(), "by_product": report.by_product()}
    actions.append(
        {
            "_index": names.audit,
            "_id": uuid.uuid4().hex,
            "_source": doc("rules.import", "rule_pack", report.source, None, summary),
        }
    )
    # the audit must not be partial: a failure raises (the rules are stored, the command fails)
    helpers.bulk(client, actions, chunk_size=500, max_retries=3)


def import_pack(
    client: Elasticsearch,
    names: IndexNames,
    path: Path,
    filt: PackFilter,
    source: str | None = None,
    enable_new: bool = False,
    overwrite: bool = False,
    placeholders: dict[str, list[str]] | None = None,
) -> PackReport:
    """Read, check, store and audit the pack at ``path`` (``source``: how to name it)."""
    from socmon.rules.store import Incoming, current_docs, import_rules

    report = PackReport(source or str(path))
    t0 = time.perf_counter()
    files = read_pack(path, report.skipped)
    report.files = len(files) + len(report.skipped)
    t1 = time.perf_counter()
    selected = select_rules(files, filt, report)
    current = current_docs(client, names, list(selected))
    # a rule the store holds with the same text was checked when it was stored
    same = {rid for rid, f in selected.items() if current.get(rid, {}).get("yaml") == f.text}
    ok = check_rules({r: f for r, f in selected.items() if r not in same}, report, placeholders)
    t2 = time.perf_counter()
    result = import_rules(
        client,
        names,
        [
            Incoming(rid, f.text, report.source, f.path)
            for rid, f in selected.items()
            if rid in same or rid in ok
        ],
        actor=IMPORT_ACTOR,
        enable_new=enable_new,
        overwrite=overwrite,
        current=current,
    )
    report.imported, report.updated = result.created, result.updated
    report.unchanged, report.conflicts, report.errors = (
        result.unchanged,
        result.conflicts,
        result.errors,
    )
    t3 = time.perf_counter()
    _audit(client, names, result.changes, report)
    t4 = time.perf_counter()
    report.seconds = {
        "read": round(t1 - t0, 3),
        "check": round(t2 - t1, 3),
        "store": round(t3 - t2, 3),
        "audit": round(t4 - t3, 3),
    }
    log.info("rule pack imported", extra={"summary": report.summary()})
    return report


def fetch(url: str, dest: Path, max_bytes: int = MAX_PACK_BYTES, timeout: float = 60.0) -> int:
    """Download ``url`` (HTTP or HTTPS, redirects followed, TLS verified) to ``dest``;
    the number of bytes. Raises ``PackError`` with the reason."""
    import httpx

    if not url.startswith(("http://", "https://")):
        raise PackError(f"{url}: only http:// and https:// URLs are fetched")
    n = 0
    try:
        with (
            httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as resp,
            dest.open("wb") as out,
        ):
            if resp.status_code != 200:
                raise PackError(f"{url}: HTTP {resp.status_code}")
            for chunk in resp.iter_bytes():
                n += len(chunk)
                if n > max_bytes:
                    raise PackError(f"{url}: larger than {max_bytes} bytes")
                out.write(chunk)
    except httpx.HTTPError as e:
        raise PackError(f"{url}: {type(e).__name__}: {e}") from None
    return n
