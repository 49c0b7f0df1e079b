"""SigmaHQ compatibility: the public corpus loads and compiles; deprecated/unsupported are
reported, not crashed on; every regression_data rule fires on its own sample through
`socmon hunt` (EVTX and JSON export)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from socmon.rules.engine import StreamingEngine
from socmon.rules.hunt import hunt
from socmon.rules.loader import load_rules

pytestmark = pytest.mark.datasets


# Rules the collectors' Windows parser (collectors/parsers/windows.py) is known not to fire;
# empty: EventData/UserData are flattened by collectors.parsers.windata for both shapers.
COLLECTOR_GAPS: set[str] = set()


def regression_cases(sigmahq: Path) -> list[tuple[str, Path, int]]:
    out = []
    for info in sorted((sigmahq / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text())
        rid = doc["rule_metadata"][0]["id"]
        for t in doc.get("regression_tests_info") or []:
            out.append((rid, sigmahq / t["path"], int(t.get("match_count") or 1)))
    return out


def test_sigmahq_corpus_compiles(corpus_engine: StreamingEngine) -> None:
    fatal = [p for p in corpus_engine.problems if p.fatal]
    total = len(corpus_engine.rules) + len({p.rule_id for p in fatal})
    assert total >= 3700
    assert len(corpus_engine.rules) / total >= 0.99, Counter(p.kind for p in fatal)
    # what does not compile is listed with a reason
    assert all(p.reason and p.source for p in corpus_engine.problems)


def test_sigmahq_deprecated_and_unsupported_no_crash(sigmahq: Path) -> None:
    loaded = load_rules([sigmahq / "deprecated", sigmahq / "unsupported"])
    eng = StreamingEngine.from_rules(loaded)
    assert loaded.files > 100
    unsupported = [p for p in eng.problems if p.fatal and "unsupported" in p.source]
    assert unsupported, "old-syntax rules must be reported"
    assert all(p.rule_id or p.source for p in unsupported)


def _check_regression(
    corpus_engine: StreamingEngine, sigmahq: Path, suffix: str
) -> list[tuple[str, int, int]]:
    failures = []
    cases = regression_cases(sigmahq)
    assert len(cases) >= 200
    for rid, path, count in cases:
        res = hunt([], [path.with_suffix(suffix)], engine=corpus_engine)
        n = sum(1 for d in res.detections if d.rule_id == rid)
        if n < count:
            failures.append((rid, n, count))
    return failures


@pytest.mark.parametrize("suffix", [".evtx", ".json"])
def test_sigmahq_regression_through_hunt(
    corpus_engine: StreamingEngine, sigmahq: Path, suffix: str
) -> None:
    failures = _check_regression(corpus_engine, sigmahq, suffix)
    assert {f[0] for f in failures} <= COLLECTOR_GAPS, failures


def test_hunt_cli_smoke(sigmahq: Path, tmp_path: Path) -> None:
    from socmon.rules.cli import hunt as hunt_cmd

    rid, sample, _ = regression_cases(sigmahq)[0]
    rule_file = next(p for p in (sigmahq / "rules").rglob("*.yml") if rid in p.read_text())
    res = CliRunner().invoke(hunt_cmd, ["--rules", str(rule_file), "--json", str(sample)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    assert lines and lines[0]["rule_id"] == rid and lines[0]["events"]


def test_rules_check_cli(sigmahq: Path, tmp_path: Path) -> None:
    from socmon.rules.cli import check

    good = next((sigmahq / "rules" / "windows" / "process_creation").glob("*.yml"))
    res = CliRunner().invoke(check, [str(good)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "title: broken\nlogsource: {product: x}\ndetection:\n  sel:\n    a|re: '(a)\\1'\n"
        "  condition: sel\n"
    )
    res = CliRunner().invoke(check, [str(good), str(bad)])
    assert res.exit_code == 1
    assert "bad.yml" in res.output and "regex-unsafe" in res.output
