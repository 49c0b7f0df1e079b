"""Sigma rules -> Elasticsearch queries for scheduled mode.

Base rules are converted with pySigma's Elasticsearch Lucene backend and socmon's field
mapping (``rules.pipelines.socmon_pipeline``, the same mapping as the streaming matcher), each
into one ``query_string`` query. Correlation rules are not expressible in Lucene: they keep
their referenced rules' queries (one named query per base rule) and are evaluated by
``rules.scheduled`` with aggregations plus the streaming correlation logic.

What cannot be converted is reported as a ``rules.loader.Problem`` (stage "scheduled").
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.backends.elasticsearch import LuceneBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import SigmaString, SpecialChars

from socmon.ids import doc_id
from socmon.rules.correlation import CompiledCorrelation, CorrelationProblem, compile_correlation
from socmon.rules.loader import LoadedRules, Problem, rule_id, rule_source
from socmon.rules.pipelines import socmon_pipeline

log = logging.getLogger(__name__)


class SocmonLuceneBackend(LuceneBackend):
    """pySigma's Lucene backend with Sigma's regular-expression semantics.

    Sigma ``re`` searches (unanchored, like Python's ``re.search``); a Lucene ``/regexp/``
    must match the whole term. Unless the expression is anchored with ``^``/``$``, it is
    wrapped in ``.*`` so both modes match the same events. A leading ``(?i)`` is dropped.
    Multi-word keyword (field-less) values become phrase queries.
    """

    def convert_condition_val_str(self, cond: Any, state: Any) -> Any:
        """Keyword (field-less) values with several words: a phrase query. The backend's
        ``*several words*`` wildcard cannot match an analysed text field such as ``message``
        (and ``event.original`` is not indexed), so multi-word keywords would never match."""
        v = cond.value
        if isinstance(v, SigmaString):
            parts = list(v.s)
            while parts and parts[0] is SpecialChars.WILDCARD_MULTI:
                parts.pop(0)
            while parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
                parts.pop()
            if parts and all(isinstance(p, str) for p in parts):
                text = "".join(str(p) for p in parts)
                if any(c.isspace() for c in text):
                    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return super().convert_condition_val_str(cond, state)

    def convert_value_re(self, r: Any, state: Any) -> Any:
        out = super().convert_value_re(r, state)
        if not isinstance(out, str):
            return out
        if out.startswith("(?i)"):
            # Lucene has no inline flags; the Sigma-matched fields are lowercase-normalised
            # (socmon/templates/events.json), which makes the match case-insensitive anyway
            out = out[4:]
        if out.startswith("^"):
            out = out[1:]
        elif not out.startswith(".*"):
            out = ".*" + out
        if out.endswith("$") and not out.endswith("\\$"):
            out = out[:-1]
        elif not out.endswith(".*"):
            out = out + ".*"
        return out


@dataclass
class ScheduledRule:
    key: str
    rule: SigmaRule
    query: str  # Lucene (query_string syntax)

    def es_query(self) -> dict[str, Any]:
        return {"query_string": {"query": self.query, "analyze_wildcard": True, "lenient": True}}

    @property
    def fingerprint(self) -> str:
        """Changes when what the rule searches changes (a reload compares them)."""
        return doc_id("scheduled-rule", self.query)


@dataclass
class ScheduledCorrelation:
    key: str
    rule: SigmaCorrelationRule  # pipeline applied
    known: dict[str, str]  # base rule ids/names -> key (to recompile fresh windows)
    queries: dict[str, str]  # base rule key -> Lucene query
    compiled: CompiledCorrelation

    @property
    def fingerprint(self) -> str:
        """Changes when the correlation's windowing or a referenced rule's query changes."""
        parts = [f"{k}={q}" for k, q in sorted(self.queries.items())]
        return doc_id("scheduled-correlation", self.compiled.fingerprint, *parts)

    def fresh(self) -> CompiledCorrelation:
        """A compiled correlation with empty windows (one replay)."""
        return compile_correlation(self.rule, self.known)

    def es_query(self) -> dict[str, Any]:
        """Any referenced base rule; each named after its rule key (``matched_queries``)."""
        return {
            "bool": {
                "should": [
                    {
                        "query_string": {
                            "query": q,
                            "analyze_wildcard": True,
                            "lenient": True,
                            "_name": k,
                        }
                    }
                    for k, q in self.queries.items()
                ],
                "minimum_should_match": 1,
            }
        }


@dataclass
class ScheduledSet:
    rules: list[ScheduledRule] = field(default_factory=list)
    correlations: list[ScheduledCorrelation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # base rules referenced only by correlations without `generate: true`: not run alone
    suppressed: set[str] = field(default_factory=set)


def convert_rule(
    rule: SigmaRule,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    **mapping: Any,
) -> list[str]:
    """The Lucene queries of one base rule (a copy is processed; the rule is not changed).
    ``mapping``: ``socmon_pipeline``'s options for other shippers' indices."""
    backend = SocmonLuceneBackend(processing_pipeline=socmon_pipeline(placeholders, **mapping))
    processed = copy.deepcopy(rule)
    # pySigma returns nothing for rules only referenced by correlations (generate: false);
    # scheduled mode needs their queries to evaluate the correlation.
    processed._output = True
    out = backend.convert_rule(processed)
    return [str(q) for q in out]


def convert(
    loaded: LoadedRules,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    **mapping: Any,
) -> ScheduledSet:
    """Convert every loaded rule; problems are collected, never raised. ``mapping``:
    ``socmon_pipeline``'s options (``windows_event_data``, ``field_map``) for an external
    source."""
    out = ScheduledSet()
    by_key: dict[str, ScheduledRule] = {}
    known: dict[str, str] = {}
    for r in loaded.rules:
        key = rule_id(r)
        try:
            queries = convert_rule(r, placeholders, **mapping)
        except Exception as e:  # pySigma raises many types on unsupported constructs
            out.problems.append(
                Problem(rule_source(r), key, f"{type(e).__name__}: {e}", "scheduled")
            )
            log.warning(
                "rule cannot be converted to an Elasticsearch query",
                extra={"rule_id": key, "source": rule_source(r), "error": str(e)},
            )
            continue
        if not queries or not all(q.strip() for q in queries):
            reason = "the Elasticsearch backend produced an empty query"
            out.problems.append(Problem(rule_source(r), key, reason, "scheduled"))
            continue
        q = queries[0] if len(queries) == 1 else " OR ".join(f"({x})" for x in queries)
        sr = ScheduledRule(key, r, q)
        by_key[key] = sr
        out.rules.append(sr)
        known[key] = key
        if r.id is not None:
            known[str(r.id)] = key
        if r.name:
            known[r.name] = key
    for c in loaded.correlations:
        key = rule_id(c)
        processed = copy.deepcopy(c)
        try:
            # the referenced rules' logsources decide the field mapping (pySigma resolves
            # them through the references, kept by deepcopy)
            socmon_pipeline(placeholders, **mapping).apply(processed)
            compiled = compile_correlation(processed, known, rule_source(c))
        except CorrelationProblem as e:
            out.problems.append(Problem(rule_source(c), key, e.reason, "correlation"))
            continue
        except Exception as e:
            out.problems.append(
                Problem(rule_source(c), key, f"{type(e).__name__}: {e}", "correlation")
            )
            continue
        named = {k: by_key[k].query for k in dict.fromkeys(compiled.rules)}
        out.correlations.append(ScheduledCorrelation(key, processed, known, named, compiled))
    referenced = {r for c in out.correlations for r in c.compiled.rules}
    shown = {r for c in out.correlations if c.rule.generate for r in c.compiled.rules}
    out.suppressed = referenced - shown
    return out
