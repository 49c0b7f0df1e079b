"""Real corpora: sigmahq/regression_data (EVTX and its JSON export), mordor (NXLog-style flat
JSON lines), suricata-eve (every record round-trips with signature id, category, addresses)."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from socmon.collectors.parsers.windows import CHANNELS
from tests.collectors.helpers import read_events

pytestmark = pytest.mark.datasets


def _no_failures(events: list[tuple[str, dict]]) -> None:
    bad = [e for _, e in events if "_parse_failure" in e.get("tags", ())]
    assert not bad, bad[:2]


def test_sigma_regression_evtx_and_json_agree(datasets: Path) -> None:
    root = datasets / "sigmahq" / "regression_data"
    evtx_files = sorted(root.rglob("*.evtx"))
    assert len(evtx_files) >= 200
    total = 0
    for evtx in evtx_files:
        ev_evtx = read_events(evtx, "evtx")
        ev_json = read_events(evtx.with_suffix(".json"), "winjson")
        assert ev_evtx, evtx
        _no_failures(ev_evtx)
        _no_failures(ev_json)
        assert len(ev_evtx) == len(ev_json), evtx
        for (_, a), (_, b) in zip(ev_evtx, ev_json, strict=True):
            assert a["event"]["code"] == b["event"]["code"]
            assert a["winlog"]["channel"] == b["winlog"]["channel"]
            assert a["winlog"]["record_id"] == b["winlog"]["record_id"]
            assert a["@timestamp"] == b["@timestamp"]
            # the JSON exports were edited by hand here and there (case, trailing blanks):
            # the same fields, not always the same bytes
            assert set(a["winlog"].get("event_data") or ()) == set(
                b["winlog"].get("event_data") or ()
            )
            assert a["@timestamp"].endswith("Z") and a["event"]["code"].isdigit()
        ids = [i for i, _ in ev_evtx]
        assert len(set(ids)) == len(ids)
        total += len(ev_evtx)
    assert total >= 200


def test_mordor_flat_json(datasets: Path, tmp_path: Path) -> None:
    zips = sorted((datasets / "mordor").rglob("*.zip"))
    assert len(zips) == 3
    lines = 0
    codes: Counter[str] = Counter()
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                raw = zf.read(name).decode()
                expected = [json.loads(x) for x in raw.splitlines() if x.strip()]
                lines += len(expected)
                events = read_events(z, "auto")
                _no_failures(events)
                assert len(events) == len(expected)
                for (_, ev), src in zip(events, expected, strict=True):
                    assert ev["event"]["code"] == str(src["EventID"])
                    assert ev["winlog"]["channel"] in CHANNELS.values()
                    assert ev["winlog"]["channel"].lower() == src["Channel"].lower()
                    if src.get("CommandLine") and src["Channel"].lower() == "security":
                        assert ev["process"]["command_line"] == src["CommandLine"]
                    if src.get("Image"):
                        assert ev["process"]["executable"] == src["Image"]
                    codes[ev["event"]["code"]] += 1
    assert lines == 977
    assert codes["4688"] > 0 and codes["1"] > 0


def test_suricata_eve_round_trip(datasets: Path) -> None:
    files = sorted((datasets / "suricata-eve" / "samples").glob("*/alerts-only.json"))
    assert len(files) == 4
    for f in files:
        records = json.loads(f.read_text())
        events = read_events(f, "suricata")
        _no_failures(events)
        assert len(events) == len(records)
        for (_, ev), rec in zip(events, records, strict=True):
            assert ev["rule"]["id"] == str(rec["alert"]["signature_id"])
            assert ev["rule"]["name"] == rec["alert"]["signature"]
            assert ev["rule"].get("category") == (rec["alert"].get("category") or None)
            assert ev["source"]["ip"] == rec["src_ip"]
            assert ev["destination"]["ip"] == rec["dest_ip"]
            assert ev["event"]["kind"] == "alert"
            assert ev["suricata"]["eve"]["alert"]["signature_id"] == rec["alert"]["signature_id"]
