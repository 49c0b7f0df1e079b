"""The compiled rule cache (rules/cache.py): a warm start gives the same rules as a cold one
(the same matches on the SigmaHQ regression corpus, whose info.yml files say which rule each
sample must fire), a changed rule or setting is a new key, a damaged entry is rebuilt with a
log line."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.sigma_engine import sample_events
from socmon.rules.cache import CacheStats, RuleCache, compiled, engine_for_paths
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_rules

RULE = """
title: {title}
id: 6c2a0d1e-0000-4000-8000-00000000000{n}
status: test
level: {level}
description: a test rule
references: [https://example.org/{n}]
logsource: {{product: windows, category: process_creation}}
detection:
  sel:
    Image|endswith: '\\{image}'
    CommandLine|contains: '{word}'
  condition: sel
"""


def _event(image: str, cmd: str) -> dict[str, Any]:
    return {
        "@timestamp": "2026-01-01T00:00:00.000Z",
        "event": {"code": "1"},
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
        "process": {"executable": f"C:\\Windows\\{image}", "command_line": cmd},
    }


def _rules(where: Path, level: str = "high") -> Path:
    where.mkdir(exist_ok=True)
    for n, (image, word) in enumerate([("cmd.exe", "whoami"), ("curl.exe", "-H")]):
        text = RULE.format(title=f"rule {n}", n=n, level=level, image=image, word=word)
        (where / f"r{n}.yml").write_text(text)
    return where


def _ids(engine: StreamingEngine, ev: dict[str, Any]) -> set[str]:
    return {r.rule_id for r in engine.match_rules(ev)}


def test_second_start_is_a_hit_with_the_same_rules(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules")
    cache = RuleCache(tmp_path / "cache")
    first, second = CacheStats(), CacheStats()
    cold = engine_for_paths([rules], cache, stats=first)
    warm = engine_for_paths([rules], cache, stats=second)
    assert (first.outcome, second.outcome) == ("miss", "hit")
    assert [r.rule_id for r in warm.rules] == [r.rule_id for r in cold.rules]
    ev = _event("cmd.exe", "cmd /c whoami /all")
    assert _ids(warm, ev) == _ids(cold, ev) == {"6c2a0d1e-0000-4000-8000-000000000000"}
    assert _ids(warm, _event("cmd.exe", "dir")) == set()
    # a detection from the cache carries the rule's metadata (unpickled on first use)
    d_cold, d_warm = cold.match(ev, "e1"), warm.match(ev, "e1")
    assert [dataclasses.asdict(d) for d in d_warm] == [dataclasses.asdict(d) for d in d_cold]
    assert d_warm[0].references == ["https://example.org/0"]


def test_a_changed_rule_or_setting_is_a_new_key(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules")
    cache = RuleCache(tmp_path / "cache")
    engine_for_paths([rules], cache)
    (rules / "r1.yml").write_text((rules / "r1.yml").read_text().replace("-H", "--user-agent"))
    stats = CacheStats()
    engine = engine_for_paths([rules], cache, stats=stats)
    assert stats.outcome == "miss"
    assert _ids(engine, _event("curl.exe", "curl -H x")) == set()
    assert _ids(engine, _event("curl.exe", "curl --user-agent x")) == {
        "6c2a0d1e-0000-4000-8000-000000000001"
    }
    # a rule file added, and other placeholders: other keys too
    shutil.copy(rules / "r0.yml", rules / "copy.yml")
    for placeholders in (None, {"admins": ["root"]}):
        stats = CacheStats()
        engine_for_paths([rules], cache, placeholders, stats=stats)
        assert stats.outcome == "miss"
    # the service's path (rules already loaded) shares the entries
    stats = CacheStats()
    compiled(load_rules([rules]), cache, {"admins": ["root"]}, stats=stats)
    assert stats.outcome == "hit"


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[: len(b) // 2], "checksum mismatch"),
        (lambda b: b"garbage", "not a socmon rule cache file"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
    ],
)
def test_a_damaged_entry_is_rebuilt_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any, reason: str
) -> None:
    rules = _rules(tmp_path / "rules")
    cache = RuleCache(tmp_path / "cache")
    stats = CacheStats()
    engine_for_paths([rules], cache, stats=stats)
    path = cache.path(stats.key)
    path.write_bytes(damage(path.read_bytes()))
    caplog.set_level(logging.WARNING, logger="socmon.rules.cache")
    stats = CacheStats()
    engine = engine_for_paths([rules], cache, stats=stats)
    assert stats.outcome == "rebuilt"
    assert any(reason in str(r.__dict__.get("reason")) for r in caplog.records)
    assert _ids(engine, _event("cmd.exe", "whoami")) == {"6c2a0d1e-0000-4000-8000-000000000000"}
    stats = CacheStats()
    engine_for_paths([rules], cache, stats=stats)
    assert stats.outcome == "hit"  # rewritten


def test_an_entry_of_another_rule_set_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = _rules(tmp_path / "a"), _rules(tmp_path / "b", level="low")
    cache = RuleCache(tmp_path / "cache")
    sa, sb = CacheStats(), CacheStats()
    engine_for_paths([a], cache, stats=sa)
    engine_for_paths([b], cache, stats=sb)
    shutil.copy(cache.path(sa.key), cache.path(sb.key))  # a's entry under b's key
    caplog.set_level(logging.WARNING, logger="socmon.rules.cache")
    stats = CacheStats()
    engine = engine_for_paths([b], cache, stats=stats)
    assert stats.outcome == "rebuilt"
    assert {r.level for r in engine.rules} == {"low"}


# ------------------------------------------------------------------ the regression corpus


def _regression_rule_files(sigmahq: Path) -> tuple[list[Path], set[str]]:
    """The rule file of every regression sample (its info.yml names the rule id)."""
    files, ids = [], set()
    for info in sorted((sigmahq / "regression_data").rglob("info.yml")):
        rel = info.parent.relative_to(sigmahq / "regression_data")
        rule = sigmahq / rel.parent / f"{rel.name}.yml"
        if rule.is_file():
            files.append(rule)
            ids.add(yaml.safe_load(info.read_text())["rule_metadata"][0]["id"])
    return files, ids


@pytest.mark.datasets
def test_warm_start_matches_cold_on_the_regression_corpus(datasets: Path, tmp_path: Path) -> None:
    sigmahq = datasets / "sigmahq"
    files, expected = _regression_rule_files(sigmahq)
    assert len(files) >= 150
    cold = StreamingEngine.from_rules(load_rules(files))
    cache = RuleCache(tmp_path / "cache")
    first = engine_for_paths(files, cache)  # a miss: compiled in place, entry written
    stats = CacheStats()
    warm = engine_for_paths(files, cache, stats=stats)
    assert stats.outcome == "hit"
    assert len(warm.rules) == len(cold.rules) == len(files)
    events = sample_events(sigmahq)
    fired: set[str] = set()
    for ev in events:
        ids = _ids(cold, ev)
        assert _ids(warm, ev) == _ids(first, ev) == ids, ev.get("winlog", {}).get("record_id")
        fired |= ids
    # each sample fires its own rule (the corpus's info.yml, not socmon, says so)
    assert expected <= fired, sorted(expected - fired)[:5]
