"""Random rotations (rename, copytruncate, compression of the previous file, as logrotate
with delaycompress does, and ``gzip -k`` copies), files that all start with the same line,
and random crashes of the file collector, against a model of
Elasticsearch (``create`` by id) and of the bulk writer (events buffered, stored, then acked;
a crash loses the buffer, or stores part of it without acking it): whatever the interleaving,
every line is stored exactly once. No Elasticsearch needed; the same scenarios are counted in
the real one in ``test_rotation_es.py``."""

from __future__ import annotations

import gzip
import os
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.files import FileTailer
from socmon.pipeline import Ack, Event
from socmon.settings.collectors import CollectorSettings, FileSource
from tests.collectors.test_rotation_es import _Lines, _rotate


class _ModelES:
    """``create`` by id: the first document with an id stays; acks once stored."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.docs: dict[str, str] = {}
        self.pending: list[tuple[str, str, Ack | None]] = []
        self.duplicates = 0

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.pending.append((doc_id, event["event"]["original"], ack))
        if self.rnd.random() < 0.05:
            self.flush()

    def _store(self, items: list[tuple[str, str, Ack | None]]) -> None:
        for doc_id, line, _ in items:
            if doc_id in self.docs:
                self.duplicates += 1
            else:
                self.docs[doc_id] = line

    def flush(self) -> None:
        items, self.pending = self.pending, []
        self._store(items)
        for _, _, ack in items:
            if ack is not None:
                ack()

    def crash(self) -> None:
        """kill -9: part of the buffer reached Elasticsearch without being acked."""
        items, self.pending = self.pending, []
        self._store(items[: self.rnd.randint(0, len(items))])


BANNER = "Jan  1 00:00:00 h app[1]: log file opened\n"


def _life(
    t: FileTailer,
    es: _ModelES,
    tmp: Path,
    lines: _Lines,
    rnd: random.Random,
    rot: list[int],
    banner: bool,
) -> None:
    log = tmp / "app.log"
    for _ in range(rnd.randint(1, 30)):
        if rnd.random() < 0.7:
            t.poll()
        if rnd.random() < 0.3:
            es.flush()
        lines.write(log, rnd.randint(1, 40))
        if rnd.random() < 0.15:
            rot[0] += 1
            _rotate(tmp, rot[0], rnd.choice(["rename", "copy"]))
            if banner:  # every file starts with the same line: copies must not be confused
                with open(log, "a") as f:
                    f.write(BANNER)
        if rnd.random() < 0.1 and (tmp / "app.log.1").exists():
            # gzip -k: a compressed copy of the rotated file, kept beside it
            k = f"app.log.k{rot[0]}-{rnd.randint(0, 10**6)}.gz"
            with open(tmp / "app.log.1", "rb") as src, gzip.open(tmp / k, "wb") as dst:
                shutil.copyfileobj(src, dst)
        if rnd.random() < 0.3:
            t.save_checkpoint()


@pytest.mark.parametrize("banner", [False, True])
@pytest.mark.parametrize("seed", range(25))
def test_random_rotations_and_crashes_exactly_once(tmp_path: Path, seed: int, banner: bool) -> None:
    rnd = random.Random(seed)
    lines = _Lines()
    if banner:
        (tmp_path / "app.log").write_text(BANNER)
    lines.write(tmp_path / "app.log", rnd.choice([3, 200]))
    es = _ModelES(rnd)
    cs = CollectorSettings(checkpoint_interval=0.05)
    cfg = FileSource(
        paths=[str(tmp_path / "app.log*")], format="syslog", start_at="beginning", read_gz=True
    )
    rot = [0]
    for _ in range(8):
        t = FileTailer(cfg, cs, es, Enricher(cs), tmp_path / "cp", "s")
        _life(t, es, tmp_path, lines, rnd, rot, banner)
        if rnd.random() < 0.3:  # a clean stop: the writer flushes, then the collector
            es.flush()
            t.close()
        else:
            es.crash()
            for tf in t.files.values():  # the process is gone: the kernel closes its files
                os.close(tf.fd)
    t = FileTailer(cfg, cs, es, Enricher(cs), tmp_path / "cp", "s")
    for _ in range(4):
        t.poll()
        es.flush()
    t.close()
    got = Counter(x for x in es.docs.values() if x != BANNER[:-1])
    want = Counter(lines.written)
    assert got == want, (
        f"{rot[0]} rotations: lost {sum((want - got).values())}, "
        f"extra {sum((got - want).values())} of {len(lines.written)}"
    )
