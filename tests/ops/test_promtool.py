"""deploy/prometheus checked by Debian's promtool: the configuration (installed beside its token
as in /etc/prometheus), the rules, and the rules' unit tests (deploy/prometheus/tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.exprs import PROM_DIR, alert_rules

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing (deploy/test.sh installs Debian's prometheus)"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def test_check_config_as_installed(tmp_path: Path) -> None:
    for f in ("prometheus.yml", "socmon.rules.yml"):
        shutil.copy(PROM_DIR / f, tmp_path / f)
    (tmp_path / "socmon-metrics.token").write_text("token\n")
    r = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_check_rules() -> None:
    r = promtool("check", "rules", str(PROM_DIR / "socmon.rules.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_rule_unit_tests_pass_and_cover_every_alert() -> None:
    test_file = PROM_DIR / "tests" / "socmon.rules.test.yml"
    r = promtool("test", "rules", str(test_file))
    assert r.returncode == 0, r.stdout + r.stderr
    import yaml

    doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    quiet: set[str] = set()
    fired: set[str] = set()
    for t in doc["tests"]:
        for case in t.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert set(alert_rules()) - quiet == set(), "alerts without a quiet case"
    assert set(alert_rules()) - fired == set(), "alerts without a firing case"


def test_every_alert_has_severity_bilingual_text_and_a_runbook_section() -> None:
    runbooks = (PROM_DIR.parent.parent / "docs" / "runbooks.md").read_text(encoding="utf-8")
    anchors = {line[3:].strip().lower() for line in runbooks.splitlines() if line.startswith("## ")}
    for name, r in alert_rules().items():
        assert r["labels"]["severity"] in ("critical", "warning"), name
        ann = r["annotations"]
        for key in ("summary", "summary_vi", "description", "description_vi"):
            assert ann.get(key), f"{name}: {key} missing"
        assert ann["runbook_url"] == f"docs/runbooks.md#{name.lower()}", name
        assert name.lower() in anchors, f"{name}: no '## {name}' section in docs/runbooks.md"
