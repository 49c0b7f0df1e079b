"""File following without Elasticsearch: rotation (rename+create, copytruncate), truncation,
checkpoints written from acks only, start at end, over-long lines, invalid UTF-8, deletion."""

from __future__ import annotations

import os
from pathlib import Path

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.files import FileTailer
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
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.sources.syslog_server import SyslogServer
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


# ---------------------------------------------------------------- identity by inode and content


def _glob_tailer(tmp: Path, sink: HoldSink, pattern: str, **kw) -> FileTailer:
    cs = CollectorSettings(checkpoint_interval=0.01)
    cfg = FileSource(paths=[str(tmp / pattern)], format="syslog", **kw)
    return FileTailer(cfg, cs, sink, Enricher(cs), tmp / "cp", "t")


def _nums(sink: HoldSink) -> list[int]:
    return [int(x.split("line ")[1]) for x in sink.lines()]


def _ids_of(sink: HoldSink) -> dict[int, str]:
    return {int(e["event"]["original"].split("line ")[1]): i for i, e in sink.events}


def test_rename_followed_when_the_glob_matches_both_names(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(_line(0) + _line(1))
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="beginning")
    t.poll()
    with open(log, "a") as f:
        f.write(_line(2))
    os.rename(log, tmp_path / "a.log.1")
    log.write_text(_line(3))
    t.poll()
    with open(tmp_path / "a.log.1", "a") as f:  # a late write to the renamed file
        f.write(_line(4))
    t.poll()
    t.poll()
    assert sorted(_nums(sink)) == [0, 1, 2, 3, 4]  # a.log.1 not read again from 0
    assert any(x.path.endswith("a.log.1") for x in t.files.values())
    sink.ack_all()
    t.close()
    # restart: both names resume where they were, nothing read again
    sink2 = HoldSink()
    t2 = _glob_tailer(tmp_path, sink2, "a.log*", start_at="beginning")
    t2.poll()
    assert sink2.events == []


def test_restart_after_rotation_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(_line(0) + _line(1))
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="end")
    t.poll()
    assert sink.events == []  # first run, start at end
    with open(log, "a") as f:
        f.write(_line(2))
    t.poll()
    sink.ack_all()
    t.close()
    # while stopped: more lines, rename + create, the new file gets lines too
    with open(log, "a") as f:
        f.write(_line(3))
    os.rename(log, tmp_path / "a.log.1")
    log.write_text(_line(4) + _line(5))
    sink2 = HoldSink()
    t2 = _glob_tailer(tmp_path, sink2, "a.log*", start_at="end")
    t2.poll()
    # the rest of the old file and the whole new file (start_at is for the first run only)
    assert sorted(_nums(sink2)) == [3, 4, 5]
    sink2.ack_all()
    t2.close()
    # copytruncate while stopped, the copy matched by the glob
    with open(log, "a") as f:
        f.write(_line(6))
    (tmp_path / "a.log.1").rename(tmp_path / "a.log.2")
    (tmp_path / "a.log.1").write_bytes(log.read_bytes())
    with open(log, "r+") as f:
        f.truncate(0)
    log.write_text(_line(7))
    sink3 = HoldSink()
    t3 = _glob_tailer(tmp_path, sink3, "a.log*", start_at="end")
    t3.poll()
    assert sorted(_nums(sink3)) == [6, 7]


def test_copytruncate_copy_keeps_the_ids(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(_line(i) for i in range(200)))  # > 4 KiB
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="beginning")
    t.poll()
    sink.ack_all()
    t.poll()
    with open(log, "a") as f:
        f.write(_line(200))
    (tmp_path / "a.log.1").write_bytes(log.read_bytes())  # the copy, before we read line 200
    with open(log, "r+") as f:
        f.truncate(0)
    log.write_text(_line(201))
    t.poll()
    t.poll()
    ids = [i for i, _ in sink.events]
    assert sorted(_nums(sink)) == list(range(202))  # the copy: only its unread line
    assert len(set(ids)) == 202
    # line 200 has the id it would have had read from a.log
    from socmon.ids import IdPrefix

    st = os.stat(tmp_path / "a.log")
    (tf0,) = [s for s in t.known.values() if s.get("gone")]
    assert tf0["ino"] == st.st_ino
    assert _ids_of(sink)[200] == IdPrefix(tf0["id"]).id(sum(len(_line(i)) for i in range(200)))


def test_same_first_line_after_truncation_gets_new_ids(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    banner = "Jan  1 00:00:00 h app[1]: started\n"
    log.write_text(banner + _line(1) + _line(2))
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log", start_at="beginning")
    t.poll()
    with open(log, "r+") as f:
        f.truncate(0)
    log.write_text(banner + _line(8) + _line(9) + _line(10))  # longer than before
    t.poll()
    ids = [i for i, _ in sink.events]
    assert len(sink.events) == 7 and len(set(ids)) == 7


def test_gz_copy_of_read_file_is_skipped_and_keeps_ids(tmp_path: Path) -> None:
    import gzip

    from socmon.ids import IdPrefix

    log = tmp_path / "a.log"
    log.write_text("".join(_line(i) for i in range(200)))  # > 4 KiB
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="beginning", read_gz=True)
    t.poll()
    sink.ack_all()
    (tf,) = t.files.values()
    ident = tf.ident
    t.close()
    # while stopped: two more lines, then rotated and compressed (the plain file deleted)
    with open(log, "a") as f:
        f.write(_line(200) + _line(201))
    with gzip.open(tmp_path / "a.log.1.gz", "wb") as g:
        g.write(log.read_bytes())
    log.unlink()
    log.write_text(_line(202))
    sink2 = HoldSink()
    t2 = _glob_tailer(tmp_path, sink2, "a.log*", start_at="beginning", read_gz=True)
    t2.poll()
    t2.poll()
    assert sorted(_nums(sink2)) == [200, 201, 202]  # the 200 read lines are skipped
    # the lines of the .gz have the ids they would have had read from a.log
    assert _ids_of(sink2)[200] == IdPrefix(ident).id(sum(len(_line(i)) for i in range(200)))
    sink2.ack_all()
    t2.poll()
    t2.poll()
    t2.close()
    sink3 = HoldSink()
    t3 = _glob_tailer(tmp_path, sink3, "a.log*", start_at="beginning", read_gz=True)
    t3.poll()
    t3.poll()
    assert sink3.events == []


def test_copy_of_a_short_file_keeps_only_the_verified_ids(tmp_path: Path) -> None:
    """A file that merely starts like a short known one (a CSV header, a banner) must not take
    the ids the short one will give its own next lines."""
    header = "Jan  1 00:00:00 h app[1]: header\n"
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(header)
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "*.log", start_at="beginning")
    t.poll()
    b.write_text(header + _line(1) + _line(2))  # same first bytes, other lines
    t.poll()
    with open(a, "a") as f:
        f.write(_line(3) + _line(4))
    t.poll()
    t.poll()
    ids = [i for i, _ in sink.events]
    # b's header is a's (same id, stored once); every other line has its own id
    assert len(sink.events) == 6 and len(set(ids)) == 5
    assert sorted(x[-1] for x in sink.lines() if "line" in x) == ["1", "2", "3", "4"]
    # the ids survive a restart
    sink.ack_all()
    t.close()
    for p in (a, b):
        with open(p, "a") as f:
            f.write(_line(9))
    sink2 = HoldSink()
    t2 = _glob_tailer(tmp_path, sink2, "*.log", start_at="beginning")
    t2.poll()
    assert len(sink2.events) == 2 and not set(i for i, _ in sink2.events) & set(ids)


def test_gz_still_being_written_is_read_once_complete(tmp_path: Path) -> None:
    import gzip

    data = "".join(_line(i) for i in range(2000)).encode()
    whole = gzip.compress(data)
    gz = tmp_path / "b.log.gz"
    gz.write_bytes(whole[: len(whole) // 2])
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "*.gz", read_gz=True)
    t.poll()
    t.poll()
    with open(gz, "ab") as f:
        f.write(whole[len(whole) // 2 :])
    for _ in range(3):
        t.poll()
    assert _nums(sink) == list(range(2000))


def test_hard_links_read_once(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text(_line(0))
    os.link(log, tmp_path / "b.log")
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "*.log", start_at="beginning")
    t.poll()
    t.poll()
    assert _nums(sink) == [0]


def test_version_1_checkpoint_migrated_without_reading_again(tmp_path: Path) -> None:
    import json

    from socmon.collectors.sources.files import fingerprint
    from socmon.ids import IdPrefix

    log = tmp_path / "a.log"
    log.write_text(_line(0) + _line(1))
    st = os.stat(log)
    fp = fingerprint(log.read_bytes())
    (tmp_path / "cp").mkdir()
    old = {"dev": st.st_dev, "ino": st.st_ino, "fp": fp}
    (tmp_path / "cp" / "t.json").write_text(
        json.dumps(
            {
                # version 1 kept a renamed file twice, once per path (read again from 0)
                str(tmp_path / "a.log.1"): {**old, "offset": 33},
                str(log): {**old, "offset": 2 * 33},
            }
        )
    )
    assert len(_line(0)) == 33
    with open(log, "a") as f:
        f.write(_line(2))
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="beginning")
    t.poll()
    assert _nums(sink) == [2]
    assert sink.events[0][0] == IdPrefix(f"file:{st.st_dev}:{st.st_ino}:{fp}").id(66)
    assert os.path.exists(tmp_path / "cp" / "t.json")
    sink.ack_all()
    t.close()
    saved = json.loads((tmp_path / "cp" / "t.json").read_text())
    assert saved["version"] == 2
    (s,) = saved["files"].values()
    assert s["offset"] == 99 and s["path"] == str(log)


def test_start_at_end_only_on_the_first_run(tmp_path: Path) -> None:
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "a.log*", start_at="end")
    t.poll()  # no file yet: the source has run, its checkpoint exists
    t.close()
    (tmp_path / "a.log").write_text(_line(0) + _line(1))  # appeared while stopped
    t2 = _glob_tailer(tmp_path, sink, "a.log*", start_at="end")
    t2.poll()
    assert _nums(sink) == [0, 1]


def test_version_1_gz_done_stays_done(tmp_path: Path) -> None:
    import gzip
    import json

    from socmon.collectors.sources.files import fingerprint

    gz = tmp_path / "old.log.gz"
    # random-ish content so that the compressed bytes hold a newline byte in their first KiB
    with gzip.open(gz, "wt") as f:
        f.write("".join(f"Jan  1 00:00:00 h app[{i * 7919 % 997}]: line {i}\n" for i in range(400)))
    st = os.stat(gz)
    cfp = fingerprint(gz.read_bytes()[:1024])
    assert cfp is not None
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "t.json").write_text(
        json.dumps(
            {str(gz): {"dev": st.st_dev, "ino": st.st_ino, "fp": cfp, "offset": 1, "done": True}}
        )
    )
    sink = HoldSink()
    t = _glob_tailer(tmp_path, sink, "*.gz", read_gz=True)
    t.poll()
    t.poll()
    assert sink.events == []
