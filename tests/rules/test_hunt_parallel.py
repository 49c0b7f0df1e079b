"""`socmon hunt` on a process pool: the same detections as one process, in time order; a
correlation window spanning files is still found; CSV, timeline and JSON lines hold one row
per detection; the summary counts them by level and rule; no progress bar when piped."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from socmon.rules.cli import hunt as hunt_cmd
from socmon.rules.evaluate import build_engine
from socmon.rules.hunt import hunt

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "sigma"


def _ssh_lines() -> list[str]:
    # the lines of tests/rules/test_correlation_hunt.py, whose expected detections are
    # written there by hand: brute force from 203.0.113.7 (10 events), spraying from
    # 198.51.100.9 (5 events)
    lines = [
        f"Nov 24 10:00:{i * 3:02d} portal-web-01 sshd[{1000 + i}]: Failed password for root "
        f"from 203.0.113.7 port {50000 + i} ssh2"
        for i in range(12)
    ]
    lines += [
        f"Nov 24 10:01:{i * 5:02d} portal-web-01 sshd[{2000 + i}]: Failed password for invalid "
        f"user {u} from 198.51.100.9 port {40000 + i} ssh2"
        for i, u in enumerate(["admin", "oracle", "test", "guest", "ubuntu", "pi"])
    ]
    return lines


def test_a_correlation_spanning_files_is_found_by_the_pool(tmp_path: Path) -> None:
    lines = _ssh_lines()
    for k in range(3):  # every third line in each file: no file holds a whole window
        (tmp_path / f"auth{k}.log").write_text("\n".join(lines[k::3]) + "\n")
    res = hunt([SHIPPED], [tmp_path], workers=2)
    assert res.workers == 2 and res.files == 3 and res.events == len(lines)
    got = {
        (d.rule_title, (d.group_by or {}).get("source.ip"), len(d.events))
        for d in res.detections
        if d.group_by
    }
    assert got == {
        ("SSH brute force", "203.0.113.7", 10),
        ("SSH password spraying", "198.51.100.9", 5),
    }


@pytest.fixture(scope="module")
def regression_dir(datasets: Path) -> Path:
    return datasets / "sigmahq" / "regression_data" / "rules" / "windows" / "process_creation"


@pytest.fixture(scope="module")
def sample_rules(
    regression_dir: Path, datasets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The rules of the process-creation samples (a directory of links: small, fast)."""
    out = tmp_path_factory.mktemp("rules")
    for d in regression_dir.iterdir():
        rule = datasets / "sigmahq" / "rules" / "windows" / "process_creation" / f"{d.name}.yml"
        if rule.is_file():
            (out / rule.name).symlink_to(rule)
    return out


@pytest.mark.datasets
def test_pool_equals_one_process_and_is_time_ordered(
    regression_dir: Path, sample_rules: Path
) -> None:
    engine = build_engine([sample_rules])
    one = hunt([], [regression_dir], engine=engine, workers=1)
    two = hunt([], [regression_dir], engine=engine, workers=2)
    assert one.files == two.files >= 50 and one.events == two.events
    assert sorted(d.id for d in two.detections) == sorted(d.id for d in one.detections)
    assert len(two.detections) >= one.files  # each sample fires at least its own rule
    stamps = [d.timestamp for d in two.detections]
    assert stamps == sorted(stamps)


@pytest.mark.datasets
def test_cli_outputs_one_row_per_detection(
    regression_dir: Path, sample_rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCMON_VAR_DIR", str(tmp_path / "var"))
    rules = str(sample_rules)
    runner = CliRunner()
    out, err = {}, {}
    for fmt in ("jsonl", "csv", "timeline"):
        res = runner.invoke(
            hunt_cmd, ["--rules", rules, "--output", fmt, "--workers", "2", str(regression_dir)]
        )
        assert res.exit_code == 0, res.output
        out[fmt], err[fmt] = res.stdout, res.stderr
    found = [json.loads(x) for x in out["jsonl"].splitlines()]
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    timeline = out["timeline"].splitlines()
    assert len(found) == len(rows) == len(timeline) >= 50
    assert [r["rule_id"] for r in rows] == [d["rule_id"] for d in found]
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert all(r["source"] for r in rows)
    assert all(r["record_id"] for r in rows if r["source"].endswith(".evtx"))
    assert timeline == sorted(timeline, key=lambda x: x[:24])
    # summary on stderr: by level, summing to the detections; no progress bar (not a tty);
    # the first run filled the rule cache
    assert "rule cache: miss" in err["jsonl"] and "rule cache: hit" in err["timeline"]
    assert "hunting" not in err["csv"]
    levels = err["csv"].split("by level:")[1].split("by rule:")[0].split()
    assert sum(int(n) for n in levels[::2]) == len(found)
