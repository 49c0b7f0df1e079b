"""`socmon parse` (auto detection per file, no Elasticsearch) and organisation units."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from socmon.collectors.enrich import Enricher, OrgMapper
from socmon.settings import PROJECT_ROOT
from socmon.settings.collectors import CollectorSettings

FIX = PROJECT_ROOT / "tests" / "fixtures" / "collectors"
SOCMON = str(PROJECT_ROOT / ".venv" / "bin" / "socmon")


def _parse(*args: str) -> list[dict]:
    r = subprocess.run([SOCMON, "parse", *args], capture_output=True, timeout=120, check=True)
    return [orjson.loads(x) for x in r.stdout.splitlines() if x.strip()]


def test_parse_auto_detects_each_file() -> None:
    evs = _parse(
        "--year",
        "2025",
        "--with-id",
        *(str(FIX / n) for n in ("auth.log", "access.log", "fw.cef", "conn.log", "eve.json")),
    )
    by_ds = {e["event"]["dataset"]: e for e in evs}
    assert set(by_ds) >= {"sshd", "sudo", "access", "cef", "zeek.conn", "suricata.eve"}
    assert by_ds["sshd"]["source"]["ip"] == "203.0.113.7"
    assert by_ds["sshd"]["@timestamp"] == "2025-03-07T18:53:20.000Z"
    assert by_ds["access"]["http"]["response"]["status_code"] == 404
    assert by_ds["cef"]["event"]["action"] == "blocked"
    assert by_ds["zeek.conn"]["destination"]["port"] == 80
    assert by_ds["suricata.eve"]["dns"]["question"]["name"] == "example.org"
    assert all(e["organization"]["id"] == "unassigned" and e["_id"] for e in evs)
    again = _parse("--year", "2025", "--with-id", str(FIX / "auth.log"))
    assert [e["_id"] for e in again] == [e["_id"] for e in evs[:2]]  # deterministic ids


def test_parse_pcap_goes_to_network_collector(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
    r = subprocess.run(
        [SOCMON, "parse", "--format", "pcap", str(bad)], capture_output=True, timeout=120
    )
    # either events from the network collector or a clear error, never a traceback
    assert b"Traceback" not in r.stderr


def test_organisation_units() -> None:
    cs = CollectorSettings.model_validate(
        {
            "organization_units": [
                {"id": "fin", "name": "Finance", "paths": ["/var/log/fin/*"]},
                {"id": "ward1", "name": "Ward 1", "senders": ["10.1.0.0/16", "2001:db8::/32"]},
                {"id": "edu", "name": "Education", "hosts": ["edu-*"]},
            ],
        }
    )
    m = OrgMapper(cs)
    assert m.resolve(path="/var/log/fin/auth.log") == ("fin", "Finance")
    assert m.resolve(sender="10.1.2.3") == ("ward1", "Ward 1")
    assert m.resolve(sender="2001:db8::5") == ("ward1", "Ward 1")
    assert m.resolve(host="EDU-web01") == ("edu", "Education")
    assert m.resolve(path="/other", sender="192.0.2.1", host="x") == ("unassigned", "Unassigned")
    ev = Enricher(cs).apply(
        {"event": {}, "host": {"name": "edu-db"}}, source_kind="file", source="/x"
    )
    assert ev["organization"] == {"id": "edu", "name": "Education"}
    assert ev["event"]["created"] and ev["@timestamp"] and ev["ecs"]["version"]
