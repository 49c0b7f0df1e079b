"""The compose deployment cannot run here (no Docker engine): check that it stays valid."""

from __future__ import annotations

import re

import yaml

from socmon.settings import PROJECT_ROOT, load_settings

COMPOSE = PROJECT_ROOT / "deploy" / "compose"


def test_compose_file_is_valid_and_matches_the_pinned_version() -> None:
    doc = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    assert set(doc["services"]) == {"elasticsearch", "socmon"}
    es_env = (PROJECT_ROOT / "deploy" / "elasticsearch.env").read_text()
    version = re.search(r"^ES_VERSION=(\S+)", es_env, re.M)
    assert version is not None
    assert doc["services"]["elasticsearch"]["image"].endswith(":" + version.group(1))
    socmon_env = doc["services"]["socmon"]["environment"]
    assert "SOCMON_ES_URL=http://elasticsearch:9200" in socmon_env
    depends = doc["services"]["socmon"]["depends_on"]["elasticsearch"]
    assert depends["condition"] == "service_healthy"
    for path in ("Dockerfile", "socmon.yaml"):
        assert (COMPOSE / path).is_file()


def test_compose_settings_file_is_valid_socmon_settings() -> None:
    s = load_settings(COMPOSE / "socmon.yaml")
    assert s.storage.retention_days == 90
    # every listener is published by the compose file (container port, protocol)
    doc = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    published = {tuple(p.split(":")[-1].split("/")) for p in doc["services"]["socmon"]["ports"]}
    for lst in s.collectors.syslog:
        proto = "udp" if lst.protocol == "udp" else "tcp"
        assert (str(lst.port), proto) in published, lst


def test_example_configuration_is_valid() -> None:
    s = load_settings(PROJECT_ROOT / "deploy" / "socmon.example.yaml")
    assert s.collectors.organization_units[0].id == "so-tc"
    assert {x.protocol for x in s.collectors.syslog} == {"udp", "tcp", "relp"}


def test_province_examples_are_valid_and_name_every_node() -> None:
    site = load_settings(PROJECT_ROOT / "deploy" / "province" / "site.example.yaml")
    centre = load_settings(PROJECT_ROOT / "deploy" / "province" / "centre.example.yaml")
    assert site.es.url == centre.es.url and len((site.es.url or "").split(",")) == 3
    assert site.collectors.default_org_id != centre.collectors.default_org_id
    for unit, command in (("site", "collect"), ("central", "run")):
        text = (PROJECT_ROOT / "deploy" / "systemd" / f"socmon-{unit}.service").read_text()
        assert f"bin/socmon {command}\n" in text
