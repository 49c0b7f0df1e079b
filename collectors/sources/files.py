"""Follow files matched by glob patterns, like ``tail -F`` but exactly-once with Elasticsearch.

A followed file is one inode (device + inode), checked against its content: a fingerprint of
its first line (at most 1 KiB) and a hash of its first ``hlen`` bytes (at most 4 KiB; at
least everything emitted from it, the checkpoint being written ahead). Its events get ids
from a *lineage identity* and the byte offset of the line: ``doc_id(ident, offset)``. The
identity is given once, when the content is first seen, as ``file:<dev>:<ino>:<fp>`` (the id
scheme of version 1, so an upgrade keeps the ids). A file whose first ``hlen`` bytes are those
of a known file is a copy of it (a ``.gz`` of a rotated file, offsets being offsets in the
decompressed stream; the copy ``copytruncate`` leaves): with 4 KiB identical it inherits the
identity and the acknowledged offset (same ids, what was read is skipped); a copy of a shorter
file keeps the original's identities only for the lines inside the verified bytes and gets a
fresh one after (``since``/``earlier``), so a file that merely starts like another never takes
ids the other will use. Two different files never share an identity (a fresh identity gets a
``#n`` suffix if a known state already uses it).

State is kept per (device, inode, identity), not per path, in the checkpoint (a JSON file per
source under ``checkpoint_dir``, ``{"version": 2, "files": {key: state}}``; a version-1 file,
keyed by path, is migrated on load). Offsets in it come only from acknowledged events: the
storage sink acks an event once it is in Elasticsearch, dead-lettered or spooled, so after a
kill -9 we re-read at most the unacknowledged tail, with the same ids.

Rotation:
- rename (with or without create): the inode is found under its new name when the glob
  matches it, and followed there at its offset; otherwise it is drained to its end and closed
  once idle; a new file at the old name is read from its beginning;
- copytruncate / truncation / rewrite: the file is shorter than our offset, or its first line
  or its head changed; the old content's state is kept (for the copy) and the new content is
  read from 0 with a new identity;
- restart: each found file is matched to its state by inode, verified by fingerprint and
  head (inode reuse), else by content; files unknown to a source that has a checkpoint are
  new since the last run and read from their beginning (``start_at`` applies to the first
  run only);
- deletion while read: the open handle is drained and closed, counted and logged.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import logging
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socmon.collectors.lines import LineHandler
from socmon.collectors.metrics import BYTES, FILES_OPEN, report_bad
from socmon.collectors.parsers.registry import detect
from socmon.collectors.sources.polled import PolledSource
from socmon.settings.collectors import FileSource

log = logging.getLogger(__name__)

CHUNK = 1 << 20
FP_MAX = 1024
HEAD_MAX = 4096  # bytes of a file's beginning hashed to recognise copies and rewrites
IDLE_CLOSE = 5.0  # seconds a rotated-away or deleted file stays open without new data
RETIRE_AFTER = 60.0  # seconds a closed file's state waits for its last acks
STATE_VERSION = 2

State = dict[str, Any]
Key = tuple[int, int]  # (device, inode)
_Index = tuple[dict[Key, list[str]], dict[str, list["State | Tracked"]], set[str]]


def fingerprint(head: bytes) -> str | None:
    """Hash of the first line (or of the first FP_MAX bytes); None until a line is complete."""
    nl = head.find(b"\n")
    if nl < 0:
        if len(head) < FP_MAX:
            return None
        nl = FP_MAX - 1
    return hashlib.blake2b(head[: nl + 1], digest_size=8).hexdigest()


def head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def read_head(fd: int, n: int = FP_MAX) -> bytes:
    try:
        return os.pread(fd, n, 0)
    except OSError:
        return b""


def base_identity(dev: int, ino: int, fp: str) -> str:
    """The identity a file gets when first seen (also the id scheme of checkpoint version 1)."""
    return f"file:{dev}:{ino}:{fp}"


class Gunzip:
    """The decompressed content of a .gz file, chunk by chunk, every member; ``complete`` is
    true once the file ended at the end of a member (a .gz still being written ends inside)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.complete = False

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            d = zlib.decompressobj(31)
            inside = False
            data = b""
            while True:
                if not data:
                    data = f.read(1 << 16)
                    if not data:
                        self.complete = not inside
                        return
                if not inside:
                    if not data.strip(b"\x00"):  # zero padding after the last member
                        data = b""
                        continue
                    inside = True
                out = d.decompress(data, size)
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    d = zlib.decompressobj(31)
                    inside = False
                else:
                    data = d.unconsumed_tail

    def head(self, n: int = HEAD_MAX) -> bytes:
        got = bytearray()
        try:
            for chunk in self.chunks(n):
                got += chunk
                if len(got) >= n:
                    break
        except (OSError, zlib.error):
            self.complete = True  # corrupt: what decompresses is all there is
        return bytes(got[:n])


@dataclass
class Tracked:
    path: str
    fd: int
    dev: int
    ino: int
    fp: str
    ident: str  # identity of lines from ``since`` on: doc_id(ident, offset); "" = no line yet
    offset: int  # next byte to read (in the decompressed stream for .gz)
    handler: LineHandler
    acked: int = -1
    hlen: int = 0  # head_hash covers the first hlen bytes
    head: str = ""
    buf: bytearray = field(default_factory=bytearray)
    buf_start: int = 0
    skipping: bool = False  # discarding the rest of an over-long line
    away: float | None = None  # when it left the paths (rotated away, deleted)
    last_data: float = field(default_factory=time.monotonic)
    closed_at: float = 0.0
    gz: bool = False
    gz_read: bool = False  # the whole stream was read
    gz_done: bool = False  # ... and acknowledged
    gz_sig: tuple[int, int] | None = None
    gz_sig_at: float = 0.0
    deleted: bool = False
    sig: tuple[int, int, int] | None = None  # (size, mtime, ctime) when last checked
    since: int = 0
    earlier: list[tuple[int, str]] = field(default_factory=list)  # (start, ident) before since
    emitted: int = 0
    durable: int = -1  # the hlen the checkpoint on disk has for it (-1: not there yet)

    @property
    def identity(self) -> str:
        return self.ident

    def ident_at(self, pos: int) -> str:
        """The identity of the line starting at ``pos`` (a copy of a short file keeps the
        original's identities for the part verified identical, its own after)."""
        if pos >= self.since:
            return self.ident
        for start, ident in reversed(self.earlier):
            if pos >= start:
                return ident
        return self.ident

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}:{self.ident}"

    def state(self, seen: float) -> State:
        s: State = {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "fp": self.fp,
            "id": self.ident,
            "offset": self.acked,
            "hlen": self.hlen,
            "head": self.head,
            "seen": int(seen),
        }
        if self.deleted:
            s["gone"] = True
        if self.earlier:
            s["since"] = self.since
            s["earlier"] = [list(x) for x in self.earlier]
        if self.gz:
            s["gz"] = True
            s["done"] = self.gz_done
        return s


def _segments(s: State) -> tuple[str, int, list[tuple[int, str]]]:
    """(identity, since, earlier identities) of a saved state."""
    earlier = [(int(a), str(b)) for a, b in s.get("earlier", ())]
    return str(s["id"]), int(s.get("since", 0)) if earlier else 0, earlier


def _sig(st: os.stat_result) -> tuple[int, int]:
    return (st.st_size, st.st_mtime_ns)


def migrate(saved: dict[str, Any], now: float) -> tuple[dict[str, State], int]:
    """Version-1 checkpoints (keyed by path: dev, ino, fp, offset[, done]) to version 2.
    The identity is the one version 1 used for the ids, so nothing is read or stored again.
    Returns the states and how many entries were migrated."""
    if saved.get("version") == STATE_VERSION and isinstance(saved.get("files"), dict):
        return {k: v for k, v in saved["files"].items() if isinstance(v, dict)}, 0
    out: dict[str, State] = {}
    for path, s in saved.items():
        if not isinstance(s, dict) or "ino" not in s:
            continue
        dev, ino, fp = int(s.get("dev", 0)), int(s["ino"]), str(s.get("fp", ""))
        ident = base_identity(dev, ino, fp)
        st: State = {
            "path": path,
            "dev": dev,
            "ino": ino,
            "fp": fp,
            "id": ident,
            "offset": int(s.get("offset", 0)),
            "hlen": 0,
            "head": "",
            "seen": int(now),
        }
        if path.endswith(".gz"):
            # version 1 fingerprinted the compressed bytes of a .gz
            st.update(gz=True, done=bool(s.get("done")), legacy_gz=True)
        key = f"{dev}:{ino}:{ident}"
        prev = out.get(key)
        # version 1 could hold one inode under two paths (a rename it did not follow): the
        # same content and ids, so the furthest acked offset holds for both
        if prev is None or prev["offset"] < st["offset"]:
            out[key] = st
    return out, len(out)


def _lines_before(f: Iterable[bytes], end: int) -> Iterator[bytes]:
    """The complete lines of ``f`` that start before ``end``."""
    pos = 0
    for raw in f:
        if pos >= end:
            return
        pos += len(raw)
        yield raw


class FileTailer(PolledSource[FileSource]):
    """One thread following one ``collectors.files[]`` entry."""

    thread_prefix = "tail"
    join_timeout = 10.0
    poll_failed = "file source poll failed; continuing"

    def _restore(self, saved: dict[str, Any]) -> None:
        self.files: dict[Key, Tracked] = {}  # open files by inode
        self.retired: list[Tracked] = []  # closed; their last acks may still come
        self.known, migrated = migrate(saved, time.time())  # states of files not open
        self.skip: dict[Key, tuple[tuple[int, int], str]] = {}  # done .gz: (sig, state key)
        self.waiting: dict[Key, tuple[tuple[int, int], float]] = {}  # undecided copies
        # a source that has run before (its checkpoint exists) reads unknown files whole
        existed = self.store.path.exists()
        self._had_checkpoint = existed or bool(self.known)
        self._seen_keys: set[str] = set()
        self._idx: _Index | None = None
        self._dirty = migrated > 0 or not existed  # first run: record that it ran
        self._first_scan = True
        self._last_save = 0.0
        if migrated:
            log.info(
                "file checkpoint migrated to version 2 (state by inode and content)",
                extra={"source": self.name, "files": migrated},
            )

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Save the acknowledged positions and close every file (after the writer flushed)."""
        self.save_checkpoint(force=True)
        for tf in list(self.files.values()):
            self._close(tf)
        self.files.clear()

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
        """One pass: discover, follow renames, detect rotation, read what is new. Returns the
        number of lines read."""
        n = 0
        now = time.monotonic()
        self._idx = None
        found: dict[Key, tuple[str, os.stat_result]] = {}
        for path in self._paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            k = (st.st_dev, st.st_ino)
            cur = self.files.get(k)
            # hard links: one inode, read once, under the name we follow if it is still there
            if k not in found or (cur is not None and cur.path == path):
                found[k] = (path, st)
        for k, (sig, skey) in list(self.skip.items()):
            hit = found.get(k)
            if hit is None:
                del self.skip[k]
            elif _sig(hit[1]) == sig:
                del found[k]
                self._seen_keys.add(skey)
            else:
                del self.skip[k]  # rewritten (or the inode reused): look at it again
        for k, tf in list(self.files.items()):
            hit = found.pop(k, None)
            if hit is None:
                n += self._gone(tf, now)
                continue
            if tf.away is not None:
                tf.away = None
            if hit[0] != tf.path:
                self._renamed(tf, hit[0])
            n += self._check_and_read(tf)
        opened = []
        for path, st in sorted(found.values(), key=lambda x: x[0]):
            new = self._open(path, st, initial=self._first_scan, now=now)
            if new is not None:
                opened.append(new)
        if opened:
            self.save_checkpoint(force=True)  # their identities, before any of their lines
        for new in opened:
            n += self._check_and_read(new)
        for k in [k for k in self.waiting if k not in found]:
            del self.waiting[k]
        self._first_scan = False
        self.save_checkpoint()
        return n

    def _renamed(self, tf: Tracked, path: str) -> None:
        log.info(
            "file renamed; following it",
            extra={"path": path, "old_path": tf.path, "offset": tf.offset},
        )
        with self._lock:
            tf.path = path
            self._dirty = True
        tf.handler.source = path

    def _gone(self, tf: Tracked, now: float) -> int:
        """An open file no longer found under the paths: drain it, close it once idle."""
        if tf.gz:
            self._retire(tf)
            return 0
        if tf.away is None:
            tf.away = now
            tf.last_data = now
            if not os.path.exists(tf.path):
                report_bad("file_deleted", "file", tf.path, tf.offset, "file deleted or moved away")
        got = self._check_and_read(tf)
        if got:
            tf.last_data = now
        elif now - tf.last_data > IDLE_CLOSE:
            self._flush_partial(tf)
            self._retire(tf)
        return got

    # ---------------------------------------------------------------- identity

    def _all_states(self) -> list[State | Tracked]:
        """Every state: saved ones, and the open and retired files themselves (their state
        is taken when used: offsets and heads move)."""
        with self._lock:
            out: list[State | Tracked] = list(self.known.values())
            out += [t for t in [*self.files.values(), *self.retired] if t.ident]
        return out

    def _index(self) -> _Index:
        """Known states by inode and by fingerprint, and the identities in use: built once per
        poll when a file is new (so that finding N new files among S states costs N + S)."""
        if self._idx is not None:
            return self._idx
        by_inode: dict[Key, list[str]] = {}
        by_fp: dict[str, list[State | Tracked]] = {}
        with self._lock:
            for key, st in self.known.items():
                by_inode.setdefault((st.get("dev", 0), st.get("ino", 0)), []).append(key)
        used: set[str] = set()
        for x in self._all_states():
            if isinstance(x, Tracked):
                used.add(x.ident)
                used.update(i for _, i in x.earlier)
                by_fp.setdefault(x.fp, []).append(x)
            else:
                used.add(str(x.get("id")))
                used.update(str(e[1]) for e in x.get("earlier", ()))
                by_fp.setdefault(str(x.get("fp")), []).append(x)
        idx = (by_inode, by_fp, used)
        self._idx = idx
        return idx

    def _fresh_ident(self, dev: int, ino: int, fp: str) -> str:
        base = base_identity(dev, ino, fp)
        used = self._index()[2]
        ident, i = base, 1
        while ident in used:
            ident = f"{base}#{i}"
            i += 1
        return ident

    def _settle(self, k: Key) -> None:
        """A closed file of this inode shows up again: its state (as acked so far) is known."""
        with self._lock:
            for tf in [t for t in self.retired if (t.dev, t.ino) == k]:
                self.known[tf.key] = tf.state(tf.closed_at)
                self.retired.remove(tf)
                self._idx = None

    def _by_inode(
        self, k: Key, fp: str, head: bytes, size: int | None, cfp: str | None, whole: bool
    ) -> tuple[str, State] | None:
        """The saved state of this inode, if its content is still the one we read (inode
        reuse and rewrites while we were away fail the checks; their state is marked gone)."""
        best: tuple[str, State] | None = None
        keys = self._index()[0].get(k, [])
        with self._lock:
            for key in keys:
                s = self.known.get(key)
                if s is None or s.get("gone"):
                    continue
                if bool(s.get("gz")) != (size is None):
                    ok = False  # the inode was a plain file, now a .gz (or back): reused
                elif s.get("legacy_gz"):
                    ok = s.get("fp") == cfp
                else:
                    ok = s.get("fp") == fp
                    hl = int(s.get("hlen", 0))
                    if ok and hl and len(head) >= hl:
                        ok = head_hash(head[:hl]) == s.get("head")
                    elif ok and hl and (size is not None or whole):
                        ok = False  # shorter than what we had hashed of it
                    if ok and size is not None and size < int(s.get("offset", 0)):
                        ok = False
                if ok and best is None:
                    best = (key, s)
                elif not ok:
                    s["gone"] = True
                    self._dirty = True
            if best is not None:
                del self.known[best[0]]
        return best

    def _by_content(
        self, k: Key, fp: str, head: bytes, complete: bool
    ) -> tuple[State | None, bool]:
        """A known file whose first ``hlen`` bytes this file starts with (it is a copy of it);
        and whether a longer-known file might still match once this one has more bytes."""
        best: State | None = None
        rank = (-1, -1)
        undecided = False
        now = time.time()
        for x in self._index()[1].get(fp, []):
            s = x.state(now) if isinstance(x, Tracked) else x
            if (
                s.get("legacy_gz")
                or s.get("fp") != fp
                or (s.get("dev") == k[0] and s.get("ino") == k[1])
            ):
                continue
            hl = int(s.get("hlen", 0))
            if not hl or s.get("fp") != fp:
                continue
            if len(head) < hl:
                undecided = undecided or not complete
                continue
            if head_hash(head[:hl]) != s.get("head"):
                continue
            r = (hl, int(s.get("offset", 0)))
            if r > rank:
                best, rank = s, r
        return best, undecided

    def _copy_of(
        self, match: State, k: Key, fp: str, head: bytes
    ) -> tuple[str, int, list[tuple[int, str]], int] | None:
        """Identities and start offset of a copy of ``match`` (its first ``hlen`` bytes are
        ours). A full head (HEAD_MAX bytes) identical: the same file, all its identities.
        Shorter (a small file): only the lines inside the verified bytes keep the original's
        identities, the rest gets a fresh one: a file that merely starts like a short one (a
        CSV header, a banner) never takes ids the original may still give its own lines."""
        ident, since, earlier = _segments(match)
        offset = int(match.get("offset", 0))
        hl = int(match.get("hlen", 0))
        if hl >= HEAD_MAX:
            return ident, since, earlier, offset
        cut = head.rfind(b"\n", 0, hl) + 1  # lines wholly inside the verified bytes
        if cut == 0:
            return None
        segs = [x for x in [*earlier, (since, ident)] if x[0] < cut]
        return self._fresh_ident(k[0], k[1], fp), cut, segs, min(offset, cut)

    def _undecided(self, k: Key, st: os.stat_result, now: float) -> bool:
        """Wait (up to IDLE_CLOSE while it does not change) for a copy still being written."""
        sig = _sig(st)
        prev = self.waiting.get(k)
        if prev is None or prev[0] != sig:
            self.waiting[k] = (sig, now)
            return True
        return now - prev[1] < IDLE_CLOSE

    # ---------------------------------------------------------------- opening

    def _open(self, path: str, st: os.stat_result, initial: bool, now: float) -> Tracked | None:
        k = (st.st_dev, st.st_ino)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            report_bad("read_error", "file", path, 0, str(e))
            return None
        try:
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != k:  # replaced since the scan: next poll
                os.close(fd)
                return None
            tf = self._track(path, fd, fst, initial, now)
        except Exception:
            os.close(fd)
            raise
        if tf is None:
            os.close(fd)
            return None
        self.waiting.pop(k, None)
        self.files[k] = tf
        FILES_OPEN.inc()
        log.info(
            "following file",
            extra={"path": path, "offset": tf.offset, "format": tf.handler.fmt, "ident": tf.ident},
        )
        return tf

    def _track(
        self, path: str, fd: int, st: os.stat_result, initial: bool, now: float
    ) -> Tracked | None:
        k = (st.st_dev, st.st_ino)
        gz = path.endswith(".gz")
        cfp: str | None = None
        size: int | None
        gz_whole = False  # the .gz stream was complete
        if gz:
            g = Gunzip(path)
            head = g.head()
            gz_whole = g.complete
            complete = g.complete or len(head) >= HEAD_MAX
            cfp = fingerprint(read_head(fd))
            size = None
        else:
            head = read_head(fd, HEAD_MAX)
            complete = True  # a plain file is judged on what it has: never waited for
            size = st.st_size
        fp = fingerprint(head)
        if fp is None:
            if not gz_whole:
                return None  # not even one complete line yet: try again next poll
            if not head:  # an empty .gz: nothing to read, ever
                self.skip[k] = (_sig(st), "")
                return None
            fp = head_hash(head)
        self._settle(k)
        hit = self._by_inode(k, fp, head, size, cfp, gz_whole)
        match: State | None = None
        if hit is not None:
            key, s = hit
            if s.get("gz") and s.get("done"):
                with self._lock:
                    self.known[key] = s
                self.skip[k] = (_sig(st), key)
                return None
            hl = int(s.get("hlen", 0))
            if hl < HEAD_MAX and not s.get("legacy_gz"):
                # a short state of this inode: the file may be another one that reused it
                # and starts alike; a longer verified match elsewhere is the better evidence
                m, _ = self._by_content(k, fp, head, complete)
                if m is not None and int(m.get("hlen", 0)) > hl:
                    with self._lock:
                        self.known[key] = {**s, "gone": True}
                    hit, match = None, m
        if hit is not None:
            key, s = hit
            ident, since, earlier = _segments(s)
            offset = int(s.get("offset", 0))
        else:
            undecided = False
            if match is None:
                match, undecided = self._by_content(k, fp, head, complete)
            if undecided and self._undecided(k, st, now):
                return None
            copy = self._copy_of(match, k, fp, head) if match is not None else None
            if copy is not None:
                ident, since, earlier, offset = copy
                if size is not None:
                    offset = min(offset, size)
                log.info(
                    "file is a copy of a known file: same ids, resuming at its offset",
                    extra={"path": path, "copy_of": match and match.get("path"), "offset": offset},
                )
            else:
                since, earlier = 0, []
                ident = self._fresh_ident(k[0], k[1], fp)
                if (
                    initial
                    and not gz
                    and self.cfg.start_at == "end"
                    and not self._had_checkpoint
                    and size is not None
                ):
                    offset = size
                else:
                    offset = 0
        fmt: str = self.cfg.format
        if fmt == "auto":
            fmt = detect(head.decode("utf-8", "replace").splitlines()[:20])
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
        if offset and handler.header(head.split(b"\n", 1)[0]):
            # resuming inside a log with header lines (Zeek TSV): its records need them
            try:
                with gzip.open(path, "rb") if gz else os.fdopen(os.dup(fd), "rb") as f:
                    handler.prime(_lines_before(f, offset))
            except (OSError, EOFError, zlib.error) as e:
                report_bad("read_error", "file", path, 0, f"reading the header lines: {e}")
        with self._lock:
            self._dirty = True
        tf = Tracked(
            path,
            fd,
            k[0],
            k[1],
            fp,
            ident,
            offset,
            handler,
            acked=offset,
            hlen=len(head),  # this file's content, verified or new (<= HEAD_MAX bytes)
            head=head_hash(head),
            gz=gz,
            since=since,
            earlier=earlier,
        )
        _, by_fp, used = self._index()
        used.add(ident)
        by_fp.setdefault(fp, []).append(tf)
        return tf

    def _close(self, tf: Tracked) -> None:
        try:
            os.close(tf.fd)
            FILES_OPEN.dec()
        except OSError:
            pass

    def _retire(self, tf: Tracked) -> None:
        self.files.pop((tf.dev, tf.ino), None)
        with contextlib.suppress(OSError):
            # deleted: its inode may be reused by another file, never again by this content
            tf.deleted = os.fstat(tf.fd).st_nlink == 0
        self._close(tf)
        tf.closed_at = time.time()
        with self._lock:
            if tf.ident:
                self.retired.append(tf)
            self._dirty = True

    # ---------------------------------------------------------------- reading

    def _check_and_read(self, tf: Tracked) -> int:
        if tf.gz:
            return self._read_gz(tf)
        try:
            st = os.fstat(tf.fd)
        except OSError:
            return 0
        size = st.st_size
        sig = (size, st.st_mtime_ns, st.st_ctime_ns)
        if sig == tf.sig and size == tf.offset and tf.ident:
            return 0  # unchanged since we last looked (an idle file costs one fstat)
        tf.sig = sig
        head = read_head(tf.fd, HEAD_MAX)
        head_fp = fingerprint(head)
        if (
            size < tf.offset
            or (head_fp is not None and head_fp != tf.fp)
            or (tf.hlen and len(head) >= tf.hlen and head_hash(head[: tf.hlen]) != tf.head)
        ):
            if tf.ident:
                report_bad(
                    "file_truncated",
                    "file",
                    tf.path,
                    tf.offset,
                    f"file shrank to {size} bytes or was rewritten; reading from 0",
                )
            self._new_generation(tf, head_fp)
        if not tf.ident or size == tf.offset:
            return 0
        return self._read(tf)

    def _new_generation(self, tf: Tracked, fp: str | None) -> None:
        """The inode holds new content (copytruncate, truncation, rewrite): keep the old
        content's state (a copy of it may show up) and read the new one from 0, under a new
        identity (new ids: nothing collides with the old content)."""
        self._flush_partial(tf)
        tf.skipping = False
        now = time.time()
        with self._lock:
            if tf.ident:
                self.known[tf.key] = {**tf.state(now), "gone": True}
            self._idx = None
            tf.offset = tf.acked = tf.buf_start = 0
            tf.hlen, tf.head = 0, ""
            tf.fp, tf.ident = "", ""
            tf.since, tf.earlier = 0, []
            tf.durable = -1
            self._dirty = True
        if fp is not None:
            ident = self._fresh_ident(tf.dev, tf.ino, fp)
            with self._lock:
                tf.fp, tf.ident = fp, ident
                self._idx = None

    def _read(self, tf: Tracked) -> int:
        n = 0
        if not tf.ident:  # no identity yet (no complete first line): nothing to emit with
            return n
        while True:
            try:
                chunk = os.pread(tf.fd, CHUNK, tf.offset)
            except OSError as e:
                report_bad("read_error", "file", tf.path, tf.offset, str(e))
                break
            if not chunk:
                break
            BYTES.labels("file").inc(len(chunk))
            self._write_ahead(tf, tf.offset + len(chunk))
            n += self._feed(tf, chunk, tf.offset)
            tf.offset += len(chunk)
            if len(chunk) < CHUNK:
                break
        return n

    def _write_ahead(self, tf: Tracked, end: int) -> None:
        """Before emitting bytes up to ``end``: the checkpoint must hold this file's identity
        and a head covering what is emitted (up to HEAD_MAX), so that after a kill -9 a copy
        of it (a .gz made while we were down) is still recognised. Once per new file, then
        only while a new file grows through its first HEAD_MAX bytes."""
        if tf.durable >= 0 and (end <= tf.durable or tf.durable >= HEAD_MAX):
            return
        want = min(max(end, tf.hlen), HEAD_MAX)
        if want > tf.hlen:
            h = Gunzip(tf.path).head(want) if tf.gz else read_head(tf.fd, want)
            if len(h) > tf.hlen:
                with self._lock:
                    tf.hlen, tf.head = len(h), head_hash(h)
        self.save_checkpoint(force=True)

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
        ident = tf.ident
        since = tf.since  # lines starting before it have an earlier identity (a copy)
        path = tf.path

        def done(item: tuple[bytes, int, bool], ack: Any) -> None:
            p = item[1]
            handler.handle(
                item[0],
                ident if p >= since else tf.ident_at(p),
                p,
                ack,
                path=path,
                truncated=item[2],
            )

        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if tf.skipping:
                tf.skipping = False
                start = nl + 1
                continue
            line = data[start:nl]
            if line[:1] == b"#":
                # maybe a Zeek TSV header (no event; it changes how the next records read):
                # the record before it is done first, with the header it was written under
                if last_emit is not None:
                    done(last_emit, self._acker(tf, ident, base + start))
                    n += 1
                    last_emit = None
                if handler.header(line):
                    start = nl + 1
                    continue
            truncated = len(line) > limit
            if truncated:
                line = line[:limit]
            if last_emit is not None:
                done(last_emit, None)
                n += 1
            last_emit = (line, base + start, truncated)
            start = nl + 1
        rest = data[start:]
        end_offset = base + start
        if last_emit is not None:
            done(last_emit, self._acker(tf, ident, end_offset))
            n += 1
        if tf.skipping:
            rest = b""
        elif len(rest) > limit:
            # over-long line without an end yet: emit its head now, drop the rest up to "\n"
            p = base + start
            handler.handle(rest[:limit], tf.ident_at(p), p, None, path=path, truncated=True)
            n += 1
            tf.skipping = True
            rest = b""
        tf.buf += rest
        tf.buf_start = base + start
        tf.emitted += n
        return n

    def _flush_partial(self, tf: Tracked) -> None:
        """A file ends without a final newline (rotated away): emit the last partial line."""
        if tf.buf and not tf.skipping and tf.ident:
            end = tf.buf_start + len(tf.buf)
            tf.handler.handle(
                bytes(tf.buf),
                tf.ident_at(tf.buf_start),
                tf.buf_start,
                self._acker(tf, tf.ident, end),
                path=tf.path,
            )
            tf.emitted += 1
        tf.buf.clear()

    def _read_gz(self, tf: Tracked) -> int:
        """A .gz file is read once, whole, from its offset in the decompressed stream (the
        offset of a plain file it is a copy of: the lines read there are skipped); it is
        marked done once its last line is acked (until then it stays tracked, and a restart
        reads it again from the acked offset). A .gz still being written is read once it
        stops changing; one that stays cut short is read as far as it goes."""
        now = time.monotonic()
        if tf.gz_read:
            if tf.acked >= tf.offset:
                with self._lock:
                    tf.gz_done = True
                    self._dirty = True
                with contextlib.suppress(OSError):
                    self.skip[(tf.dev, tf.ino)] = (_sig(os.fstat(tf.fd)), tf.key)
                self._retire(tf)
            return 0
        try:
            sig = _sig(os.fstat(tf.fd))
        except OSError:
            return 0
        if sig != tf.gz_sig:  # new, or still being written: wait for it to settle
            first = tf.gz_sig is None
            tf.gz_sig, tf.gz_sig_at = sig, now
            if not first:
                return 0
        g = Gunzip(tf.path)
        n = 0
        pos = 0
        start = tf.offset
        try:
            for chunk in g.chunks():
                end = pos + len(chunk)
                if end <= start:
                    pos = end
                    continue
                if pos < start:
                    chunk = chunk[start - pos :]
                    pos = start
                BYTES.labels("file").inc(len(chunk))
                self._write_ahead(tf, pos + len(chunk))
                n += self._feed(tf, chunk, pos)
                pos += len(chunk)
                tf.offset = pos
        except (OSError, zlib.error) as e:
            report_bad("read_error", "file", tf.path, tf.offset, f"gzip: {e}")
            g.complete = True  # corrupt: what decompressed is all there is
        if not g.complete:
            if now - tf.gz_sig_at < IDLE_CLOSE:
                return n  # cut short, maybe still being written: go on from here later
            report_bad(
                "read_error", "file", tf.path, tf.offset, "gzip: stream ends early; read so far"
            )
        self._flush_partial(tf)
        if tf.emitted == 0:
            with self._lock:
                tf.acked = max(tf.acked, tf.offset)
        tf.gz_read = True
        return n

    def _acker(self, tf: Tracked, identity: str, end: int) -> Any:
        def ack() -> None:
            with self._lock:
                if tf.ident == identity and end > tf.acked:
                    tf.acked = end
                    self._dirty = True

        return ack

    # ---------------------------------------------------------------- checkpoints

    def states(self) -> dict[str, Any]:
        """The checkpoint: every known file's state by (device, inode, identity)."""
        now = time.time()
        with self._lock:
            out = dict(self.known)
            for tf in [*self.retired, *self.files.values()]:
                if tf.ident:
                    out[tf.key] = tf.state(tf.closed_at or now)
            return {"version": STATE_VERSION, "files": out}

    def _housekeeping(self) -> None:
        """Closed files whose acks are in become plain states; states of files not seen for
        ``forget_after`` seconds are dropped."""
        now = time.time()
        with self._lock:
            keep: list[Tracked] = []
            for tf in self.retired:
                if tf.acked >= tf.offset or now - tf.closed_at > RETIRE_AFTER:
                    self.known[tf.key] = tf.state(tf.closed_at)
                else:
                    keep.append(tf)
            self.retired = keep
            for key in self._seen_keys:
                if key in self.known:
                    self.known[key]["seen"] = int(now)
            self._seen_keys.clear()
            cutoff = now - self.cfg.forget_after
            for key in [k for k, s in self.known.items() if s.get("seen", 0) < cutoff]:
                del self.known[key]

    def save_checkpoint(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (
            not self._dirty or now - self._last_save < self.settings.checkpoint_interval
        ):
            return
        with self._lock:
            self._dirty = False
        self._housekeeping()
        states = self.states()
        durable = [(tf, tf.hlen) for tf in self.files.values()]
        try:
            self.store.save(states)
            for tf, hlen in durable:
                tf.durable = hlen
        except OSError as e:
            log.error(
                "checkpoint write failed", extra={"path": str(self.store.path), "reason": str(e)}
            )
        self._last_save = now
