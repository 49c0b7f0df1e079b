"""A disk spool for bulk batches that could not reach Elasticsearch.

Each batch is one append-only segment file ``<seq>-<docs>.ndjson`` holding the exact bulk
request body, written to a temporary name, fsynced and renamed, so a crash leaves either the
whole segment or none (and then the producer's checkpoint was not advanced, so it re-reads).
Segments are replayed oldest first and deleted only after Elasticsearch accepted every
document in them. The spool lives on disk and survives a restart.

When the spool reaches ``max_bytes``: policy ``block`` makes ``append`` wait for space
(producers stall, nothing is lost); policy ``drop_oldest`` deletes the oldest segments and
counts the documents dropped. A write the disk refuses (full, quota) is handled the same way:
retried when space frees (``block``) or after dropping the oldest segment (``drop_oldest``),
logged and counted, never raised into the writer's threads.

A segment that cannot be read back whole (cut by a disk fault or a copy) is detected on replay
(``check``): its whole documents are replayed, the damaged rest is reported with the segment's
path and the reason, and the file is kept under ``damaged/`` for inspection.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client import Counter, Gauge

from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

SPOOL_BYTES = Gauge("socmon_spool_bytes", "Bytes held in the disk spool.", registry=REGISTRY)
SPOOL_SEGMENTS = Gauge(
    "socmon_spool_segments", "Batches (segment files) held in the disk spool.", registry=REGISTRY
)
SPOOL_OLDEST_AGE = Gauge(
    "socmon_spool_oldest_batch_age_seconds",
    "Age of the oldest batch waiting in the disk spool (0 when empty).",
    registry=REGISTRY,
)
SPOOL_DROPPED = Counter(
    "socmon_spool_dropped_documents_total",
    "Documents dropped because the spool was full (policy drop_oldest).",
    registry=REGISTRY,
)
SPOOL_WRITE_ERRORS = Counter(
    "socmon_spool_write_errors_total",
    "Segment writes the disk refused (e.g. no space left), retried; by errno name.",
    ["reason"],
    registry=REGISTRY,
)
SPOOL_DAMAGED = Counter(
    "socmon_spool_damaged_documents_total",
    "Documents a spool segment announced (in its name) but did not hold whole when replayed.",
    registry=REGISTRY,
)
SPOOL_WRITTEN = Counter(
    "socmon_spool_written_documents_total",
    "Documents written to the disk spool.",
    registry=REGISTRY,
)


class SpoolClosed(Exception):
    """``append`` gave up because the spool was closed while it waited for space."""


@dataclass(frozen=True)
class Checked:
    """A segment read back: its whole (action, source) lines, the damaged rest, and why."""

    lines: list[bytes]
    rest: list[bytes]
    reason: str

    @property
    def docs(self) -> int:
        return len(self.lines) // 2


def _is_action(line: bytes) -> bool:
    try:
        meta = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(meta, dict) and len(meta) == 1 and next(iter(meta)) in ("create", "index")


def check(body: bytes, docs: int) -> Checked:
    """Split a segment into whole (action, source) pairs and a damaged tail."""
    lines = body.splitlines(keepends=True)
    i = 0
    while i + 1 < len(lines) and lines[i + 1].endswith(b"\n") and _is_action(lines[i]):
        i += 2
    good, rest = lines[:i], lines[i:]
    reason = ""
    if rest or i // 2 != docs:
        reason = (
            f"{i // 2} whole documents of the {docs} its name announces"
            + (f"; {len(rest)} damaged line(s) after them" if rest else "")
            + ("; the file ends without a newline" if body and not body.endswith(b"\n") else "")
        )
    return Checked(good, rest, reason)


@dataclass(frozen=True, order=True)
class Segment:
    seq: int
    docs: int
    path: Path
    size: int
    created: float


class Spool:
    def __init__(self, directory: Path, max_bytes: int, policy: str = "block") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.policy = policy
        self._cond = threading.Condition()
        self._segments: list[Segment] = []
        self._closed = False
        self._refused_since = 0.0  # monotonic time the disk started refusing writes (0: not)
        self._last_refusal_log = 0.0
        for p in sorted(self.dir.glob("*.ndjson")):
            try:
                seq_s, docs_s = p.stem.split("-")
                st = p.stat()
                self._segments.append(Segment(int(seq_s), int(docs_s), p, st.st_size, st.st_mtime))
            except (ValueError, OSError):
                log.warning("spool: ignoring unexpected file", extra={"path": str(p)})
        for tmp in self.dir.glob("*.tmp"):  # a crash mid-write: the producer re-reads it
            tmp.unlink(missing_ok=True)
        self._segments.sort()
        self._next_seq = (self._segments[-1].seq + 1) if self._segments else 1
        self._update_metrics()
        if self._segments:
            log.info(
                "spool: resuming with batches from a previous run",
                extra={"segments": len(self._segments), "bytes": self.size_bytes},
            )

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def __len__(self) -> int:
        with self._cond:
            return len(self._segments)

    def _update_metrics(self) -> None:
        SPOOL_BYTES.set(self.size_bytes)
        SPOOL_SEGMENTS.set(len(self._segments))
        SPOOL_OLDEST_AGE.set(time.time() - self._segments[0].created if self._segments else 0)

    def append(self, body: bytes, docs: int) -> None:
        """Durably store one batch; blocks or drops per policy when full (by size or because
        the disk refuses the write). Raises ``SpoolClosed`` if closed while blocked on a full
        disk (the batch is then not durable and must not be acknowledged)."""
        with self._cond:
            while self.size_bytes + len(body) > self.max_bytes and self._segments:
                if self.policy == "drop_oldest":
                    self._drop_oldest()
                else:
                    log.warning("spool full: blocking producers until it drains")
                    self._cond.wait(timeout=5)
                    if self._closed:
                        break
            seq = self._next_seq
            self._next_seq += 1
        path = self.dir / f"{seq:016d}-{docs}.ndjson"
        while True:
            try:
                self._write(path, body)
                break
            except OSError as e:
                self._refused(e, path)
        if self._refused_since:
            log.warning(
                "spool writes accepted again",
                extra={"refused_for_s": round(time.monotonic() - self._refused_since, 1)},
            )
            self._refused_since = 0.0
        with self._cond:
            self._segments.append(Segment(seq, docs, path, len(body), time.time()))
            self._segments.sort()
            SPOOL_WRITTEN.inc(docs)
            self._update_metrics()
            self._cond.notify_all()

    def _write(self, path: Path, body: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a partial write must not take the space
            raise
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _refused(self, e: OSError, path: Path) -> None:
        """The disk refused a segment: make room per policy, or wait for the replayer to."""
        reason = errno.errorcode.get(e.errno or 0, type(e).__name__)
        SPOOL_WRITE_ERRORS.labels(reason).inc()
        now = time.monotonic()
        if not self._refused_since or now - self._last_refusal_log >= 60:
            self._refused_since = self._refused_since or now
            self._last_refusal_log = now  # logged once, then once a minute
            log.error(
                "spool write refused by the disk; producers wait until space frees",
                extra={"path": str(path), "reason": str(e), "policy": self.policy},
            )
        with self._cond:
            if self._closed:
                raise SpoolClosed(str(e)) from e
            if self.policy == "drop_oldest" and self._segments:
                self._drop_oldest()
            else:
                self._cond.wait(timeout=5)

    def _drop_oldest(self) -> None:
        victim = self._segments.pop(0)
        victim.path.unlink(missing_ok=True)
        SPOOL_DROPPED.inc(victim.docs)
        self._update_metrics()
        log.error(
            "spool full: dropped oldest batch",
            extra={"documents": victim.docs, "path": str(victim.path)},
        )

    def oldest(self) -> Segment | None:
        with self._cond:
            self._update_metrics()
            return self._segments[0] if self._segments else None

    def read(self, seg: Segment) -> Checked:
        """The segment's whole documents, and what is damaged (see ``check``)."""
        return check(seg.path.read_bytes(), seg.docs)

    def quarantine(self, seg: Segment) -> Path:
        """Move a damaged segment (already replayed and reported) to ``damaged/``."""
        target = self.dir / "damaged" / seg.path.name
        target.parent.mkdir(exist_ok=True)
        with self._cond:
            os.replace(seg.path, target)
            self._segments = [s for s in self._segments if s.seq != seg.seq]
            self._update_metrics()
            self._cond.notify_all()
        return target

    def remove(self, seg: Segment) -> None:
        """Delete a segment once every document in it is durable in Elasticsearch."""
        with self._cond:
            seg.path.unlink(missing_ok=True)
            self._segments = [s for s in self._segments if s.seq != seg.seq]
            self._update_metrics()
            self._cond.notify_all()

    def wait_for_data(self, timeout: float) -> bool:
        with self._cond:
            if not self._segments:
                self._cond.wait(timeout)
            return bool(self._segments)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
