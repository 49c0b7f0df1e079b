"""What the polled file sources (``collectors.files[]``, ``collectors.evtx[]``) share: the
checkpoint file and the daemon thread that calls ``poll`` every ``poll_interval`` seconds."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from socmon.collectors.enrich import Enricher
from socmon.collectors.metrics import CHECKPOINT_UNREADABLE, CHECKPOINT_WRITES
from socmon.pipeline import EventSink
from socmon.settings.collectors import CollectorSettings, EvtxSource, FileSource

log = logging.getLogger(__name__)

SourceT = TypeVar("SourceT", FileSource, EvtxSource)


class CheckpointStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads(self.path.read_bytes())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as e:
            kept = self.path.with_name(self.path.name + ".unreadable")
            with contextlib.suppress(OSError):
                shutil.copyfile(self.path, kept)  # the evidence, before the next save
            CHECKPOINT_UNREADABLE.inc()
            log.error(
                "checkpoint file unreadable; re-reading the source's files from the start "
                "(already stored events are recognised by their ids)",
                extra={"path": str(self.path), "reason": str(e), "kept_as": str(kept)},
            )
            return {}

    def save(self, states: dict[str, dict[str, Any]]) -> None:
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(states))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            CHECKPOINT_WRITES.inc()


class PolledSource(Generic[SourceT]):
    """One source entry followed by one daemon thread; subclasses implement ``_restore`` (take
    the saved checkpoint, set up their state) and ``poll``."""

    thread_prefix = "poll"  # the thread is named "<thread_prefix>-<name>"
    join_timeout = 10.0  # seconds ``stop`` waits for the thread
    poll_failed = "source poll failed; continuing"  # logged when ``poll`` raises

    def __init__(
        self,
        cfg: SourceT,
        settings: CollectorSettings,
        sink: EventSink,
        enricher: Enricher,
        checkpoint_dir: Path,
        name: str,
    ) -> None:
        self.cfg: SourceT = cfg
        self.settings = settings
        self.sink = sink
        self.enricher = enricher
        self.name = name
        self.store = CheckpointStore(checkpoint_dir / f"{name}.json")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._restore(self.store.load())

    def _restore(self, saved: dict[str, dict[str, Any]]) -> None:
        raise NotImplementedError

    def poll(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"{self.thread_prefix}-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                # logged under the subclass's module, as each source logged before
                logging.getLogger(type(self).__module__).exception(
                    self.poll_failed, extra={"source": self.name}
                )
            self._stop.wait(self.cfg.poll_interval)
