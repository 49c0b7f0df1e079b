"""A disk spool for bulk batches that could not reach Elasticsearch.

Each batch is one append-only segment file ``<seq>-<docs>.ndjson`` holding the exact bulk
request body, written to a temporary name, fsynced and renamed, so a crash leaves either the
whole segment or none (and then the producer's checkpoint was not advanced, so it re-reads).
Segments are replayed oldest first and deleted only after Elasticsearch accepted every
document in them. The spool lives on disk and survives a restart.

When the spool reaches ``max_bytes``: policy ``block`` makes ``append`` wait for space
(producers stall, nothing is lost); policy ``drop_oldest`` deletes the oldest segments and
counts the documents dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
SPOOL_WRITTEN = Counter(
    "socmon_spool_written_documents_total",
    "Documents written to the disk spool.",
    registry=REGISTRY,
)


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
        """Durably store one batch; blocks or drops per policy when full."""
        with self._cond:
            while self.size_bytes + len(body) > self.max_bytes and self._segments:
                if self.policy == "drop_oldest":
                    victim = self._segments.pop(0)
                    victim.path.unlink(missing_ok=True)
                    SPOOL_DROPPED.inc(victim.docs)
                    log.error(
                        "spool full: dropped oldest batch",
                        extra={"documents": victim.docs, "path": str(victim.path)},
                    )
                else:
                    log.warning("spool full: blocking producers until it drains")
                    self._cond.wait(timeout=5)
                    if self._closed:
                        break
            seq = self._next_seq
            self._next_seq += 1
        path = self.dir / f"{seq:016d}-{docs}.ndjson"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        with self._cond:
            self._segments.append(Segment(seq, docs, path, len(body), time.time()))
            self._segments.sort()
            SPOOL_WRITTEN.inc(docs)
            self._update_metrics()
            self._cond.notify_all()

    def oldest(self) -> Segment | None:
        with self._cond:
            self._update_metrics()
            return self._segments[0] if self._segments else None

    def read(self, seg: Segment) -> bytes:
        return seg.path.read_bytes()

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
