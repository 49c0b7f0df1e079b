"""EVTX files (``collectors.evtx[]``): read new records of matching files, poll for changes.
The checkpoint per file is the highest acknowledged EventRecordID."""

from __future__ import annotations

import glob
import logging
import os
import threading
from pathlib import Path
from typing import Any

from collectors.enrich import Enricher
from collectors.lines import LineHandler
from collectors.reader import read_evtx
from collectors.sources.files import CheckpointStore
from socmon.pipeline import Ack, Event, EventSink
from socmon.settings.collectors import CollectorSettings, EvtxSource

log = logging.getLogger(__name__)


class _AckLast:
    """Wraps a sink so that each record's ack records its id for the checkpoint."""

    def __init__(self, sink: EventSink, on_ack: Any) -> None:
        self.sink = sink
        self.on_ack = on_ack

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        rid = event.get("winlog", {}).get("record_id")
        self.sink.emit(doc_id, event, (lambda: self.on_ack(rid)) if isinstance(rid, int) else None)


class EvtxTailer:
    def __init__(
        self,
        cfg: EvtxSource,
        settings: CollectorSettings,
        sink: EventSink,
        enricher: Enricher,
        checkpoint_dir: Path,
        name: str,
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.sink = sink
        self.enricher = enricher
        self.name = name
        self.store = CheckpointStore(checkpoint_dir / f"{name}.json")
        self.state: dict[str, dict[str, Any]] = self.store.load()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mtimes: dict[str, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"evtx-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def close(self) -> None:
        with self._lock:
            self.store.save(dict(self.state))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("evtx poll failed; continuing", extra={"source": self.name})
            self._stop.wait(self.cfg.poll_interval)

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

    def _read(self, path: str) -> int:
        with self._lock:
            after = int(self.state.get(path, {}).get("record", 0))

        def on_ack(rid: int) -> None:
            with self._lock:
                cur = self.state.setdefault(path, {"record": 0})
                if rid > cur["record"]:
                    cur["record"] = rid

        handler = LineHandler(
            "winjson",
            self.settings,
            self.enricher,
            _AckLast(self.sink, on_ack),
            source_kind="evtx",
            source=path,
        )
        return read_evtx(Path(path), path, handler, after_record=after)
