"""The rules socmon ships (rules/sigma, except network/ which the network collector owns):
every rule loads, compiles and converts without a problem, and fires exactly on its positive
test events (tests/fixtures/rules/shipped/*.yml) through ``evaluate_events``."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from socmon.rules.evaluate import build_engine, run_events
from socmon.rules.loader import load_rules
from socmon.rules.scheduled_convert import convert
from socmon.rules.winevent import record_to_ecs

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules" / "sigma"
AREAS = [SHIPPED / "linux", SHIPPED / "web", SHIPPED / "windows"]
FIXTURES = ROOT / "tests" / "fixtures" / "rules" / "shipped"


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = doc
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value


def _shift(ts: str, seconds: float) -> str:
    t = dt.datetime.fromisoformat(ts) + dt.timedelta(seconds=seconds)
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def windows_record(w: dict[str, Any]) -> dict[str, Any]:
    """A Windows record in the EVTX JSON-export layout."""
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": w.get("provider", "")}},
                "EventID": w["event_id"],
                "TimeCreated": {"#attributes": {"SystemTime": w["time"]}},
                "EventRecordID": 1,
                "Channel": w["channel"],
                "Computer": w.get("computer", ""),
            },
            "EventData": w.get("data") or {},
        }
    }


def expand(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if "template" not in item:
            out.append(item)
            continue
        cycle = item.get("cycle", {})
        for i in range(item["times"]):
            ev = copy.deepcopy(item["template"])
            if "windows" in ev:
                ev["windows"]["time"] = _shift(ev["windows"]["time"], i * item.get("every", 1))
            else:
                ev["@timestamp"] = _shift(ev["@timestamp"], i * item.get("every", 1))
            for field, values in cycle.items():
                _set(ev, field, values[i % len(values)])
            out.append(ev)
    return [record_to_ecs(windows_record(e["windows"])) if "windows" in e else e for e in out]


def cases() -> list[Any]:
    out = []
    for f in sorted(FIXTURES.glob("*.yml")):
        for c in yaml.safe_load(f.read_text("utf-8"))["cases"]:
            out.append(pytest.param(c, id=f"{f.stem}: {c['name']}"))
    return out


@pytest.fixture(scope="module")
def engine_factory() -> Any:
    return lambda: build_engine(AREAS)


def test_every_shipped_rule_loads_compiles_and_converts() -> None:
    loaded = load_rules(AREAS)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    engine = build_engine(AREAS)
    assert not engine.problems, [str(p) for p in engine.problems]
    assert engine._correlator is not None
    assert not engine._correlator.problems  # type: ignore[attr-defined]
    converted = convert(loaded)
    assert not converted.problems, [str(p) for p in converted.problems]
    assert len(converted.correlations) == len(loaded.correlations) == 6


def test_every_shipped_rule_has_a_positive_case() -> None:
    loaded = load_rules(AREAS)
    fired: set[str] = set()
    for f in FIXTURES.glob("*.yml"):
        for c in yaml.safe_load(f.read_text("utf-8"))["cases"]:
            fired.update(c["expect"])
    reportable = {str(c.id) for c in loaded.correlations}
    referenced = {r.rule.id for c in loaded.correlations for r in c.rules or []}
    reportable |= {str(r.id) for r in loaded.rules if r.id not in referenced}
    assert reportable - fired == set()


@pytest.mark.parametrize("case", cases())
def test_shipped_case(case: dict[str, Any], engine_factory: Any) -> None:
    events = expand(case["events"])
    detections = run_events(engine_factory(), events)
    assert {d.rule_id for d in detections} == set(case["expect"]), [
        (d.rule_title, d.group_by) for d in detections
    ]
    for d in detections:
        if d.mode == "correlation":
            assert d.group_by and len(d.events) >= 2
