"""socmon's field mapping as a pySigma pipeline file, used by the real sigma-cli.

The peer here is sigma-cli itself: `sigma convert -t lucene -p rules/socmon-pipeline.yml` over
the shipped rules must give the Lucene queries socmon's scheduled mode runs, except where
socmon's backend deviates on purpose (multi-word keywords become phrases, `re` gets Sigma's
search semantics: rules.scheduled_convert.SocmonLuceneBackend); which rules those are is read
from the rule files, not from either output.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sigma.processing.pipeline import ProcessingPipeline

from socmon.cli import cli
from socmon.rules.loader import load_rules
from socmon.rules.pipeline_export import pipeline_yaml
from socmon.rules.pipelines import socmon_pipeline
from socmon.rules.scheduled_convert import SocmonLuceneBackend, convert
from socmon.settings import PACKAGE_DIR

RULES = PACKAGE_DIR / "rules" / "sigma"
PIPELINE_FILE = PACKAGE_DIR / "rules" / "socmon-pipeline.yml"
SIGMA = Path(sys.executable).parent / "sigma"


def _rule_docs() -> list[dict[str, Any]]:
    docs = []
    for f in sorted(RULES.rglob("*.yml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def _deviates(rule: dict[str, Any]) -> bool:
    """Uses a construct socmon's Lucene backend converts differently on purpose: a `re`
    modifier, or a keyword (field-less) value of several words."""

    def has_re(node: Any) -> bool:
        if isinstance(node, dict):
            return any("|re" in str(k) or has_re(v) for k, v in node.items())
        if isinstance(node, list):
            return any(has_re(v) for v in node)
        return False

    for name, sel in rule.get("detection", {}).items():
        if name == "condition":
            continue
        if has_re(sel):
            return True
        if isinstance(sel, list) and any(isinstance(v, str) and " " in v.strip("*") for v in sel):
            return True
    return False


def test_shipped_pipeline_file_is_current() -> None:
    assert PIPELINE_FILE.read_text() == pipeline_yaml(None), (
        "rules/socmon-pipeline.yml is stale: run `make docs`"
    )


def test_pipeline_file_converts_like_socmon(datasets: Path) -> None:
    """pySigma reading the file gives the same queries as socmon_pipeline() itself, on the
    shipped rules and SigmaHQ's Windows process-creation rules (many mappings at once)."""
    from_file = ProcessingPipeline.from_yaml(PIPELINE_FILE.read_text())
    paths = [RULES, datasets / "sigmahq" / "rules" / "windows" / "process_creation"]
    loaded = load_rules(paths)
    assert len(loaded.rules) > 300
    ours = SocmonLuceneBackend(processing_pipeline=socmon_pipeline())
    theirs = SocmonLuceneBackend(processing_pipeline=from_file)
    for r in loaded.rules:
        assert _lucene(ours, r) == _lucene(theirs, r), r.title


def _lucene(backend: SocmonLuceneBackend, rule: Any) -> Any:
    try:
        return backend.convert_rule(copy.deepcopy(rule))
    except Exception as e:  # the same refusal (e.g. field references) from both
        return f"{type(e).__name__}: {e}"


def test_sigma_cli_converts_shipped_rules_as_scheduled_mode(tmp_path: Path) -> None:
    # sigma-cli's Lucene backend refuses correlation rules (socmon evaluates those with
    # aggregations), so each base rule goes to sigma alone, one file per rule id.
    split = tmp_path / "rules"
    split.mkdir()
    docs = [d for d in _rule_docs() if "correlation" not in d]
    for d in docs:
        (split / f"{d['id']}.yml").write_text(yaml.safe_dump(d, sort_keys=False))
    out = tmp_path / "out"
    cmd = [str(SIGMA), "convert", "-t", "lucene", "-p", str(PIPELINE_FILE)]
    r = subprocess.run(
        [*cmd, "-od", str(out), "-ot", "{stem}.txt", str(split)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    sigma_cli = {p.stem: p.read_text().strip() for p in out.glob("*.txt")}
    scheduled = {s.key: s.query for s in convert(load_rules([RULES])).rules}
    assert set(sigma_cli) == set(scheduled) == {str(d["id"]) for d in docs}
    deviating = {str(d["id"]) for d in docs if _deviates(d)}
    differ = {k for k in scheduled if scheduled[k] != sigma_cli[k]}
    assert differ == deviating, json.dumps(
        {k: [scheduled[k], sigma_cli[k]] for k in differ ^ deviating}, indent=1
    )
    assert len(scheduled) - len(differ) >= 20  # most rules: byte for byte the same


def test_rules_pipeline_command_uses_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCMON_DETECTION_PLACEHOLDERS", '{"admins": ["root", "Administrator"]}')
    r = CliRunner().invoke(cli, ["rules", "pipeline"])
    assert r.exit_code == 0, r.output
    # the file is what goes to stdout (an admin redirects it); logs go to stderr
    pipe = ProcessingPipeline.from_yaml(r.stdout)
    assert pipe.vars == {"admins": ["root", "Administrator"]}
    shipped = CliRunner().invoke(cli, ["rules", "pipeline", "--shipped"])
    assert shipped.stdout == PIPELINE_FILE.read_text()
