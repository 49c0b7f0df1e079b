"""The streaming engine's shortcuts (per-logsource plans, field-scoped literal prefilter,
candidate memo) change no result: on the SigmaHQ regression events, and on those events
mutated (rule literals inserted in any case, separator and case-folding characters), the
rules the engine reports are exactly the rules whose matcher is true when every rule is
tried on the event (the naive evaluation)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.sigma_engine import CORPUS, sample_events
from socmon.rules.engine import CompiledRule, StreamingEngine
from socmon.rules.eventview import SEP_ANY, SEP_END, SEP_FIELD, SEP_VALUE, EventView
from socmon.rules.loader import load_rules

pytestmark = pytest.mark.datasets


@pytest.fixture(scope="module")
def engine(datasets: Path) -> StreamingEngine:
    sigmahq = datasets / "sigmahq"
    return StreamingEngine.from_rules(load_rules([sigmahq / d for d in CORPUS]))


@pytest.fixture(scope="module")
def events(datasets: Path) -> list[dict[str, Any]]:
    return sample_events(datasets / "sigmahq")


def _naive(engine: StreamingEngine, event: dict[str, Any]) -> list[str]:
    view = EventView(event)
    out = []
    for r in engine.rules:
        try:
            ok = r.fn(view)
        except Exception:
            ok = False
        if ok:
            out.append(r.rule_id)
    return sorted(out)


def _ids(rules: list[CompiledRule]) -> list[str]:
    return sorted(r.rule_id for r in rules)


def _literals(engine: StreamingEngine) -> list[str]:
    """Literals of the rules' anchors (what makes a rule a candidate)."""
    out: set[str] = set()
    for r in engine.rules:
        for a in (r.anchors or frozenset()) | (r.extra or frozenset()):
            lit = a.rpartition(SEP_ANY)[2] if SEP_ANY in a else a.rpartition(SEP_VALUE)[2]
            lit = lit.strip(SEP_END + SEP_FIELD)
            if lit:
                out.add(lit)
    return sorted(out)


def _string_leaves(obj: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        if isinstance(v, str):
            out.append((obj, k))
        elif isinstance(v, dict | list):
            _string_leaves(v, out)
    return out


def test_engine_equals_naive_on_regression_events(
    engine: StreamingEngine, events: list[dict[str, Any]]
) -> None:
    matched = 0
    for ev in events:
        got = _ids(engine.match_rules(ev))
        assert got == _naive(engine, ev), ev.get("winlog", {}).get("record_id")
        matched += len(got)
    assert matched > len(events)  # the regression samples fire their rules


ODD = ["\x1c", "\x1d", "\x1e", "\x1f", "İ", "Σ", "\u212a", "®", " ", "\\", "*"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_engine_equals_naive_on_mutated_events(
    engine: StreamingEngine, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    lits = _literals(engine)
    ev = copy.deepcopy(data.draw(st.sampled_from(events)))
    leaves = _string_leaves(ev, [])
    for _ in range(data.draw(st.integers(1, 4))):
        obj, key = data.draw(st.sampled_from(leaves))
        value: str = obj[key]
        piece = data.draw(
            st.one_of(
                st.sampled_from(lits),
                st.sampled_from(lits).map(str.upper),
                st.sampled_from(ODD),
                st.text(max_size=4),
            )
        )
        how = data.draw(st.sampled_from(["insert", "replace", "append", "prepend"]))
        if how == "insert":
            i = data.draw(st.integers(0, len(value)))
            obj[key] = value[:i] + piece + value[i:]
        elif how == "replace":
            obj[key] = piece
        elif how == "append":
            obj[key] = value + piece
        else:
            obj[key] = piece + value
    assert _ids(engine.match_rules(ev)) == _naive(engine, ev)
