"""EVTX files (``collectors.evtx[]``): read new records of matching files, poll for changes.
The checkpoint per file is the highest acknowledged record number (the record header's, which
orders the file; the XML's EventRecordID may differ in exported or re-assembled files) and
the file's first record (number and time). When the first record is another one (the file was
replaced by a new export, or the log cleared: numbers start again at 1), the file is read from
its start; records already stored keep their ids (``collectors.reader.read_evtx``) and are
counted as duplicates, never stored twice."""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable
from typing import Any

from socmon.collectors.lines import LineHandler
from socmon.collectors.reader import first_record, read_evtx
from socmon.collectors.sources.polled import PolledSource
from socmon.settings.collectors import EvtxSource

log = logging.getLogger(__name__)


class EvtxTailer(PolledSource[EvtxSource]):
    thread_prefix = "evtx"
    join_timeout = 30.0
    poll_failed = "evtx poll failed; continuing"

    def _restore(self, saved: dict[str, dict[str, Any]]) -> None:
        self.state: dict[str, dict[str, Any]] = saved
        self._mtimes: dict[str, float] = {}
        # one handler per file, kept across polls (its enrichment, id prefixes, counter and
        # ack wrapper are worked out once; a directory of small files pays for them once)
        self._handlers: dict[str, tuple[LineHandler, Callable[[int], None]]] = {}

    def close(self) -> None:
        with self._lock:
            self.store.save(dict(self.state))

    def poll(self) -> int:
        n = 0
        for pattern in self.cfg.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                try:
                    mtime = os.stat(path).st_mtime
                except OSError:
                    continue
                if self._mtimes.get(path) == mtime:
                    continue
                self._mtimes[path] = mtime
                n += self._read(path)
        with self._lock:
            self.store.save(dict(self.state))
        return n

    def _handler(self, path: str) -> tuple[LineHandler, Callable[[int], None]]:
        kept = self._handlers.get(path)
        if kept is None:

            def on_acked(rid: int) -> None:
                with self._lock:
                    cur = self.state.setdefault(path, {"record": 0, "first": None})
                    if rid > cur["record"]:
                        cur["record"] = rid

            if len(self._handlers) >= 4096:  # files come and go: keep it bounded
                self._handlers.clear()
            handler = LineHandler(
                "winjson",
                self.settings,
                self.enricher,
                self.sink,
                source_kind="evtx",
                source=path,
            )
            kept = self._handlers[path] = (handler, on_acked)
        return kept

    def _read(self, path: str) -> int:
        first = first_record(path)
        with self._lock:
            cur = self.state.get(path, {})
            if cur and "first" not in cur:  # a checkpoint of an older version: trusted
                cur["first"] = first
            elif cur.get("first") != first:  # another file at this path: from its start
                cur = self.state[path] = {"record": 0, "first": first}
            after = int(cur.get("record", 0))
        handler, on_acked = self._handler(path)
        return read_evtx(path, path, handler, after_record=after, on_acked=on_acked)
