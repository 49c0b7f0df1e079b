"""Spool faults found by the fault suite (tests/faults): a full disk under the spool and a
damaged (truncated) segment."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.bulk import BulkWriter
from socmon.es import make_client
from socmon.indices import IndexNames
from socmon.settings import Settings, load_settings
from socmon.spool import SPOOL_WRITE_ERRORS
from socmon.storage_sink import StorageSink

from .test_storage import ecs_event, refresh_count

pytestmark = pytest.mark.es

DEAD = load_settings(es={"url": "http://127.0.0.1:1", "request_timeout": 1})


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted on ``path`` (needs root: skipped, visibly, without)."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _errors() -> float:
    return sum(s.value for m in SPOOL_WRITE_ERRORS.collect() for s in m.samples)


def test_a_full_disk_blocks_the_spool_and_it_resumes_when_space_frees(
    names: IndexNames, settings: Settings, tmp_path: Path
) -> None:
    """Before: the disk's ENOSPC escaped the sender threads, which died; the writer never
    acknowledged anything again, even once space was back."""
    with small_disk(tmp_path / "disk", "1m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 800 * 1024)  # ~200 KiB left; the batches need ~530
        st = settings.storage.model_copy(update={"batch_size": 50, "max_retries": 0})
        w = BulkWriter(make_client(DEAD.es), st, names, spool_dir=disk / "spool")
        sink = StorageSink(w, names)
        acked: list[int] = []
        errors_before = _errors()

        def produce() -> None:
            for i in range(1000):
                sink.emit(f"d-{i}", ecs_event(i), lambda i=i: acked.append(i))

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        deadline = time.monotonic() + 60
        while _errors() == errors_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _errors() > errors_before, "the disk never refused a segment"
        time.sleep(1)
        stalled = len(acked)
        assert stalled < 1000  # blocked: nothing acknowledged that is not in the spool
        filler.unlink()  # space frees up
        producer.join(60)
        assert w.flush(60)
        assert acked == list(range(1000))
        assert sum(s.docs for s in w.spool._segments) == 1000
        w.close(timeout=5)


def _cut(segment: Path, after_line: int, extra: int) -> int:
    """Cut ``segment`` after ``after_line`` whole lines plus ``extra`` bytes; returns the
    number of whole documents left (independently of the code under test)."""
    body = segment.read_bytes()
    lines = body.splitlines(keepends=True)
    cut = sum(len(x) for x in lines[:after_line]) + extra
    segment.write_bytes(body[:cut])
    return after_line // 2


def test_a_truncated_segment_is_reported_and_nothing_else_is_lost(
    es_client: Elasticsearch, names: IndexNames, settings: Settings, tmp_path: Path
) -> None:
    """Two segments cut (one inside a document's source, one just after an action line: the
    replayer used to die on that one, leaving the spool stuck); every other document reaches
    Elasticsearch, the damaged tails go to the dead-letter index with the segment's path."""
    spool_dir = tmp_path / "spool"
    st = settings.storage.model_copy(update={"batch_size": 100, "max_retries": 0})
    w1 = BulkWriter(make_client(DEAD.es), st, names, spool_dir=spool_dir)
    sink = StorageSink(w1, names)
    for i in range(1000):
        sink.emit(f"t-{i}", ecs_event(i), None)
    assert w1.flush(60)
    w1.close(timeout=5)
    segments = sorted(spool_dir.glob("*.ndjson"))
    assert len(segments) == 10
    whole_a = _cut(segments[3], 2 * 40 + 1, 25)  # inside the 41st document's source
    whole_b = _cut(segments[6], 2 * 70 + 1, 0)  # right after the 71st document's action
    expected = 1000 - (100 - whole_a) - (100 - whole_b)

    w2 = BulkWriter(es_client, st, names, spool_dir=spool_dir)
    w2.start()
    deadline = time.monotonic() + 60
    while len(w2.spool) and time.monotonic() < deadline:
        time.sleep(0.1)
    # the replayer is alive: new documents still get through
    StorageSink(w2, names).emit("after", ecs_event(1000), None)
    assert w2.flush(30)
    w2.close()
    assert len(w2.spool) == 0
    assert refresh_count(es_client, names.events_pattern) == expected + 1
    assert sorted(p.name for p in (spool_dir / "damaged").iterdir()) == sorted(
        [segments[3].name, segments[6].name]
    )
    es_client.indices.refresh(index=names.deadletter)
    dead = es_client.search(index=names.deadletter, size=10)["hits"]["hits"]
    reasons = sorted(h["_source"]["reason"] for h in dead)
    assert len(reasons) == 2
    assert segments[3].name in reasons[0] + reasons[1]
    assert segments[6].name in reasons[0] + reasons[1]
    assert all(h["_source"]["error_type"] == "spool_segment_damaged" for h in dead)
