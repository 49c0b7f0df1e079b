"""The bulk writer every component writes through.

- Batches by document count, bytes and time (``storage.batch_size``, ``batch_bytes``,
  ``flush_interval``); documents are serialised once, with orjson.
- Ids come from the caller (deterministic), and events use ``create``: a replay is answered
  409 per document and counted as a duplicate, never written twice.
- Whole-request failures (connection errors, 429, 5xx) and per-document 429/5xx are retried
  with exponential backoff; after ``max_retries`` the rest of the batch goes to the disk spool
  (``socmon.spool``), which a replayer drains into Elasticsearch when it answers again.
- Other per-document errors (mapping conflicts, ...) go to the dead-letter index with the reason.
- Memory is bounded: at most ``max_pending_batches`` full batches wait; then ``add`` blocks
  (backpressure on the producer).
- Each ``add`` may carry an ``ack`` callback, called once the document is durable (indexed,
  duplicate, dead-lettered or spooled). Acks are called in the order documents were added,
  across all sender threads, so a producer's checkpoint never passes a document that is not
  yet safe.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, Elasticsearch
from prometheus_client import Counter, Gauge, Histogram

from socmon.ids import doc_id as make_doc_id
from socmon.indices import IndexNames
from socmon.ingest_time import restamp_line
from socmon.metrics import REGISTRY
from socmon.settings import StorageSettings
from socmon.spool import SPOOL_DAMAGED, Segment, Spool, SpoolClosed

log = logging.getLogger(__name__)

Ack = Callable[[], None]
Op = Literal["create", "index"]

DOCS = Counter(
    "socmon_bulk_documents_total",
    "Documents handled by the bulk writer, by outcome "
    "(created, duplicate, dead_lettered, spooled, replayed).",
    ["outcome"],
    registry=REGISTRY,
)
BULK_SECONDS = Histogram(
    "socmon_bulk_request_duration_seconds",
    "Duration of bulk requests to Elasticsearch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RETRIES = Counter(
    "socmon_bulk_retries_total",
    "Bulk retries, by reason (connection, status_429, status_5xx, document_429, document_5xx).",
    ["reason"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "socmon_bulk_dead_lettered_documents_total",
    "Documents Elasticsearch rejected for good (e.g. mapping conflicts), written to the "
    "dead-letter index with the reason.",
    registry=REGISTRY,
)
PENDING = Gauge(
    "socmon_bulk_pending_batches",
    "Full batches waiting for a sender (producers block at storage.max_pending_batches).",
    registry=REGISTRY,
)

_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
_DAMAGED_ACTION = b'{"create":{}}\n'  # stands for the unreadable action of a damaged segment
_MAX_DEAD_LETTER_DOC = 32_000


class _Unreachable(Exception):
    """Elasticsearch did not accept the request after the allowed retries."""


@dataclass(slots=True)
class _Batch:
    seq: int
    lines: list[bytes] = field(default_factory=list)  # action, source, action, source, ...
    acks: list[Ack] = field(default_factory=list)
    nbytes: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def docs(self) -> int:
        return len(self.lines) // 2


def serialise(doc: Any) -> bytes:
    """orjson, falling back to json for what orjson refuses (e.g. integers over 64 bits)."""
    try:
        return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(doc, default=str, ensure_ascii=False).encode("utf-8", "replace")


class BulkWriter:
    def __init__(
        self,
        client: Elasticsearch,
        settings: StorageSettings,
        names: IndexNames,
        spool_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.names = names
        spool_at = spool_dir or settings.spool_dir
        if spool_at is None:  # a bare StorageSettings: Settings fills it from var_dir
            raise ValueError("no spool directory: pass spool_dir or set storage.spool_dir")
        self.spool = Spool(spool_at, settings.spool_max_bytes, settings.spool_full_policy)
        self._lock = threading.Lock()
        self._seq = 0
        self._buf = self._new_batch()
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=settings.max_pending_batches)
        # In-order acks: finished batches wait here until every earlier batch is finished.
        self._ack_cond = threading.Condition()
        self._finished: dict[int, list[Ack]] = {}
        self._next_ack = 1
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started = False
        self.counts: dict[str, int] = {
            "created": 0,
            "duplicate": 0,
            "dead_lettered": 0,
            "spooled": 0,
            "replayed": 0,
        }
        self._counts_lock = threading.Lock()

    # ---------------------------------------------------------------- producer side

    def _new_batch(self) -> _Batch:
        self._seq += 1
        return _Batch(self._seq)

    def add(
        self,
        index: str,
        doc_id: str | None,
        doc: dict[str, Any] | bytes,
        op: Op = "create",
        ack: Ack | None = None,
    ) -> None:
        """Queue one document; blocks when the writer is saturated (backpressure)."""
        meta: dict[str, Any] = {"_index": index}
        if doc_id is not None:
            meta["_id"] = doc_id
        action = b'{"' + op.encode() + b'":' + orjson.dumps(meta) + b"}\n"
        source = (doc if isinstance(doc, bytes) else serialise(doc)) + b"\n"
        full: _Batch | None = None
        with self._lock:
            b = self._buf
            b.lines.append(action)
            b.lines.append(source)
            b.nbytes += len(action) + len(source)
            if ack is not None:
                b.acks.append(ack)
            if b.docs >= self.settings.batch_size or b.nbytes >= self.settings.batch_bytes:
                full = b
                self._buf = self._new_batch()
        if full is not None:
            self._enqueue(full)

    def _enqueue(self, batch: _Batch) -> None:
        if not self._started:
            self.start()
        self._queue.put(batch)
        PENDING.set(self._queue.qsize())

    def _cut(self) -> int:
        """Send the partial batch now; returns the sequence number of the last batch cut."""
        with self._lock:
            b = self._buf
            if not b.lines and not b.acks:
                return b.seq - 1
            self._buf = self._new_batch()
        self._enqueue(b)
        return b.seq

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is buffered and wait until everything added so far is durable."""
        last = self._cut()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ack_cond:
            while self._next_ack <= last:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._ack_cond.wait(remaining if remaining is not None else 1.0)
        return True

    # ---------------------------------------------------------------- threads

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for i in range(self.settings.senders):
            self._spawn(self._send_loop, f"bulk-sender-{i}")
        self._spawn(self._flush_loop, "bulk-flusher")
        self._spawn(self._replay_loop, "spool-replayer")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def close(self, timeout: float | None = 60.0) -> None:
        """Flush, then stop the threads. What Elasticsearch did not take is in the spool."""
        self.flush(timeout)  # starts the threads if a partial batch is waiting
        if not self._started:
            return
        self._stopping.set()
        # the spool first: senders blocked on a full spool then write their batch (or give it
        # up unacknowledged on a refusing disk) and free the queue for the stop markers
        self.spool.close()
        for _ in range(self.settings.senders):
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._started = False

    def _flush_loop(self) -> None:
        interval = self.settings.flush_interval
        while not self._stopping.wait(min(interval / 4, 0.25)):
            with self._lock:
                b = self._buf
                due = (b.lines or b.acks) and time.monotonic() - b.started >= interval
            if due:
                self._cut()

    def _send_loop(self) -> None:
        while True:
            batch = self._queue.get()
            PENDING.set(self._queue.qsize())
            if batch is None:
                return
            try:
                try:
                    self._deliver_batch(batch)
                except SpoolClosed:
                    raise
                except Exception:  # never lose a batch to a bug: spool it
                    log.exception("bulk writer: unexpected error; spooling batch")
                    self._spool_lines(batch.lines)
            except SpoolClosed:
                # stopping while the spool's disk is full: not durable, so not acknowledged
                # (its producer re-reads it at the next start)
                log.error(
                    "bulk writer stopped with a batch neither in Elasticsearch nor spooled; "
                    "not acknowledged",
                    extra={"documents": batch.docs},
                )
                return
            self._finish(batch)

    def _finish(self, batch: _Batch) -> None:
        with self._ack_cond:
            self._finished[batch.seq] = batch.acks
            while self._next_ack in self._finished:
                for ack in self._finished.pop(self._next_ack):
                    try:
                        ack()
                    except Exception:
                        log.exception("bulk writer: ack callback failed")
                self._next_ack += 1
            self._ack_cond.notify_all()

    # ---------------------------------------------------------------- delivery

    def _count(self, outcome: str, n: int) -> None:
        if n:
            DOCS.labels(outcome).inc(n)
            with self._counts_lock:
                self.counts[outcome] += n

    def _deliver_batch(self, batch: _Batch) -> None:
        if not batch.lines:
            return
        if len(self.spool):  # keep order: while the spool drains, new batches queue behind it
            self._spool_lines(batch.lines)
            return
        try:
            self._deliver(batch.lines, self.settings.max_retries)
        except _Unreachable as e:
            log.warning(
                "Elasticsearch unreachable; spooling to disk",
                extra={"documents": len(e.args[0]) // 2, "reason": e.args[1]},
            )
            self._spool_lines(e.args[0])

    def _spool_lines(self, lines: list[bytes]) -> None:
        if lines:
            self.spool.append(b"".join(lines), len(lines) // 2)
            self._count("spooled", len(lines) // 2)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.backoff_max, self.settings.backoff_initial * 2**attempt))

    def _deliver(self, lines: list[bytes], max_retries: int | None, account: bool = True) -> None:
        """Send until every document is durable; raise _Unreachable(lines_left, reason)
        after ``max_retries`` retries (``None``: retry for ever, used by the replayer)."""
        attempt = 0
        while lines:
            try:
                with BULK_SECONDS.time():
                    resp = self.client.perform_request(
                        "POST",
                        "/_bulk",
                        params={"filter_path": "errors,items.*.status,items.*.error"},
                        headers={
                            "content-type": "application/x-ndjson",
                            "accept": "application/json",
                        },
                        body=b"".join(lines),
                    )
                lines, reason = self._handle_items(lines, resp.body, account)
            except (TransportConnectionError, ConnectionTimeout) as e:
                reason = "connection"
                RETRIES.labels("connection").inc()
                last = str(e)
            except ApiError as e:
                status = e.meta.status
                if status not in _RETRYABLE_STATUS:
                    # The whole request was refused (e.g. 400 on a malformed body, 413 too
                    # large): split and retry halves so one bad document cannot block all.
                    lines = self._split_or_dead_letter(lines, status, str(e))
                    continue
                reason = "status_429" if status == 429 else "status_5xx"
                RETRIES.labels(reason).inc()
                last = f"HTTP {status}"
            except TransportError as e:
                reason = "connection"
                RETRIES.labels("connection").inc()
                last = str(e)
            else:
                if not lines:
                    return
                last = reason
            if max_retries is not None and attempt >= max_retries:
                raise _Unreachable(lines, last)
            if self._stopping.is_set() and max_retries is None:
                raise _Unreachable(lines, "stopping")
            time.sleep(self._backoff(attempt))
            attempt += 1

    def _handle_items(
        self, lines: list[bytes], body: Any, account: bool = True
    ) -> tuple[list[bytes], str]:
        """Account for each document; return the lines still to retry and why."""
        items = body.get("items", []) if isinstance(body, dict) else []
        n = len(lines) // 2
        if isinstance(body, dict) and not body.get("errors") and len(items) == n:
            if account:
                self._count("created", n)
            return [], ""
        retry: list[bytes] = []
        dead: list[tuple[bytes, bytes, int, dict[str, Any]]] = []
        created = dup = 0
        reason = ""
        for i in range(n):
            item = items[i] if i < len(items) else {"create": {"status": 503}}
            res = next(iter(item.values()))
            status = res.get("status", 500)
            if status < 300:
                created += 1
            elif status == 409:
                dup += 1
            elif status in _RETRYABLE_STATUS:
                retry += lines[2 * i : 2 * i + 2]
                reason = f"document_{'429' if status == 429 else '5xx'}"
            else:
                err = res.get("error")
                err = err if isinstance(err, dict) else {}
                dead.append((lines[2 * i], lines[2 * i + 1], int(status), err))
        if account:
            self._count("created", created)
            self._count("duplicate", dup)
        if retry:
            RETRIES.labels(reason).inc()
        if dead:
            self._dead_letter(dead)
        return retry, reason

    def _split_or_dead_letter(self, lines: list[bytes], status: int, reason: str) -> list[bytes]:
        if len(lines) <= 2:
            self._dead_letter([(lines[0], lines[1], status, {"type": "request", "reason": reason})])
            return []
        mid = (len(lines) // 4) * 2
        self._deliver(lines[:mid], self.settings.max_retries)
        return lines[mid:]

    def _dead_letter(self, dead: list[tuple[bytes, bytes, int, dict[str, Any]]]) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out: list[bytes] = []
        for action, source, status, error in dead:
            meta = next(iter(orjson.loads(action).values()))
            index, did = meta.get("_index", ""), meta.get("_id")
            reason = error.get("reason", "")
            caused = error.get("caused_by", {}).get("reason")
            if caused:
                reason = f"{reason}: {caused}"
            doc = {
                "@timestamp": now,
                "index": index,
                "doc_id": did,
                "status": status,
                "error_type": error.get("type", ""),
                "reason": reason,
                "document": source[:_MAX_DEAD_LETTER_DOC].decode("utf-8", "replace").rstrip("\n"),
            }
            log.error(
                "document rejected by Elasticsearch; dead-lettered",
                extra={"index": index, "doc_id": did, "status": status, "reason": reason},
            )
            dl_id = make_doc_id(index, did or source)
            dl_meta = orjson.dumps({"_index": self.names.deadletter, "_id": dl_id})
            out.append(b'{"index":' + dl_meta + b"}\n")
            out.append(orjson.dumps(doc) + b"\n")
        DEAD_LETTERS.inc(len(dead))
        self._count("dead_lettered", len(dead))
        try:
            self._deliver(out, self.settings.max_retries, account=False)
        except _Unreachable as e:
            self._spool_lines(e.args[0])

    # ---------------------------------------------------------------- spool replay

    def _replay_loop(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            seg = self.spool.oldest()
            if seg is None:
                self.spool.wait_for_data(1.0)
                continue
            try:
                self._replay(seg)
            except _Unreachable:
                self._stopping.wait(self._backoff(attempt))
                attempt = min(attempt + 1, 10)
                continue
            except Exception:  # a bug must not stop the replay for good
                log.exception("spool: replay failed; retrying", extra={"segment": str(seg.path)})
                self._stopping.wait(self._backoff(attempt))
                attempt = min(attempt + 1, 10)
                continue
            attempt = 0

    def _replay(self, seg: Segment) -> None:
        """Send one segment to Elasticsearch, then delete it; a damaged segment's whole
        documents are sent, the damaged rest is reported (log, counter, dead-letter index) and
        the file is moved to the spool's ``damaged/`` directory."""
        checked = self.spool.read(seg)
        self._deliver(self._restamp(checked.lines), 0)
        if not checked.reason:
            self.spool.remove(seg)
            self._count("replayed", seg.docs)
            log.info("spool: batch replayed", extra={"documents": seg.docs, "segment": seg.seq})
            return
        lost = max(seg.docs - checked.docs, 0)
        SPOOL_DAMAGED.inc(lost)
        kept = self.spool.quarantine(seg)
        log.error(
            "spool: damaged segment; its whole documents were replayed, the rest is lost",
            extra={
                "segment": seg.path.name,
                "path": str(kept),
                "reason": checked.reason,
                "replayed": checked.docs,
                "lost": lost,
            },
        )
        self._count("replayed", checked.docs)
        if checked.rest:
            source = b"".join(checked.rest)
            error = {"type": "spool_segment_damaged", "reason": f"{kept}: {checked.reason}"}
            self._dead_letter([(_DAMAGED_ACTION, source, 0, error)])

    def _restamp(self, lines: list[bytes]) -> list[bytes]:
        """Replayed events get ``event.ingested`` = now (socmon.ingest_time): scheduled
        detection windows on it, so a batch spooled for hours is still examined."""
        prefix = b'"_index":"' + self.names.prefix.encode() + b"-events-"
        out = list(lines)
        for i in range(0, len(out) - 1, 2):
            if prefix in out[i]:
                out[i + 1] = restamp_line(out[i + 1])
        return out

    def drained(self) -> bool:
        """True when nothing is buffered, queued or spooled."""
        with self._lock:
            buffered = bool(self._buf.lines)
        return not buffered and self._queue.empty() and len(self.spool) == 0
