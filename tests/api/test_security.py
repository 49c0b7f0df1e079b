"""The penetration test of issue 16, run against the real node: each request the test sent,
expecting the fixed behaviour (one section per finding)."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import h
from tests.api.test_rules import RULE

# ------------------------------------------------------------------ 1: hostile rule YAML


def billion_laughs(levels: int) -> str:
    """The pen-test's rule: nested aliases expanded into a detection field (9**levels)."""
    lines = [
        "title: laughs",
        "logsource: {product: linux}",
        "detection:",
        '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["  sel:", f"    date: *l{levels - 1}", "  condition: sel"]
    return "\n".join(lines) + "\n"


RULE_ROUTES = [
    ("/api/v1/rules/validate", lambda y: {"yaml": y}, "analyst@A"),
    ("/api/v1/rules", lambda y: {"yaml": y}, "admin"),
    ("/api/v1/rules/test", lambda y: {"yaml": y, "events": [{"date": "x"}]}, "admin"),
    ("/api/v1/rules/preview", lambda y: {"yaml": y, "start": "now-1h"}, "admin@A"),
]


@pytest.mark.parametrize("url, body, who", RULE_ROUTES)
def test_billion_laughs_refused_quickly(client, keys, url, body, who):
    # 6 levels: before the fix ~1.5 s and a ~4 MB answer; 7 levels took 12.9 s and 34.7 MB
    text = billion_laughs(6)
    t = time.perf_counter()
    r = client.post(url, json=body(text), headers=h(keys[who]))
    elapsed = time.perf_counter() - t
    assert elapsed < 1.0
    assert len(r.content) < 4096
    problems = r.json()["problems"] if url.endswith("validate") else r.json()["errors"]
    assert r.status_code == (200 if url.endswith("validate") else 422)
    assert "anchors (&l0) are not accepted" in problems[0]["msg"]
    assert problems[0]["line"] == 4


@pytest.mark.parametrize("url, body, who", RULE_ROUTES)
def test_deep_nesting_is_a_422_not_a_500(client, keys, url, body, who):
    text = "title: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n"
    r = client.post(url, json=body(text), headers=h(keys[who]))
    assert r.status_code == (200 if url.endswith("validate") else 422), r.text[:300]
    problems = r.json()["problems"] if url.endswith("validate") else r.json()["errors"]
    assert "nest" in problems[0]["msg"] and problems[0]["line"] == 2


def test_echoed_values_are_bounded(client, keys):
    """A long value pySigma quotes in its error is cut, not echoed whole."""
    long_value = "v" * 150_000
    text = RULE.replace("source.ip|cidr: 10.0.0.0/8", f"source.ip|cidr: {long_value}")
    r = client.post("/api/v1/rules/validate", json={"yaml": text}, headers=h(keys["analyst"]))
    assert r.status_code == 200 and r.json()["valid"] is False
    assert len(r.content) < 4096
    assert "more characters" in r.json()["problems"][0]["msg"]
