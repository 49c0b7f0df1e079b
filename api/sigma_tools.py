"""Sigma rules for the API: validation with line and field, conversion to Elasticsearch.

Validation parses with pySigma and then converts with the Elasticsearch (Lucene) backend
through socmon's field-mapping pipeline, so that condition errors, bad modifiers and values
the backend cannot express are all reported before a rule is stored. Each problem names the
line (1-based) and, where it can be told, the field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml
from sigma.backends.elasticsearch import LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from socmon.rules.pipelines import socmon_pipeline

_QUOTED = re.compile(r"'([^']+)'")
_KEY = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)(\|[A-Za-z0-9_|]+)?\s*:")


@dataclass
class Checked:
    rule_id: str | None
    yaml: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    rule: SigmaRule | None = None
    lucene: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _backend() -> LuceneBackend:
    return LuceneBackend(processing_pipeline=socmon_pipeline())


def _locate(text: str, message: str) -> tuple[int | None, str | None]:
    """The line and field a pySigma message points at, found by the token it quotes."""
    lines = text.splitlines()
    for token in _QUOTED.findall(message):
        for i, line in enumerate(lines, 1):
            if token in line:
                m = _KEY.match(line)
                return i, (m.group(1) if m else None)
    # a field name without quotes, e.g. "... field foo ..."
    for i, line in enumerate(lines, 1):
        m = _KEY.match(line)
        if (
            m
            and re.search(rf"\b{re.escape(m.group(1))}\b", message)
            and m.group(1)
            not in (
                "detection",
                "condition",
                "title",
                "logsource",
            )
        ):
            return i, m.group(1)
    if "condition" in message.lower():
        for i, line in enumerate(lines, 1):
            if line.strip().startswith("condition"):
                return i, "condition"
    return None, None


def _problem(text: str, message: str, kind: str) -> dict[str, Any]:
    line, fld = _locate(text, message)
    return {"loc": ["body", "yaml"], "msg": message, "type": kind, "line": line, "field": fld}


def yaml_id(text: str) -> str | None:
    """The rule's ``id`` from its YAML (None when absent or unreadable)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(doc, dict) and doc.get("id"):
        return str(doc["id"])
    return None


def ensure_id(text: str) -> tuple[str, str]:
    """(rule id, yaml): a YAML without ``id`` gets a fresh UUID as its first line."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict) and doc.get("id"):
        return str(doc["id"]), text
    rid = str(uuid.uuid4())
    return rid, f"id: {rid}\n{text}"


def check(text: str) -> Checked:
    """Validate one Sigma rule (YAML text); never raises on bad input."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return Checked(
            None,
            text,
            [
                {
                    "loc": ["body", "yaml"],
                    "msg": f"YAML: {e}",
                    "type": "yaml",
                    "line": line,
                    "field": None,
                }
            ],
        )
    if not isinstance(doc, dict):
        return Checked(
            None,
            text,
            [
                {
                    "loc": ["body", "yaml"],
                    "msg": "a Sigma rule is a YAML mapping",
                    "type": "yaml",
                    "line": 1,
                    "field": None,
                }
            ],
        )
    if "correlation" in doc:
        return Checked(
            str(doc.get("id") or "") or None,
            text,
            [
                _problem(
                    text,
                    "correlation rules are managed as files (rules/sigma), not through the API",
                    "unsupported",
                )
            ],
        )
    rid = str(doc["id"]) if doc.get("id") else None
    try:
        coll = SigmaCollection.from_yaml(text, collect_errors=True)
    except SigmaError as e:
        return Checked(rid, text, [_problem(text, str(e), type(e).__name__)])
    except Exception as e:
        return Checked(rid, text, [_problem(text, str(e), type(e).__name__)])
    out = Checked(rid, text)
    errors = [err for r in coll.rules for err in r.errors] + list(coll.errors)
    seen: set[str] = set()
    for err in errors:
        if str(err) in seen:
            continue
        seen.add(str(err))
        out.problems.append(_problem(text, str(err), type(err).__name__))
    if out.problems:
        return out
    if len(coll.rules) != 1 or not isinstance(coll.rules[0], SigmaRule):
        out.problems.append(_problem(text, "exactly one Sigma detection rule is expected", "count"))
        return out
    out.rule = coll.rules[0]
    try:
        queries = _backend().convert_rule(coll.rules[0])
        out.lucene = str(queries[0]) if queries else None
    except SigmaError as e:
        out.problems.append(_problem(text, str(e), type(e).__name__))
    except Exception as e:
        out.problems.append(_problem(text, f"cannot convert: {e}", type(e).__name__))
    if out.problems:
        return out
    from socmon.api.engine_bridge import compile_problems

    for reason in compile_problems(text):
        out.problems.append(_problem(text, reason, "engine"))
    return out


def es_query(lucene: str) -> dict[str, Any]:
    """The Elasticsearch query DSL for a converted rule (as the scheduled mode runs it)."""
    return {"query_string": {"query": lucene, "analyze_wildcard": True, "lenient": True}}
