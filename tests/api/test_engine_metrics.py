"""Validating or testing a rule through the API leaves the service's detection metrics alone
(issue 12, defect 4): before, the one-rule engine set `socmon_rules_streaming_rules` to 1
and counted the posted events and their detections as the service's."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_rules
from socmon.settings import PROJECT_ROOT
from tests.api.conftest import h
from tests.api.test_rules import BAD, RULE

SHIPPED = PROJECT_ROOT / "rules" / "sigma"
SSHD_FAILURE = {
    "@timestamp": "2026-11-24T10:00:00Z",
    "event": {"outcome": "failure", "dataset": "sshd", "category": ["authentication"]},
    "source": {"ip": "10.1.2.3"},
}


def _rules_metrics(client) -> dict[tuple[str, tuple], float]:
    """Every sample of the rules engine's metrics, as /metrics exposes them."""
    r = client.get("/metrics")
    assert r.status_code == 200
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            if s.name.startswith(("socmon_rules_streaming", "socmon_rules_problems")):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_rule_validate_and_test_do_not_touch_service_metrics(client, keys) -> None:
    service = StreamingEngine.from_rules(load_rules([SHIPPED]))  # as `socmon run` builds it
    assert len(service.rules) > 1
    service.match(SSHD_FAILURE, "e1")
    before = _rules_metrics(client)
    assert before[("socmon_rules_streaming_rules", ())] == len(service.rules)
    for body in ({"yaml": RULE}, {"yaml": BAD}):
        assert client.post("/api/v1/rules/validate", json=body, headers=h(keys["admin"])).is_success
    r = client.post(
        "/api/v1/rules/test",
        json={"yaml": RULE, "events": [SSHD_FAILURE] * 3},
        headers=h(keys["admin"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["matches"] == [0, 1, 2]
    assert len(r.json()["detections"]) == 3  # each event matched once
    assert _rules_metrics(client) == before
