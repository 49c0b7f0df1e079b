"""The rules socmon ships (rules/sigma, except network/ which the network collector owns):
every rule loads, compiles and converts without a problem, and fires exactly on its positive
test events (tests/fixtures/rules/shipped/*.yml) through ``evaluate_events``.

Windows test events are records in the layout the ``evtx`` package gives (``records_json``)
and are shaped by the production EVTX path: ``collectors.parsers.windows.WindowsRecordParser``
then the line handler's enrichment, as ``collectors.reader.read_evtx`` does."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from socmon.collectors.enrich import Enricher
from socmon.collectors.lines import LineHandler
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.pipeline import ListSink
from socmon.rules.evaluate import build_engine, run_events
from socmon.rules.loader import load_rules
from socmon.rules.scheduled_convert import convert
from socmon.settings.collectors import CollectorSettings

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


def production_shape(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Windows records -> events exactly as ``collectors.reader.read_evtx`` emits them."""
    cs = CollectorSettings()
    sink = ListSink()
    handler = LineHandler("winjson", cs, Enricher(cs), sink, source_kind="evtx", source="test")
    win = WindowsRecordParser(handler.tp)
    for i, rec in enumerate(records):
        data = json.dumps(rec)
        handler.emit_event(win.from_record(json.loads(data), data), "evtx:test", i)
    return [ev for _, ev in sink.events]


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
    return [
        production_shape([windows_record(e["windows"])])[0] if "windows" in e else e for e in out
    ]


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
    assert engine.correlator is not None
    assert not engine.correlator.problems  # type: ignore[attr-defined]
    converted = convert(loaded)
    assert not converted.problems, [str(p) for p in converted.problems]
    assert len(converted.correlations) == len(loaded.correlations) == 7


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
