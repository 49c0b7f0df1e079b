"""File following without Elasticsearch: rotation (rename+create, copytruncate), truncation,
checkpoints written from acks only, start at end, over-long lines, invalid UTF-8, deletion."""

from __future__ import annotations

import os
from pathlib import Path

from collectors.enrich import Enricher
from collectors.sources.files import FileTailer
from socmon.pipeline import Ack, Event
from socmon.settings.collectors import CollectorSettings, FileSource


class HoldSink:
    """Collects events; acks only when told (like the storage sink once durable)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []
        self.acks: list[Ack] = []

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.events.append((doc_id, event))
        if ack is not None:
            self.acks.append(ack)

    def ack_all(self) -> None:
        for a in self.acks:
            a()
        self.acks.clear()

    def lines(self) -> list[str]:
        return [e["event"]["original"] for _, e in self.events]


def _tailer(tmp: Path, sink: HoldSink, start_at: str = "beginning", **kw) -> FileTailer:
    cs = CollectorSettings(max_line_bytes=kw.pop("max_line_bytes", 65536), checkpoint_interval=0.01)
    cfg = FileSource(paths=[str(tmp / "*.log")], format="syslog", start_at=start_at)
    return FileTailer(cfg, cs, sink, Enricher(cs), tmp / "cp", "t")


def _line(i: int) -> str:
    return f"Jan  1 00:00:00 h app[1]: line {i}\n"


def test_rotation_rename_and_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(_line(0) + _line(1))
    sink = HoldSink()
    t = _tailer(tmp_path, sink)
    t.poll()
    assert len(sink.events) == 2
    # rename + create
    with open(log, "a") as f:
        f.write(_line(2))
    os.rename(log, tmp_path / "a.log.1")
    log.write_text(_line(3))
    t.poll()
    t.poll()
    assert [x.split("line ")[1] for x in sink.lines()] == ["0", "1", "2", "3"]
    # copytruncate: same inode, content starts again
    with open(log, "r+") as f:
        f.truncate(0)
    with open(log, "a") as f:
        f.write(_line(4) + _line(5))
    t.poll()
    assert [x.split("line ")[1] for x in sink.lines()][-2:] == ["4", "5"]
    ids = [i for i, _ in sink.events]
    assert len(set(ids)) == len(ids)


def test_checkpoint_only_from_acks_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(_line(i) for i in range(5)))
    sink = HoldSink()
    t = _tailer(tmp_path, sink)
    t.poll()
    t.save_checkpoint(force=True)
    t.close()
    # nothing acked: a restart reads everything again, with the same ids
    sink2 = HoldSink()
    t2 = _tailer(tmp_path, sink2)
    t2.poll()
    assert [i for i, _ in sink2.events] == [i for i, _ in sink.events]
    sink2.ack_all()
    t2.close()
    with open(log, "a") as f:
        f.write(_line(5))
    sink3 = HoldSink()
    t3 = _tailer(tmp_path, sink3, start_at="end")
    t3.poll()
    assert [x.split("line ")[1].strip() for x in sink3.lines()] == ["5"]


def test_start_at_end_and_bad_lines(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"old line\n")
    sink = HoldSink()
    t = _tailer(tmp_path, sink, start_at="end", max_line_bytes=300)
    t.poll()
    assert sink.events == []
    with open(log, "ab") as f:
        f.write(b"Jan  1 00:00:00 h app: caf\xe9 \xff\n")
        f.write(b"Jan  1 00:00:00 h app: " + b"A" * 1000 + b"\n")
        f.write(b"\x00\x01\x02binary\n")
        f.write(b"Jan  1 00:00:00 h app: after\n")
    t.poll()
    evs = [e for _, e in sink.events]
    assert len(evs) == 4
    assert "_invalid_utf8" in evs[0]["tags"]
    assert "_truncated" in evs[1]["tags"] and len(evs[1]["event"]["original"]) <= 300
    assert "_binary" in evs[2]["tags"]
    assert evs[3]["message"] == "after"


def test_file_deleted_while_read(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(_line(0))
    sink = HoldSink()
    t = _tailer(tmp_path, sink)
    t.poll()
    with open(log, "a") as f:
        f.write(_line(1))
    log.unlink()
    t.poll()
    assert len(sink.events) == 2
    t.close()


def test_gz_read_once_on_request(tmp_path: Path) -> None:
    import gzip

    with gzip.open(tmp_path / "old.log.gz", "wt") as f:
        f.write(_line(0) + _line(1))
    cs = CollectorSettings(checkpoint_interval=0.01)
    cfg = FileSource(paths=[str(tmp_path / "*.gz")], format="syslog", read_gz=True)
    sink = HoldSink()
    t = FileTailer(cfg, cs, sink, Enricher(cs), tmp_path / "cp", "gz")
    t.poll()
    assert len(sink.events) == 2
    sink.ack_all()
    t.poll()
    t.close()
    sink2 = HoldSink()
    t2 = FileTailer(cfg, cs, sink2, Enricher(cs), tmp_path / "cp", "gz")
    t2.poll()
    assert sink2.events == []  # done: not read again


def test_syslog_framing_and_overlong_octet_frames() -> None:
    from collectors.lines import LineHandler
    from collectors.sources.syslog_server import SyslogServer
    from socmon.settings.collectors import SyslogSource

    cs = CollectorSettings()
    sink = HoldSink()
    srv = SyslogServer(SyslogSource(protocol="tcp", max_message_bytes=300), cs, sink, Enricher(cs))
    h = LineHandler("syslog", cs, srv.enricher, sink, source_kind="syslog", source="t")
    big = b"<13>Jan  1 00:00:00 h a: " + b"x" * 1000
    frame = str(len(big)).encode() + b" " + big
    first, rest = frame[:600], frame[600:] + b"11 <13>ok tail"
    buf, skip = srv._frames(h, first, ("127.0.0.1", 1), 300)
    assert (buf, skip) == (b"", len(frame) - 600)
    data = rest[skip:]
    buf, skip = srv._frames(h, data, ("127.0.0.1", 1), 300)
    msgs = [e for _, e in sink.events]
    assert len(msgs) == 2 and "_truncated" in msgs[0]["tags"]
    assert msgs[1]["event"]["original"] == "<13>ok tail"
    assert msgs[1]["log"]["source"]["ip"] == "127.0.0.1"
