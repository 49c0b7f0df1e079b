"""Rotation against the real Elasticsearch, counted there: every line exactly once.

- rename rotation with a glob matching both names (the renamed file is followed, not read
  again: no duplicates at all, not even deduplicated ones);
- a .gz copy of lines already read (skipped: same identity, resumed at the acked offset) and a
  .gz holding lines not read yet (read from where the plain file was, with the ids they would
  have had there);
- rotation (rename + create, copytruncate) while the collector is stopped;
- kill -9 of ``socmon collect`` around rotations (rename, compression, copytruncate), with
  rotations while it is down.

Each test reads back every stored ``event.original`` and compares the multiset with the lines
written (a count alone could hide one line lost and another stored twice).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.files import FileTailer
from socmon.indices import IndexNames
from socmon.pipeline import Ack, Event
from socmon.settings import Settings
from socmon.settings.collectors import FileSource
from socmon.storage_sink import StorageSink
from tests.collectors.test_es import _collect, _collect_config, _count, _stop, _writer

pytestmark = pytest.mark.es


def _stored(es: Elasticsearch, names: IndexNames) -> Counter[str]:
    es.indices.refresh(index=names.events_pattern, ignore_unavailable=True, allow_no_indices=True)
    return Counter(
        h["_source"]["event"]["original"]
        for h in helpers.scan(
            es,
            index=names.events_pattern,
            query={"query": {"match_all": {}}},
            _source=["event.original"],
            ignore_unavailable=True,
        )
    )


class _Lines:
    """Numbered syslog lines, and what was written."""

    def __init__(self) -> None:
        self.n = 0
        self.written: list[str] = []

    def write(self, path: Path, k: int) -> None:
        out = []
        for _ in range(k):
            out.append(f"Jan  1 00:00:00 h app[1]: line {self.n:07d} {'x' * 30}")
            self.n += 1
        with open(path, "a") as f:
            f.write("".join(x + "\n" for x in out))
        self.written += out


class _CountingSink:
    def __init__(self, inner: StorageSink) -> None:
        self.inner = inner
        self.emitted = 0

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.emitted += 1
        self.inner.emit(doc_id, event, ack)


class _Run:
    """One life of a file collector (in process) writing to Elasticsearch."""

    def __init__(
        self, settings: Settings, es: Elasticsearch, names: IndexNames, tmp: Path, **src: Any
    ) -> None:
        cs = settings.collectors.model_copy(update={"checkpoint_interval": 0.05})
        cfg = FileSource(paths=[str(tmp / "app.log*")], format="syslog", poll_interval=0.05, **src)
        self.writer = _writer(es, settings, names)
        self.sink = _CountingSink(StorageSink(self.writer, names))
        self.tailer = FileTailer(cfg, cs, self.sink, Enricher(cs), tmp / "cp", "rot")

    def polls(self, k: int = 3) -> None:
        for _ in range(k):
            self.tailer.poll()
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.writer.flush(30)
        self.tailer.close()
        self.writer.close()


def _check(es: Elasticsearch, names: IndexNames, lines: _Lines) -> Counter[str]:
    got = _stored(es, names)
    want = Counter(lines.written)
    assert got == want, (
        f"lost {sum((want - got).values())}, extra {sum((got - want).values())} "
        f"of {len(lines.written)}"
    )
    return got


def test_rename_rotation_glob_matching_both_names(es_client, names, settings, tmp_path) -> None:
    log = tmp_path / "app.log"
    lines = _Lines()
    lines.write(log, 500)
    run = _Run(settings, es_client, names, tmp_path, start_at="beginning")
    run.polls()
    for r in range(3):
        lines.write(log, 200)  # unread when the rename happens
        for i in range(r, -1, -1):
            p = tmp_path / f"app.log.{i + 1}"
            if p.exists():
                p.rename(tmp_path / f"app.log.{i + 2}")
        log.rename(tmp_path / "app.log.1")
        lines.write(tmp_path / "app.log.1", 10)  # late writes to the renamed file
        lines.write(log, 300)
        run.polls()
    run.stop()
    _check(es_client, names, lines)
    # the renamed files were followed, not read again from 0: nothing even deduplicated
    assert run.sink.emitted == len(lines.written) == 2030
    assert run.writer.counts["duplicate"] == 0
    assert run.writer.counts["created"] == 2030


def test_gz_copy_of_read_lines_is_not_stored_twice(es_client, names, settings, tmp_path) -> None:
    log = tmp_path / "app.log"
    lines = _Lines()
    lines.write(log, 1000)
    run = _Run(settings, es_client, names, tmp_path, start_at="beginning", read_gz=True)
    run.polls()
    assert run.writer.flush(30)  # acked: a copy of these lines is skipped, not re-sent
    # logrotate with delaycompress: app.log -> app.log.1, next time app.log.1 -> .2.gz
    log.rename(tmp_path / "app.log.1")
    lines.write(log, 100)
    run.polls()
    assert run.writer.flush(30)
    with (
        open(tmp_path / "app.log.1", "rb") as src,
        gzip.open(tmp_path / "app.log.2.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    (tmp_path / "app.log.1").unlink()
    log.rename(tmp_path / "app.log.1")
    lines.write(log, 100)
    run.polls(5)
    assert run.writer.flush(30)
    run.polls(3)  # the .gz is done once acked
    run.stop()
    _check(es_client, names, lines)
    assert run.sink.emitted == 1200  # the .gz copy was recognised and skipped
    assert run.writer.counts["duplicate"] == 0
    # while stopped: the rest of app.log.1 never read as plain text, compressed
    lines.write(tmp_path / "app.log.1", 50)
    with (
        open(tmp_path / "app.log.1", "rb") as src,
        gzip.open(tmp_path / "app.log.3.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    (tmp_path / "app.log.1").unlink()
    # and a .gz copy (gzip -k) of what app.log has, all of it already read
    with open(log, "rb") as src, gzip.open(tmp_path / "app.log.copy.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    run2 = _Run(settings, es_client, names, tmp_path, start_at="beginning", read_gz=True)
    run2.polls(5)
    assert run2.writer.flush(30)
    run2.polls(3)
    run2.stop()
    _check(es_client, names, lines)
    assert run2.sink.emitted == 50  # only the 50 lines no one had read
    assert run2.writer.counts["duplicate"] == 0
    # a third start: every .gz is done, nothing is read
    run3 = _Run(settings, es_client, names, tmp_path, start_at="beginning", read_gz=True)
    run3.polls(3)
    run3.stop()
    assert run3.sink.emitted == 0
    assert _count(es_client, names) == 1250


def test_rotation_while_stopped(es_client, names, settings, tmp_path) -> None:
    log = tmp_path / "app.log"
    lines = _Lines()
    lines.write(log, 300)
    run = _Run(settings, es_client, names, tmp_path, start_at="end")
    run.polls()
    assert run.sink.emitted == 0  # first run: start at the end
    lines.written.clear()  # those 300 are not expected
    lines.write(log, 200)
    run.polls()
    run.stop()
    # stopped: more lines, rename + create, lines in the new file
    lines.write(log, 100)
    log.rename(tmp_path / "app.log.1")
    lines.write(log, 150)
    run = _Run(settings, es_client, names, tmp_path, start_at="end")
    run.polls()
    run.stop()
    _check(es_client, names, lines)
    assert run.sink.emitted == 250
    # stopped again: copytruncate (the copy matched by the glob), lines after the copy
    lines.write(log, 70)
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
    shutil.copyfile(log, tmp_path / "app.log.1")
    with open(log, "r+") as f:
        f.truncate(0)
    lines.write(log, 40)
    run = _Run(settings, es_client, names, tmp_path, start_at="end")
    run.polls()
    run.stop()
    _check(es_client, names, lines)
    assert run.sink.emitted == 110  # the copy resumed at the old offset, the new content whole
    assert run.writer.counts["duplicate"] == 0
    assert _count(es_client, names) == 560


def _rotate(tmp: Path, k: int, mode: str) -> None:
    """logrotate-like, with delaycompress: app.log.1 -> app.log.<k>.gz, app.log -> app.log.1
    (rename, or copy + truncate), a new app.log."""
    log, one = tmp / "app.log", tmp / "app.log.1"
    if one.exists():
        with open(one, "rb") as src, gzip.open(tmp / f"app.log.{k + 1}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        one.unlink()
    if mode == "rename":
        log.rename(one)
        log.touch()
    else:
        shutil.copyfile(log, one)
        with open(log, "r+") as f:
            f.truncate(0)


@pytest.mark.slow
def test_kill_9_around_rotations_exactly_once(
    es_client, es_url, names, index_prefix, tmp_path
) -> None:
    log = tmp_path / "app.log"
    lines = _Lines()
    lines.write(log, 2000)
    config = _collect_config(
        tmp_path,
        es_url,
        index_prefix,
        {"paths": [str(tmp_path / "app.log*")], "read_gz": True},
        batch_size=200,
        flush_interval=0.1,
    )
    stop = threading.Event()
    rotations = [0]
    lock = threading.Lock()

    def writer() -> None:
        # a steady writer that rotates every 1500 lines, alternating rename and copytruncate
        while not stop.is_set():
            with lock:
                lines.write(log, 50)
                if lines.n % 1500 < 50:
                    rotations[0] += 1
                    _rotate(tmp_path, rotations[0], "rename" if rotations[0] % 2 else "copy")
            time.sleep(0.01)

    w = threading.Thread(target=writer, daemon=True)
    p = _collect(config)
    w.start()
    kills = 0
    try:
        for _ in range(3):
            deadline = time.monotonic() + 60
            r0 = rotations[0]
            while rotations[0] == r0:  # kill just after a rotation
                assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(0.05)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
            kills += 1
            time.sleep(1.0)  # writes and maybe a rotation while it is down
            p = _collect(config)
            time.sleep(1.5)
        stop.set()
        w.join(10)
        with lock:
            _rotate(tmp_path, rotations[0] + 1, "rename")  # one last rotation, then quiet
            lines.write(log, 10)
        n = len(lines.written)
        deadline = time.monotonic() + 90
        while _count(es_client, names) < n and time.monotonic() < deadline:
            assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
            time.sleep(0.2)
        time.sleep(1.5)  # anything still coming would be a duplicate
        got = _check(es_client, names, lines)
        assert sum(got.values()) == n
    finally:
        stop.set()
        _stop(p)
    print(f"{kills} kills, {rotations[0] + 1} rotations, {n} lines exactly once", file=sys.stderr)
