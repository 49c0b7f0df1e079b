"""Winlogbeat documents through the Beats input's normaliser give the same events as the EVTX
path (`socmon parse` of the .evtx file) for the same record: every SigmaHQ regression
record, shaped as Winlogbeat 8 writes it (tests/collectors/winlogbeat_shape.py), compared
field by field with the EVTX event, by document id, and by the (rule, record) pairs the
regression rules fire on in the streaming engine. Filebeat lines and Elastic Agent ECS
documents: parsed by dataset / path / line, or kept; organisation unit by agent name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from socmon.collectors.enrich import Enricher
from socmon.collectors.parsers.beats import BeatsNormalizer
from socmon.collectors.parsers.registry import make
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.collectors.timeparse import TimeParser
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import LoadedRules
from socmon.settings import load_settings
from tests.collectors.winlogbeat_shape import evtx_records, winlogbeat_doc
from tests.rules.test_differential_es import regression  # noqa: F401 (fixture)

# Where a Winlogbeat document differs from the EVTX record by nature (not by socmon):
# Winlogbeat's own fields; task/opcode/keywords, which Winlogbeat writes as the names from
# the provider's message tables (the EVTX path has the numbers); the raw UserData block
# (Winlogbeat flattens it, with xml_name; its fields are in winlog.event_data either way);
# event.original (the document's JSON, not the record's).
WINLOGBEAT_ONLY = {"agent", "winlog.api", "log.level", "ecs.version"}
BY_NATURE = {"winlog.task", "winlog.opcode", "winlog.keywords", "event.original"}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _excused(key: str) -> bool:
    return (
        key in BY_NATURE
        or key.startswith("winlog.user_data.")
        or any(key == w or key.startswith(w + ".") for w in WINLOGBEAT_ONLY)
    )


@pytest.fixture(scope="module")
def both_shapes(datasets: Path) -> list[tuple[str, dict[str, Any], dict[str, Any], Any]]:
    """(record key, EVTX event, Beats event, Beats identity) for every regression record."""
    tp = TimeParser()
    win = WindowsRecordParser(tp)
    norm = BeatsNormalizer(tp, lambda f: make(f, tp))
    out = []
    for path in sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx")):
        for n, (text, rec) in enumerate(evtx_records(path)):
            doc = winlogbeat_doc(rec, "pc-ward7-01", "agent-1")
            payload = json.dumps(doc).encode()
            ev, ident, pos = norm(payload, payload.decode())
            out.append((f"{path.stem}#{n}", win.from_record(rec, text), ev, (ident, pos, rec)))
    assert len(out) >= 230
    return out


@pytest.mark.datasets
def test_winlogbeat_fields_equal_the_evtx_path(both_shapes: list[Any]) -> None:
    diffs = []
    for key, a, b, _ in both_shapes:
        fa, fb = _flat(a), _flat(b)
        for k in set(fa) | set(fb):
            if fa.get(k) != fb.get(k) and not _excused(k):
                diffs.append((key, k, fa.get(k), fb.get(k)))
    assert diffs == [], diffs[:10]


@pytest.mark.datasets
def test_winlogbeat_ids_equal_the_evtx_ids(both_shapes: list[Any]) -> None:
    """The Beats identity is the EVTX source's (computer, channel, record number @ time), so
    a record both shipped by Winlogbeat and read from an .evtx file is stored once."""
    for _, a, _, (ident, pos, rec) in both_shapes:
        wl = a["winlog"]
        system = rec["Event"]["System"]
        assert ident == f"evtx:{wl['computer_name']}:{wl['channel']}"
        created = system["TimeCreated"]["#attributes"]["SystemTime"]
        assert pos == f"{system['EventRecordID']}@{created}"


@pytest.mark.datasets
def test_winlogbeat_ids_equal_the_ids_of_read_evtx(datasets: Path) -> None:
    """The same, against the ids the EVTX source itself emits (collectors.reader.read_evtx).
    The EVTX source numbers records by the record header, Winlogbeat by the XML's
    EventRecordID: equal in logs Windows wrote (what Winlogbeat reads), renumbered from 1 in
    exported files such as the regression samples (all 238 differ). So each Winlogbeat document
    here gets the header's number, as it would reading the live log."""
    import evtx

    from socmon.collectors.lines import LineHandler
    from socmon.collectors.reader import read_evtx
    from socmon.pipeline import ListSink

    s = load_settings()
    norm = _norm()
    n = 0
    for path in sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx")):
        via_evtx, via_beats = ListSink(), ListSink()
        h = LineHandler(
            "auto", s.collectors, Enricher(s.collectors), via_evtx, source_kind="evtx", source="t"
        )
        hb = LineHandler(
            "auto", s.collectors, Enricher(s.collectors), via_beats, source_kind="beats", source="t"
        )
        read_evtx(path, str(path), h)
        for r in evtx.PyEvtxParser(str(path)).records_json():
            doc = winlogbeat_doc(json.loads(r["data"]), "pc", "a")
            doc["winlog"]["record_id"] = r["event_record_id"]
            payload = json.dumps(doc).encode()
            ev, ident, pos = norm(payload, payload.decode())
            hb.emit_event(ev, ident, pos)
            n += 1
        assert [i for i, _ in via_beats.events] == [i for i, _ in via_evtx.events], path
    assert n >= 230


def test_evtx_time_forms() -> None:
    from socmon.collectors.parsers.beats import evtx_time

    assert evtx_time("2020-10-27T20:00:14.3242341Z") == "2020-10-27T20:00:14.324234Z"
    assert evtx_time("2020-10-27T20:00:14Z") == "2020-10-27T20:00:14.000000Z"
    assert evtx_time("2020-10-28T03:00:14.5+07:00") == "2020-10-27T20:00:14.500000Z"
    assert evtx_time("yesterday") is None


@pytest.mark.datasets
def test_winlogbeat_events_fire_the_same_rules(
    both_shapes: list[Any],
    regression: tuple[LoadedRules, dict[str, Any]],  # noqa: F811
) -> None:
    engine = StreamingEngine.from_rules(regression[0])
    via_evtx = {(r.rule_id, k) for k, a, _, _ in both_shapes for r in engine.match_rules(a)}
    via_beats = {(r.rule_id, k) for k, _, b, _ in both_shapes for r in engine.match_rules(b)}
    assert via_beats == via_evtx
    assert len(via_evtx) >= 200  # not vacuous: the regression rules fire on their samples


def _norm() -> BeatsNormalizer:
    tp = TimeParser()
    return BeatsNormalizer(tp, lambda f: make(f, tp))


def _run(doc: dict[str, Any]) -> tuple[dict[str, Any], str, Any]:
    payload = json.dumps(doc).encode()
    return _norm()(payload, payload.decode())


FILEBEAT_NGINX = {
    "@timestamp": "2026-12-04T10:00:01.123Z",
    "message": '203.0.113.9 - - [04/Dec/2026:10:00:00 +0700] "GET /wp-login.php HTTP/1.1" 404 '
    '153 "-" "curl/8.0"',
    "input": {"type": "filestream"},
    "event": {"dataset": "nginx.access", "module": "nginx"},
    "fileset": {"name": "access"},
    "log": {"offset": 4096, "file": {"path": "/var/log/nginx/access.log", "inode": "99"}},
    "agent": {"id": "f1", "name": "web-01", "type": "filebeat", "version": "8.15.0"},
    "host": {"name": "web-01"},
}


def test_filebeat_line_parsed_by_its_dataset() -> None:
    ev, ident, pos = _run(FILEBEAT_NGINX)
    assert ev["source"]["ip"] == "203.0.113.9"
    assert ev["http"]["response"]["status_code"] == 404
    assert ev["url"]["path"] == "/wp-login.php"
    assert ev["event"]["dataset"] == "nginx.access"
    assert ev["event"]["module"] == "nginx"  # the Beat's event fields kept
    assert ev["log"]["file"]["path"] == "/var/log/nginx/access.log"
    assert ev["agent"]["name"] == "web-01"
    # the time is the line's (Filebeat's @timestamp is when it read it)
    assert ev["@timestamp"].startswith("2026-12-04T03:00:00")
    assert (ident, pos) == ("beats:f1:ino::99", 4096)


def test_filebeat_line_parsed_by_its_path_then_by_its_look() -> None:
    by_path = dict(FILEBEAT_NGINX, event={})
    assert _run(by_path)[0]["event"]["dataset"] == "nginx.access"
    sshd = dict(
        FILEBEAT_NGINX,
        event={},
        message="Dec  4 10:00:00 srv sshd[7]: Invalid user admin from 198.51.100.4 port 22",
        log={"offset": 1, "file": {"path": "/var/log/secure"}},
    )
    ev, ident, pos = _run(sshd)
    assert ev["event"]["dataset"] == "sshd" and ev["source"]["ip"] == "198.51.100.4"
    assert (ident, pos) == ("beats:f1:path:/var/log/secure", 1)


def test_unparsed_filebeat_line_and_agent_ecs_are_kept() -> None:
    odd = dict(FILEBEAT_NGINX, event={}, message="@@@ nothing known", log={})
    ev, ident, pos = _run(odd)
    assert "_beats_unparsed" in ev["tags"] and "_parse_failure" not in ev["tags"]
    assert ev["event"]["original"] == "@@@ nothing known"
    assert ident == "beats:f1" and len(str(pos)) == 32  # content hash
    agent_doc = {
        "@timestamp": "2026-12-04T10:00:00.000Z",
        "data_stream": {"type": "logs", "dataset": "system.security", "namespace": "default"},
        "event": {"dataset": "system.security", "code": "4625", "outcome": "failure"},
        "source": {"ip": "192.0.2.1"},
        "agent": {"id": "ea", "name": "pc-01", "type": "filebeat"},
    }
    ev, _, _ = _run(agent_doc)
    assert ev == agent_doc  # Elastic Agent's ECS kept as it is


def test_unit_by_sender_host_then_agent_name() -> None:
    s = load_settings(
        collectors={
            "organization_units": [
                {"id": "xa-a", "name": "Xã A", "senders": ["10.1.0.0/16"]},
                {"id": "xa-b", "name": "Xã B", "hosts": ["pc-b-*"]},
                {"id": "xa-c", "name": "Xã C", "agents": ["ward-c-*"]},
            ]
        }
    )
    enr = Enricher(s.collectors)

    def unit(sender: str, host: str, agent: str) -> str:
        ev = {"host": {"name": host}, "agent": {"name": agent}}
        return str(
            enr.apply(ev, source_kind="beats", source="1", sender=sender)["organization"]["id"]
        )

    assert unit("10.1.2.3", "pc-b-1", "ward-c-1") == "xa-a"
    assert unit("192.0.2.1", "PC-B-1", "ward-c-1") == "xa-b"
    assert unit("192.0.2.1", "pc-x", "WARD-C-9") == "xa-c"
    assert unit("192.0.2.1", "pc-x", "x") == "unassigned"
