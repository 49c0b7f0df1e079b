"""Helpers for the correlation tests: load the example rules, fake base-rule matches."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from socmon.ids import doc_id
from socmon.rules.correlation import CorrelationEngine, base_rule_key
from socmon.rules.detection import Detection, MatchedEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules" / "correlation"
T0 = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.UTC)

SSH_BRUTE = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0002"
SSH_SPRAY = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0003"
PORT_SCAN = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0005"
CHAIN = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0009"
EXFIL = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e000b"
QUIET = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e000c"

SSH_FAILED = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0001"
CONN = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0004"
LOGON_FAILED = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0006"
LOGON_OK = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0007"
ADMIN_ADDED = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e0008"
UPLOAD = "0e5a3f10-1c4e-4c36-9a59-5f1f0c3e000a"


def load_rules(*correlations: str) -> list[SigmaRule | SigmaCorrelationRule]:
    coll = SigmaCollection.from_yaml((FIXTURES / "examples.yml").read_text("utf-8"))
    coll.resolve_rule_references()
    keep: list[SigmaRule | SigmaCorrelationRule] = []
    for r in coll.rules:
        if isinstance(r, SigmaRule) or base_rule_key(r) in correlations:
            keep.append(r)
    return keep


def engine(*correlations: str, **kw: Any) -> CorrelationEngine:
    e = CorrelationEngine.from_rules(load_rules(*correlations), **kw)
    assert not e.problems, e.problems
    return e


def ts(seconds: float) -> str:
    t = T0 + dt.timedelta(seconds=seconds)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def match(rule_id: str, at: float, event: dict[str, Any], eid: str | None = None) -> Detection:
    """A base-rule detection as the streaming engine hands it over."""
    ev = {"@timestamp": ts(at), **event}
    eid = eid or doc_id(rule_id, repr(at), repr(sorted(event.items())))
    return Detection(
        rule_id=rule_id,
        rule_title="base",
        level="low",
        status="test",
        tags=[],
        events=[MatchedEvent(eid, None, ev)],
        timestamp=ev["@timestamp"],
        first_timestamp=ev["@timestamp"],
    )


def feed(e: CorrelationEngine, matches: list[Detection]) -> list[Detection]:
    out: list[Detection] = []
    for m in matches:
        out.extend(e.process(m))
    return out
