"""Follow files matched by glob patterns, like ``tail -F`` but exactly-once with Elasticsearch.

Per file we keep device, inode, a fingerprint (hash of the first line, at most 1 KiB) and the
offset. The checkpoint (a JSON file per source under ``checkpoint_dir``) is written only from
acknowledged offsets: the storage sink acks an event once it is in Elasticsearch, dead-lettered
or spooled, so after a kill -9 we re-read at most the unacknowledged tail, and re-read events
get the same ids (identity = inode + fingerprint, position = byte offset): nothing is lost,
nothing is duplicated.

Rotation:
- rename + create: the path now names another inode; the old file is drained to its end and
  closed once idle, the new file is read from its beginning;
- copytruncate / truncation: the file is shorter than our offset or its first line changed;
  we start again at 0 (with a new identity, so nothing collides);
- deletion while read: the open handle is drained and closed, counted and logged.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.lines import LineHandler
from collectors.metrics import BYTES, FILES_OPEN, report_bad
from collectors.parsers.registry import detect
from collectors.sources.polled import PolledSource
from socmon.settings.collectors import FileSource

log = logging.getLogger(__name__)

CHUNK = 1 << 20
FP_MAX = 1024
IDLE_CLOSE = 5.0  # seconds a rotated-away or deleted file stays open without new data


def fingerprint(head: bytes) -> str | None:
    """Hash of the first line (or of the first FP_MAX bytes); None until a line is complete."""
    nl = head.find(b"\n")
    if nl < 0:
        if len(head) < FP_MAX:
            return None
        nl = FP_MAX - 1
    return hashlib.blake2b(head[: nl + 1], digest_size=8).hexdigest()


def read_head(fd: int) -> bytes:
    try:
        return os.pread(fd, FP_MAX, 0)
    except OSError:
        return b""


@dataclass
class Tracked:
    path: str
    fd: int
    dev: int
    ino: int
    fp: str
    offset: int  # next byte to read
    handler: LineHandler
    acked: int = -1
    buf: bytearray = field(default_factory=bytearray)
    buf_start: int = 0
    skipping: bool = False  # discarding the rest of an over-long line
    rotated_at: float | None = None
    last_data: float = field(default_factory=time.monotonic)
    gz: bool = False
    gz_read: bool = False

    @property
    def identity(self) -> str:
        return f"file:{self.dev}:{self.ino}:{self.fp}"


class FileTailer(PolledSource[FileSource]):
    """One thread following one ``collectors.files[]`` entry."""

    thread_prefix = "tail"
    join_timeout = 10.0
    poll_failed = "file source poll failed; continuing"

    def _restore(self, saved: dict[str, dict[str, Any]]) -> None:
        self.files: dict[str, Tracked] = {}  # by path
        self.draining: list[Tracked] = []
        self.done_gz: dict[str, dict[str, Any]] = {}
        self._saved: dict[str, dict[str, Any]] = saved
        self._dirty = False
        self._first_scan = True
        self._last_save = 0.0

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Save the acknowledged positions and close every file (after the writer flushed)."""
        self.save_checkpoint(force=True)
        for tf in [*self.files.values(), *self.draining]:
            self._close(tf)
        self.files.clear()
        self.draining.clear()

    # ---------------------------------------------------------------- scanning

    def _paths(self) -> list[str]:
        out: list[str] = []
        for pattern in self.cfg.paths:
            for p in glob.glob(os.path.expanduser(pattern), recursive=True):
                if p.endswith(".tmp") or os.path.isdir(p):
                    continue
                if p.endswith(".gz") and not self.cfg.read_gz:
                    continue
                if any(Path(p).match(x) or p == x for x in self.cfg.exclude):
                    continue
                out.append(p)
        return sorted(set(out))

    def poll(self) -> int:
        """One pass: discover, detect rotation, read what is new. Returns lines read."""
        n = 0
        seen = set(self._paths())
        for path in seen:
            tf = self.files.get(path)
            if tf is None:
                tf = self._open(path, initial=self._first_scan)
                if tf is None:
                    continue
            n += self._check_and_read(tf)
        for path in list(self.files):
            if path not in seen:
                tf = self.files.pop(path)
                n += self._read(tf)
                if not os.path.exists(path):
                    report_bad(
                        "file_deleted", "file", path, tf.offset, "file deleted or moved away"
                    )
                tf.rotated_at = time.monotonic()
                self.draining.append(tf)
        for tf in list(self.draining):
            got = self._read(tf)
            n += got
            if got:
                tf.last_data = time.monotonic()
            elif time.monotonic() - tf.last_data > IDLE_CLOSE:
                self._flush_partial(tf)
                self.draining.remove(tf)
                self._close(tf)
        self._first_scan = False
        self.save_checkpoint()
        return n

    def _open(self, path: str, initial: bool) -> Tracked | None:
        if path in self.done_gz:
            return None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            report_bad("read_error", "file", path, 0, str(e))
            return None
        st = os.fstat(fd)
        head = read_head(fd)
        gz = path.endswith(".gz")
        fp = fingerprint(head)
        if fp is None:  # not even one complete line yet: try again next poll
            os.close(fd)
            return None
        saved = self._saved.get(path)
        if (
            saved
            and saved.get("ino") == st.st_ino
            and saved.get("dev") == st.st_dev
            and saved.get("fp") == fp
        ):
            offset = int(saved.get("offset", 0))
            if gz and saved.get("done"):
                os.close(fd)
                self.done_gz[path] = saved
                return None
        elif gz:
            offset = 0
        elif initial and self.cfg.start_at == "end":
            offset = st.st_size
            # start at a line boundary: everything before the last newline counts as read
        else:
            offset = 0
        fmt: str = self.cfg.format
        if fmt == "auto":
            sample = head if not gz else self._gz_head(path)
            fmt = detect(sample.decode("utf-8", "replace").splitlines()[:20])
        zeek_path = Path(path).name.split(".")[0] if fmt == "zeek" else None
        handler = LineHandler(
            fmt,
            self.settings,
            self.enricher,
            self.sink,
            source_kind="file",
            source=path,
            zeek_path=zeek_path,
        )
        tf = Tracked(path, fd, st.st_dev, st.st_ino, fp, offset, handler, acked=offset, gz=gz)
        self.files[path] = tf
        FILES_OPEN.inc()
        log.info("following file", extra={"path": path, "offset": offset, "format": fmt})
        return tf

    @staticmethod
    def _gz_head(path: str) -> bytes:
        try:
            with gzip.open(path, "rb") as f:
                return f.read(8192)
        except (OSError, EOFError):
            return b""

    def _close(self, tf: Tracked) -> None:
        try:
            os.close(tf.fd)
            FILES_OPEN.dec()
        except OSError:
            pass

    def _check_and_read(self, tf: Tracked) -> int:
        if tf.gz:
            return self._read_gz(tf)
        try:
            st = os.stat(tf.path)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != tf.ino or st.st_dev != tf.dev:
            # rename + create (or deletion): drain the old one, pick up the new one next poll
            n = self._read(tf)
            del self.files[tf.path]
            tf.rotated_at = time.monotonic()
            if st is None:
                report_bad("file_deleted", "file", tf.path, tf.offset, "file deleted while read")
            self.draining.append(tf)
            new = self._open(tf.path, initial=False) if st is not None else None
            if new is not None:
                n += self._read(new)
            return n
        size = os.fstat(tf.fd).st_size
        head_fp = fingerprint(read_head(tf.fd))
        if size < tf.offset or (head_fp is not None and head_fp != tf.fp):
            report_bad(
                "file_truncated",
                "file",
                tf.path,
                tf.offset,
                f"file shrank to {size} bytes or was rewritten; reading from 0",
            )
            self._flush_partial(tf)
            tf.buf.clear()
            tf.skipping = False
            if head_fp is None:
                return 0  # wait for a complete first line to fingerprint it
            with self._lock:
                tf.fp = head_fp
                tf.offset = 0
                tf.acked = 0
                tf.buf_start = 0
                self._dirty = True
        if size == tf.offset:
            return 0
        return self._read(tf)

    # ---------------------------------------------------------------- reading

    def _read(self, tf: Tracked) -> int:
        n = 0
        while True:
            try:
                chunk = os.pread(tf.fd, CHUNK, tf.offset)
            except OSError as e:
                report_bad("read_error", "file", tf.path, tf.offset, str(e))
                return n
            if not chunk:
                return n
            BYTES.labels("file").inc(len(chunk))
            n += self._feed(tf, chunk, tf.offset)
            tf.offset += len(chunk)
            if len(chunk) < CHUNK:
                return n

    def _feed(self, tf: Tracked, chunk: bytes, chunk_start: int) -> int:
        """Split into lines; emit complete ones; keep the partial tail in tf.buf."""
        limit = self.settings.max_line_bytes
        if not tf.buf:
            tf.buf_start = chunk_start
        data = bytes(tf.buf) + chunk if tf.buf else chunk
        base = tf.buf_start
        tf.buf.clear()
        start = 0
        n = 0
        last_emit: tuple[bytes, int, bool] | None = None
        handler = tf.handler
        ident = tf.identity
        path = tf.path
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if tf.skipping:
                tf.skipping = False
                start = nl + 1
                continue
            line = data[start:nl]
            truncated = len(line) > limit
            if truncated:
                line = line[:limit]
            if last_emit is not None:
                handler.handle(
                    last_emit[0], ident, last_emit[1], None, path=path, truncated=last_emit[2]
                )
                n += 1
            last_emit = (line, base + start, truncated)
            start = nl + 1
        rest = data[start:]
        end_offset = base + start
        if last_emit is not None:
            handler.handle(
                last_emit[0],
                ident,
                last_emit[1],
                self._acker(tf, ident, end_offset),
                path=path,
                truncated=last_emit[2],
            )
            n += 1
        if tf.skipping:
            rest = b""
        elif len(rest) > limit:
            # over-long line without an end yet: emit its head now, drop the rest up to "\n"
            handler.handle(rest[:limit], ident, base + start, None, path=path, truncated=True)
            n += 1
            tf.skipping = True
            rest = b""
        tf.buf += rest
        tf.buf_start = base + start
        return n

    def _flush_partial(self, tf: Tracked) -> None:
        """A file ends without a final newline (rotated away): emit the last partial line."""
        if tf.buf and not tf.skipping:
            end = tf.buf_start + len(tf.buf)
            tf.handler.handle(
                bytes(tf.buf),
                tf.identity,
                tf.buf_start,
                self._acker(tf, tf.identity, end),
                path=tf.path,
            )
        tf.buf.clear()

    def _read_gz(self, tf: Tracked) -> int:
        """A .gz file is read once, whole; it is marked done once its last line is acked
        (until then it stays tracked, and a restart re-reads it from the acked offset)."""
        if tf.gz_read:
            if tf.acked >= tf.offset:
                with self._lock:
                    self.done_gz[tf.path] = {
                        "dev": tf.dev,
                        "ino": tf.ino,
                        "fp": tf.fp,
                        "offset": tf.offset,
                        "done": True,
                    }
                    self._dirty = True
                del self.files[tf.path]
                self._close(tf)
            return 0
        n = 0
        try:
            with gzip.open(tf.path, "rb") as f:
                f.seek(tf.offset)
                while True:
                    chunk = f.read(CHUNK)
                    if not chunk:
                        break
                    n += self._feed(tf, chunk, tf.offset)
                    tf.offset += len(chunk)
        except (OSError, EOFError) as e:
            report_bad("read_error", "file", tf.path, tf.offset, f"gzip: {e}")
        self._flush_partial(tf)
        if n == 0:
            tf.acked = tf.offset
        tf.gz_read = True
        return n

    def _acker(self, tf: Tracked, identity: str, end: int) -> Any:
        def ack() -> None:
            with self._lock:
                if tf.identity == identity and end > tf.acked:
                    tf.acked = end
                    self._dirty = True

        return ack

    # ---------------------------------------------------------------- checkpoints

    def states(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            out = dict(self._saved)
            for tf in [*self.draining, *self.files.values()]:
                out[tf.path] = {"dev": tf.dev, "ino": tf.ino, "fp": tf.fp, "offset": tf.acked}
            out.update(self.done_gz)
            return out

    def save_checkpoint(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (
            not self._dirty or now - self._last_save < self.settings.checkpoint_interval
        ):
            return
        with self._lock:
            self._dirty = False
        states = self.states()
        try:
            self.store.save(states)
            self._saved = states
        except OSError as e:
            log.error(
                "checkpoint write failed", extra={"path": str(self.store.path), "reason": str(e)}
            )
        self._last_save = now
