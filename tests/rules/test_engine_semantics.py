"""Streaming matcher semantics: the Sigma specification, one rule and a few events at a time
(no Elasticsearch needed)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_text


def engine(yaml_text: str, **kw: Any) -> StreamingEngine:
    loaded = load_text(yaml_text, "<test>")
    assert not [p for p in loaded.problems if p.fatal], loaded.problems
    from socmon.rules.loader import finish

    return StreamingEngine.from_rules(finish(loaded), **kw)


def rule(detection: str, logsource: str = "product: test") -> str:
    return f"""
title: t
id: 11111111-1111-1111-1111-111111111111
status: test
level: high
tags: [attack.t1059.001, attack.execution]
logsource:
    {logsource}
detection:
{detection}
"""


def hits(eng: StreamingEngine, *events: dict[str, Any]) -> list[bool]:
    return [bool(eng.match_rules(e)) for e in events]


def test_engine_plain_case_insensitive_whole_value() -> None:
    e = engine(rule("    sel:\n        a: Foo\n    condition: sel"))
    assert hits(e, {"a": "foo"}, {"a": "FOO"}, {"a": "foox"}, {"b": "foo"}) == [
        True,
        True,
        False,
        False,
    ]


def test_engine_contains_startswith_endswith_all() -> None:
    e = engine(
        rule(
            "    sel:\n        a|contains|all: [x1, y2]\n        b|startswith: pre\n"
            "        c|endswith: .EXE\n    condition: sel"
        )
    )
    good = {"a": "..Y2..x1", "b": "PREfix", "c": "C:\\cmd.exe"}
    assert hits(
        e, good, {**good, "a": "x1 only"}, {**good, "b": "xpre"}, {**good, "c": "a.exe."}
    ) == [
        True,
        False,
        False,
        False,
    ]


def test_engine_wildcards_and_escapes() -> None:
    e = engine(rule("    sel:\n        a: 'a?c*z'\n        b: 'lit\\*star'\n    condition: sel"))
    assert hits(e, {"a": "abcXYZ", "b": "lit*star"}, {"a": "abcXYZ", "b": "litXstar"}) == [
        True,
        False,
    ]
    assert hits(e, {"a": "acz", "b": "lit*star"}) == [False]


def test_engine_lists_nested_dotted_and_multivalue() -> None:
    e = engine(rule("    sel:\n        process.name: cmd.exe\n    condition: sel"))
    assert hits(
        e,
        {"process": {"name": "CMD.EXE"}},
        {"process.name": "cmd.exe"},
        {"process": {"name": ["x", "cmd.exe"]}},
        {"process": [{"name": "cmd.exe"}]},
        {"process": {"name": "x"}},
    ) == [True, True, True, True, False]


def test_engine_null_and_exists() -> None:
    e = engine(rule("    sel:\n        a: null\n        b|exists: true\n    condition: sel"))
    assert hits(e, {"b": 1}, {"a": None, "b": "x"}, {"a": "v", "b": 1}, {"a": None}) == [
        True,
        True,
        False,
        False,
    ]


def test_engine_regex_flags_and_case() -> None:
    e = engine(rule("    sel:\n        a|re: '^ab.c$'\n    condition: sel"))
    assert hits(e, {"a": "abxc"}, {"a": "ABxC"}) == [True, False]
    e = engine(rule("    sel:\n        a|re|i: '^ab.c$'\n    condition: sel"))
    assert hits(e, {"a": "ABxC"}) == [True]
    e = engine(rule("    sel:\n        a|re|m: '^two$'\n    condition: sel"))
    assert hits(e, {"a": "one\ntwo\nthree"}) == [True]
    e = engine(rule("    sel:\n        a|re|s: 'one.two'\n    condition: sel"))
    assert hits(e, {"a": "one\ntwo"}) == [True]


def test_engine_hostile_regex_refused_or_fast() -> None:
    # RE2 runs the classic catastrophic pattern in linear time.
    e = engine(rule("    sel:\n        a|re: '^(a+)+$'\n    condition: sel"))
    t = time.perf_counter()
    assert hits(e, {"a": "a" * 50_000 + "!"}) == [False]
    assert time.perf_counter() - t < 1.0
    # Back-references cannot be bounded: the rule is refused with a clear reason.
    loaded = load_text(rule("    sel:\n        a|re: '(a+)\\1+b'\n    condition: sel"), "<t>")
    from socmon.rules.loader import finish

    eng = StreamingEngine.from_rules(finish(loaded))
    assert not eng.rules
    assert [p.kind for p in eng.problems] == ["regex-unsafe"]


def test_engine_cidr_and_numeric_compare() -> None:
    e = engine(
        rule(
            "    sel:\n        ip|cidr: 10.0.0.0/8\n        n|gte: 5\n        m|lt: 3\n"
            "    condition: sel"
        )
    )
    assert hits(
        e,
        {"ip": "10.2.3.4", "n": 5, "m": "2"},
        {"ip": "11.0.0.1", "n": 9, "m": 1},
        {"ip": "10.0.0.1", "n": 4, "m": 1},
        {"ip": "bad", "n": 9, "m": 1},
    ) == [
        True,
        False,
        False,
        False,
    ]


def test_engine_neq() -> None:
    e = engine(rule("    sel:\n        n|neq: 5\n    condition: sel"))
    assert hits(e, {"n": 4}, {"n": 5}) == [True, False]


def test_engine_base64_base64offset_wide_windash() -> None:
    e = engine(rule("    sel:\n        a|base64offset|contains: 'secret'\n    condition: sel"))
    for prefix in ("", "x", "xy"):
        enc = base64.b64encode((prefix + "secret data").encode()).decode()
        assert hits(e, {"a": enc}) == [True], prefix
    e = engine(rule("    sel:\n        a|base64: 'abc'\n    condition: sel"))
    assert hits(e, {"a": "YWJj"}) == [True]
    e = engine(rule("    sel:\n        a|wide|base64offset|contains: 'ping'\n    condition: sel"))
    enc = base64.b64encode("ping x".encode("utf-16-le")).decode()
    assert hits(e, {"a": enc}) == [True]
    e = engine(rule("    sel:\n        a|windash|contains: ' -enc '\n    condition: sel"))
    assert hits(
        e, {"a": "ps /enc x"}, {"a": "ps -enc x"}, {"a": "ps –enc x"}, {"a": "ps +enc"}
    ) == [
        True,
        True,
        True,
        False,
    ]


def test_engine_fieldref_and_cased() -> None:
    e = engine(rule("    sel:\n        a|fieldref: b\n    condition: sel"))
    assert hits(e, {"a": "X", "b": "x"}, {"a": "x", "b": "y"}) == [True, False]
    e = engine(rule("    sel:\n        a|cased: Foo\n    condition: sel"))
    assert hits(e, {"a": "Foo"}, {"a": "foo"}) == [True, False]


def test_engine_expand_placeholders_from_settings() -> None:
    text = rule("    sel:\n        user|expand: '%admins%'\n    condition: sel")
    e = engine(text, placeholders={"admins": ["root", "Administrator"]})
    assert hits(e, {"user": "administrator"}, {"user": "bob"}) == [True, False]
    e = engine(text)  # undefined: compiled, never matches, reported as a warning
    assert hits(e, {"user": "%admins%"}) == [False]
    assert [p.kind for p in e.problems] == ["placeholder"] and not e.problems[0].fatal


def test_engine_keywords() -> None:
    e = engine(
        rule(
            "    keywords:\n        - 'failed password'\n        - 'auth*fail'\n"
            "    condition: keywords"
        )
    )
    assert hits(
        e, {"message": "sshd: Failed password for x"}, {"m": "auth-fail"}, {"message": "ok"}
    ) == [True, True, False]


def test_engine_conditions() -> None:
    det = """    sel_a:
        a: 1
    sel_b:
        b: 2
    filter_x:
        x: 3
    condition: (1 of sel_* and not filter_x) or all of them"""
    e = engine(rule(det))
    assert hits(e, {"a": 1}, {"b": 2}, {"a": 1, "x": 3}, {"a": 1, "b": 2, "x": 3}, {"x": 3}) == [
        True,
        True,
        False,
        True,
        False,
    ]
    e = engine(rule("    s1:\n        a: 1\n    s2:\n        b: 2\n    condition: all of s*"))
    assert hits(e, {"a": 1}, {"a": 1, "b": 2}) == [False, True]
    e = engine(rule("    s1:\n        a: 1\n    s2:\n        b: 2\n    condition: 1 of them"))
    assert hits(e, {"b": 2}, {"c": 1}) == [True, False]


def test_engine_list_of_maps_is_or() -> None:
    e = engine(rule("    sel:\n        - a: 1\n        - b: 2\n    condition: sel"))
    assert hits(e, {"a": 1}, {"b": 2}, {"c": 3}) == [True, True, False]


def test_engine_sigma_v2_filter_rule() -> None:
    text = (
        rule("    sel:\n        a: evil\n    condition: sel")
        + """---
title: allow the admin host
id: 22222222-2222-2222-2222-222222222222
logsource:
    product: test
filter:
    rules:
        - 11111111-1111-1111-1111-111111111111
    selection:
        host: admin-pc
    condition: not selection
"""
    )
    e = engine(text)
    assert hits(e, {"a": "evil", "host": "x"}, {"a": "evil", "host": "admin-pc"}) == [True, False]


def test_engine_detection_contract() -> None:
    e = engine(rule("    sel:\n        a: 1\n    condition: sel"))
    ev = {"@timestamp": "2026-11-24T10:00:00.000Z", "a": 1}
    [d] = e.match(ev, "doc1")
    assert (d.rule_id, d.rule_title, d.level, d.status) == (
        "11111111-1111-1111-1111-111111111111",
        "t",
        "high",
        "test",
    )
    assert d.attack_techniques == ["T1059.001"] and d.timestamp == ev["@timestamp"]
    assert d.events[0].id == "doc1" and d.events[0].event is ev
    assert e.match(ev, "doc1")[0].id == d.id  # deterministic


def test_engine_windows_mapping_and_routing() -> None:
    text = """
title: w
id: 33333333-3333-3333-3333-333333333333
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\whoami.exe'
    condition: sel
"""
    e = engine(text)
    sysmon = {
        "event": {"code": "1"},
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
        "process": {"executable": "C:\\Windows\\System32\\whoami.exe"},
    }
    other_category = {**sysmon, "event": {"code": "11"}}
    assert hits(e, sysmon, other_category) == [True, False]


def test_engine_bad_events_do_not_crash() -> None:
    e = engine(rule("    sel:\n        a|contains: x\n    condition: sel"))
    weird: list[Any] = [
        {},
        {"a": None},
        {"a": []},
        {"a": [[1, "x"]]},
        {"a": {"b": "x"}},
        {"a": b"x"},
        {"a": 1.5},
        {1: "x"},
    ]
    for ev in weird:
        e.match_rules(ev)
    assert hits(e, {"a": [[1, "x"]]}) == [True]


def test_engine_per_event_cost_does_not_grow_with_rules() -> None:
    rules_text = "\n---\n".join(
        rule(f"    sel:\n        CommandLine|contains: 'needle{i}'\n    condition: sel").replace(
            "11111111-1111-1111-1111-111111111111", f"00000000-0000-0000-0000-{i:012d}"
        )
        for i in range(2000)
    )
    e = engine(rules_text)
    ev = {"CommandLine": "nothing to see here", "other": "x" * 100}
    from socmon.rules.eventview import EventView

    assert e.candidates(EventView(ev)) == []
    assert hits(e, {"CommandLine": "a needle1234 b"}) == [True]


@pytest.mark.parametrize("bad", ["title: x\n", "::: not yaml", "- a\n- b\n", ""])
def test_engine_bad_rules_reported(bad: str) -> None:
    loaded = load_text(bad, "bad.yml")
    assert not loaded.rules
    assert loaded.problems and all(p.source == "bad.yml" for p in loaded.problems)
