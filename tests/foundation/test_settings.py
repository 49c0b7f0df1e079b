"""Settings: typed, from SOCMON_* variables and YAML, with errors that name the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from socmon.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("SOCMON_"):
            monkeypatch.delenv(k)


def test_defaults_provision_a_local_node() -> None:
    s = load_settings()
    assert s.es.provisioned
    assert s.es.effective_url == "http://127.0.0.1:9200"
    assert s.storage.spool_full_policy == "block"


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "socmon.yaml"
    cfg.write_text(
        "es:\n  url: https://es.example:9200\n  index_prefix: yaml\nstorage:\n  batch_size: 10\n"
    )
    monkeypatch.setenv("SOCMON_STORAGE_BATCH_SIZE", "20")
    s = load_settings(cfg)
    assert s.es.url == "https://es.example:9200"
    assert not s.es.provisioned
    assert s.es.index_prefix == "yaml"
    assert s.storage.batch_size == 20


def test_invalid_settings_name_each_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCMON_ES_URL", "ftp://nowhere")
    monkeypatch.setenv("SOCMON_STORAGE_BATCH_SIZE", "-5")
    monkeypatch.setenv("SOCMON_ES_LOCAL_PORT", "70000")
    with pytest.raises(SettingsError) as e:
        load_settings()
    text = str(e.value)
    assert "es.url [SOCMON_ES_URL]" in text and "must start with http:// or https://" in text
    assert "storage.batch_size [SOCMON_STORAGE_BATCH_SIZE]" in text and "greater than 0" in text
    assert "es.local_port [SOCMON_ES_LOCAL_PORT]" in text and "65535" in text


def test_unknown_yaml_key_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("storage:\n  batchsize: 3\n")
    with pytest.raises(SettingsError) as e:
        load_settings(cfg)
    assert "storage.batchsize" in str(e.value) and "unknown setting" in str(e.value)
    with pytest.raises(SettingsError) as e2:
        load_settings(tmp_path / "missing.yaml")
    assert "not found" in str(e2.value)


def test_broken_yaml_is_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("es: [unclosed\n")
    with pytest.raises(SettingsError) as e:
        load_settings(cfg)
    assert str(cfg) in str(e.value)


def test_cli_fails_at_start_with_the_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    env["SOCMON_STORAGE_SPOOL_FULL_POLICY"] = "explode"
    r = subprocess.run(
        [sys.executable, "-m", "socmon", "config"], env=env, capture_output=True, text=True
    )
    assert r.returncode != 0
    assert "storage.spool_full_policy [SOCMON_STORAGE_SPOOL_FULL_POLICY]" in r.stderr
    assert "'block' or 'drop_oldest'" in r.stderr


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    from socmon.cli import LAZY_COMMANDS, cli

    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for name in LAZY_COMMANDS:
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output
    for sub in ("up", "down", "status", "purge"):
        assert runner.invoke(cli, ["es", sub, "--help"]).exit_code == 0


def test_configuration_reference_lists_the_plumbing_settings() -> None:
    """docs/configuration.md is generated (`socmon config --docs`, `make docs`); the sections
    of every layer are regenerated with it. Here: the foundation's settings are all listed."""
    from socmon.settings import ElasticsearchSettings, LogSettings, MetricsSettings, StorageSettings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for section, model in (
        ("es", ElasticsearchSettings),
        ("storage", StorageSettings),
        ("log", LogSettings),
        ("metrics", MetricsSettings),
    ):
        for name in model.model_fields:
            assert f"| `{section}.{name}` | `SOCMON_{section.upper()}_{name.upper()}` |" in doc


def test_configuration_reference_is_current() -> None:
    """Every setting of every layer is in docs/configuration.md (regenerate: `make docs`)."""
    from socmon.settings.docs import render

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert doc == render(), "docs/configuration.md is stale: run `make docs`"


def _schema_entries() -> list[tuple[str, dict[str, Any]]]:
    """Every entry kind nested in a section, found by walking pydantic's JSON schema (an
    independent view of the model from the renderer's): (docs path, the entry's schema)."""
    schema = Settings.model_json_schema()
    defs = schema["$defs"]

    def ref(node: dict[str, Any]) -> list[str]:
        if "$ref" in node:
            return [node["$ref"].rsplit("/", 1)[1]]
        return [r for alt in node.get("oneOf", []) + node.get("anyOf", []) for r in ref(alt)]

    out = []
    for sec_name, sec in schema["properties"].items():
        for section in ref(sec):
            for name, prop in defs[section]["properties"].items():
                for key, suffix in (("items", "[]"), ("additionalProperties", ".<name>")):
                    inner = prop.get(key)
                    if isinstance(inner, dict):
                        for entry in ref(inner):
                            out.append((f"{sec_name}.{name}{suffix}", defs[entry]))
    return out


def test_configuration_reference_documents_every_nested_field() -> None:
    """Each field of every structured entry (file and syslog sources, channels, routes,
    organisation units, ...) has its row, and each choice lists all its allowed values."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| `")}
    entries = _schema_entries()
    paths = {p for p, _ in entries}
    # the ones the issue names, so a schema change cannot make this test vacuous
    assert {
        "collectors.files[]",
        "collectors.syslog[]",
        "collectors.organization_units[]",
        "alerting.channels.<name>",
        "alerting.routes[]",
    } <= paths
    for path, entry in entries:
        for field, prop in entry["properties"].items():
            row = rows.get(f"`{path}.{field}`")
            assert row is not None, f"{path}.{field} missing from docs/configuration.md"
            choices = prop.get("enum") or [
                v for alt in prop.get("anyOf", []) for v in alt.get("enum", [])
            ]
            if "const" in prop and field == "type":  # a kind of entry: its table's title
                assert f"`type: {prop['const']}`" in doc
            elif "const" in prop:  # a field with one allowed value lists it
                assert f"`{prop['const']}`" in row, f"{path}.{field}: {prop['const']} not listed"
            for value in choices:
                assert f"`{value}`" in row, f"{path}.{field}: choice {value} not listed"
    # a top-level choice too: spool_full_policy's values
    assert "one of `block` \\| `drop_oldest`" in rows["`storage.spool_full_policy`"]


def test_var_dir_default_follows_where_socmon_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A checkout keeps its var/; installed, root gets /var/lib/socmon and a user the XDG
    data directory (the XDG Base Directory spec: $XDG_DATA_HOME/<app>)."""
    from socmon.settings import PROJECT_ROOT, base

    assert base.default_var_dir() == PROJECT_ROOT / "var"
    monkeypatch.setattr(base, "checkout_root", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(base.os, "geteuid", lambda: 1000)
    assert base.default_var_dir() == tmp_path / "socmon"
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    assert base.default_var_dir() == Path("/var/lib/socmon")
    monkeypatch.delenv("SOCMON_VAR_DIR", raising=False)
    monkeypatch.delenv("SOCMON_STORAGE_SPOOL_DIR", raising=False)
    monkeypatch.setenv("SOCMON_VAR_DIR", str(tmp_path / "state"))
    assert load_settings().storage.spool_dir == tmp_path / "state" / "spool"
