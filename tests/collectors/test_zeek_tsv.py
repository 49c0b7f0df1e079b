"""Zeek's default (tab-separated) logs give the same ECS events as the JSON form of the same
records. The JSON form is made here by a small reference reader written from Zeek's
documented ASCII format (logging framework, ASCII writer: header lines, ``\\xHH`` escapes,
``-`` unset and ``(empty)`` empty, sets and vectors joined by ``#set_separator``), not by
the code under test. The fixtures (tests/fixtures/zeek_tsv/) follow the field layouts of
Zeek's conn, dns, http, ssl, notice, weird, files and ssh logs, two header blocks in conn.log.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from socmon.collectors.enrich import Enricher
from socmon.collectors.lines import LineHandler
from socmon.collectors.metrics import BAD_INPUT
from socmon.collectors.reader import read_file
from socmon.collectors.sources.files import FileTailer
from socmon.pipeline import ListSink
from socmon.settings.collectors import CollectorSettings, FileSource
from tests.collectors.helpers import read_events
from tests.collectors.test_tail import HoldSink

FIXTURES = Path(__file__).parent.parent / "fixtures" / "zeek_tsv"
LOGS = sorted(FIXTURES.glob("*.log"))


def _ref_value(typ: str, raw: str) -> Any:
    def text(s: str) -> str:
        b = bytearray()
        i = 0
        while i < len(s):
            if s.startswith("\\x", i):
                b.append(int(s[i + 2 : i + 4], 16))
                i += 4
            elif s.startswith("\\\\", i):
                b.append(92)
                i += 2
            else:
                b += s[i].encode()
                i += 1
        return b.decode()

    def one(t: str, v: str) -> Any:
        if t in ("time", "interval", "double"):
            return float(v)
        if t in ("count", "int", "port"):
            return int(v)
        if t == "bool":
            return {"T": True, "F": False}[v]
        return text(v)

    if "[" in typ:  # set[T] / vector[T]
        inner = typ[typ.index("[") + 1 : -1]
        return [] if raw == "(empty)" else [one(inner, x) for x in raw.split(",")]
    return "" if raw == "(empty)" else one(typ, raw)


def reference_json(tsv: Path) -> list[str]:
    """The JSON writer's lines for a TSV log (unset fields left out, as Zeek's JSON does)."""
    out: list[str] = []
    fields: list[str] = []
    types: list[str] = []
    for line in tsv.read_text().splitlines():
        if line.startswith("#fields\t"):
            fields = line.split("\t")[1:]
        elif line.startswith("#types\t"):
            types = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rec = {
                f: _ref_value(t, v)
                for f, t, v in zip(fields, types, line.split("\t"), strict=True)
                if v != "-"
            }
            out.append(json.dumps(rec))
    return out


def _read_zeek_json(path: Path) -> list[dict[str, Any]]:
    """The JSON form read as a site configures it (``format: zeek``, kind from the name)."""
    cs = CollectorSettings()
    sink = ListSink()

    def handler_for(f: str, label: str) -> LineHandler:
        return LineHandler(
            f, cs, Enricher(cs), sink, source_kind="test", source=label, zeek_path=path.stem
        )

    read_file(path, "zeek", handler_for)
    return [e for _, e in sink.events]


def _comparable(ev: dict[str, Any]) -> dict[str, Any]:
    ev = json.loads(json.dumps(ev))
    ev["event"].pop("original")
    ev["event"].pop("ingested", None)
    ev["event"].pop("created", None)  # the collection time of each read
    ev.pop("log", None)
    ev.pop("socmon", None)  # the source label (file name) differs
    return ev


@pytest.mark.parametrize("tsv", LOGS, ids=[p.stem for p in LOGS])
def test_tsv_and_json_forms_give_the_same_events(tsv: Path, tmp_path: Path) -> None:
    lines = reference_json(tsv)
    jdir = tmp_path / "json"
    jdir.mkdir()
    jpath = jdir / tsv.name  # the log kind comes from the file name in the JSON form
    jpath.write_text("\n".join(lines) + "\n")
    from_tsv = [e for _, e in read_events(tsv)]
    from_json = _read_zeek_json(jpath)
    assert len(from_tsv) == len(lines) >= 2
    for t, j in zip(from_tsv, from_json, strict=True):
        assert "_parse_failure" not in t.get("tags", ()), t.get("error")
        assert t["event"]["dataset"] == f"zeek.{tsv.stem}"
        assert _comparable(t) == _comparable(j)


def test_values_of_the_documented_types() -> None:
    ev = {e["event"]["id"]: e for _, e in read_events(FIXTURES / "dns.log")}
    z = ev["C1Xkzz2MaGtLrc1Tla"]["zeek"]["dns"]
    assert z["query"] == "nx\ttab,d.example"  # \x09 and \x2c in a string
    assert z["answers"] == [] and "rtt" not in z and z["RD"] is True
    z = ev["CpmdRlaUoJLN3uIRa"]["zeek"]["dns"]
    assert z["answers"] == ["www.example.net", "93.184.216.34"]
    assert z["TTLs"] == [3600.0, 60.0] and z["id"]["resp_p"] == 53
    http = {e["event"]["id"]: e for _, e in read_events(FIXTURES / "http.log")}
    h = http["CBA8792iHmnhPLksKa"]
    assert h["url"]["domain"] == "-"  # a literal "-" is written \x2d, it is not unset
    assert h["zeek"]["http"]["tags"] == ["HTTP::URI_SQLI", "HTTP::POST_SQLI"]
    assert http["CLNN1k2QMum1aexUK7"]["user_agent"]["original"].endswith("café")
    files = [e for _, e in read_events(FIXTURES / "files.log")]
    assert files[1]["file"]["name"] == "C:\\temp\\evil.exe"
    assert files[1]["source"]["ip"] == "10.0.0.5"


def test_bad_records_counted_with_line_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (FIXTURES / "ssh.log").read_text().splitlines()
    # line 10: one field short; line 11: a bool that is neither T nor F
    short = "\t".join(text[8].split("\t")[:-1])
    badbool = text[8].replace("\t-\t0\t-\t", "\tX\t0\t-\t")
    p = tmp_path / "ssh.log"
    p.write_text("\n".join([*text[:9], short, badbool, *text[9:]]) + "\n")
    caplog.set_level("WARNING")
    counted = BAD_INPUT.labels("parse_failure", "test")
    before = counted._value.get()
    events = [e for _, e in read_events(p)]
    assert counted._value.get() - before == 2
    bad = [e for e in events if "_parse_failure" in e.get("tags", ())]
    assert len(events) == 4 and len(bad) == 2
    assert bad[0]["error"]["message"] == "zeek: 17 values for 18 #fields"
    assert "auth_success (bool)" in bad[1]["error"]["message"]
    where = [(r.__dict__.get("position"), r.__dict__.get("reason")) for r in caplog.records]
    assert ("line 10", "zeek: 17 values for 18 #fields") in where
    # the log is throttled per source (collectors.metrics.report_bad); the event says why


def test_records_before_a_header_are_failures() -> None:
    from socmon.collectors.parsers.jsonfmt import ZeekParser

    ev = ZeekParser()("1763632870.1\tCx\t10.0.0.1")
    assert ev["error"]["message"] == "zeek: Zeek TSV record before its #fields header"


def test_tailed_log_resumes_after_a_checkpoint_with_its_header(tmp_path: Path) -> None:
    """The file source skips header lines (no events) and, restarted inside the file, reads
    the header again so the records after the checkpoint are still parsed."""
    src = (FIXTURES / "conn.log").read_text().splitlines(keepends=True)
    first, rest = src[:10], src[10:]  # the header and two records, then the rest
    log = tmp_path / "conn.log"
    log.write_text("".join(first))
    cs = CollectorSettings(checkpoint_interval=0.01)
    cfg = FileSource(paths=[str(tmp_path / "*.log")], format="auto", start_at="beginning")
    sink = HoldSink()
    t = FileTailer(cfg, cs, sink, Enricher(cs), tmp_path / "cp", "t")
    t.poll()
    assert len(sink.events) == 2
    sink.ack_all()
    t.save_checkpoint(force=True)
    t.close()
    with open(log, "a") as f:
        f.writelines(rest)
        f.flush()
        os.fsync(f.fileno())
    sink2 = HoldSink()
    t2 = FileTailer(cfg, cs, sink2, Enricher(cs), tmp_path / "cp", "t")
    t2.poll()
    t2.close()
    evs = [e for _, e in sink2.events]
    assert len(evs) == 3  # two records of block 1 and one of block 2; no header line
    assert all("_parse_failure" not in e.get("tags", ()) for e in evs)
    assert [e["event"]["dataset"] for e in evs] == ["zeek.conn"] * 3
    all_ids = [i for i, _ in sink.events + sink2.events]
    assert len(set(all_ids)) == 5
    whole = ListSink()
    read_events(log, sink=whole)
    assert len(whole.events) == 5


def test_gz_log_resumed_inside_a_block(tmp_path: Path) -> None:
    """A .gz Zeek log acknowledged up to a header line, then the collector restarts: the
    record after it is read with the header lines before it (decompressed again). The
    ``#open`` line makes the record before it acknowledged there (a header line flushes)."""
    lines = (FIXTURES / "conn.log").read_text().splitlines(keepends=True)
    head, records = lines[:8], lines[8:12]  # block 1: header, four records
    with gzip.open(tmp_path / "conn.log.gz", "wt") as g:
        g.writelines([*head, *records[:3], "#open\t2026-11-20-10-30-00\n", records[3]])
    cs = CollectorSettings(checkpoint_interval=0.01)
    cfg = FileSource(paths=[str(tmp_path / "*.gz")], format="auto", read_gz=True)
    sink = HoldSink()
    t = FileTailer(cfg, cs, sink, Enricher(cs), tmp_path / "cp", "t")
    t.poll()
    assert len(sink.events) == 4
    sink.acks[0]()  # the first three records (acked where the #open line starts)
    t.save_checkpoint(force=True)
    t.close()
    sink2 = HoldSink()
    t2 = FileTailer(cfg, cs, sink2, Enricher(cs), tmp_path / "cp", "t")
    t2.poll()
    t2.close()
    (ev,) = [e for _, e in sink2.events]
    assert ev["event"]["id"] == "CwjjYJ2WqgTbAqiHl6" and "tags" not in ev
    assert ev["zeek"]["conn"]["proto"] == "icmp" and ev["event"]["dataset"] == "zeek.conn"


def test_header_line_handed_over_as_a_record_is_a_clear_failure() -> None:
    from socmon.collectors.parsers.jsonfmt import ZeekParser

    ev = ZeekParser()("#fields\tts\tuid")
    assert ev["error"]["message"] == "zeek: TSV header line outside a file input"
