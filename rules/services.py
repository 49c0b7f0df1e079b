"""The rules layer's services in ``socmon run``: streaming detection (this module) and
scheduled detection (``rules.scheduled.scheduled_service``), built from one rule load.

Streaming: an ``EventSink`` added to ``ctx.events``; events are queued (bounded: collectors wait
when it is full, nothing is dropped) and matched by one worker thread. Detections go to
``ctx.detection_handler`` (alerting) or, until alerting exists, to the alerts index in the
simple form of ``rules.scheduled_output.detection_document`` through ``ctx.writer`` (``create``
with the deterministic detection id: a replay never duplicates). The rule store is polled
every ``detection.store_poll_interval`` seconds; a change rebuilds the engine without a
restart. Correlation windows are snapshotted to the state store (ES or file) and restored.

Both modes share one ``rules.reload.RuleWatcher``: the store's revision is polled by each
service every ``detection.store_poll_interval`` seconds, and a change is loaded once and
handed to both (the streaming engine is rebuilt; the scheduled runner swaps its queries).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from socmon.rules.cache import CacheStats, cache_for, compiled
from socmon.rules.correlation import make_correlator
from socmon.rules.detection import Detection
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import LoadedRules, load_for_run
from socmon.rules.metrics import (
    EVENT_ERRORS,
    MATCH_SECONDS,
    QUEUE_CAPACITY,
    QUEUE_DEPTH,
    QUEUE_WAIT,
    RELOADS,
)
from socmon.rules.reload import RuleWatcher
from socmon.rules.scheduled import scheduled_service

log = logging.getLogger(__name__)

_STOP = object()


def _state_store(ctx: Any) -> Any:
    s = ctx.settings.detection
    mode = s.correlation_state
    if mode == "es":
        from socmon.rules.correlation_state import EsStateStore

        return EsStateStore(ctx.client, ctx.names)
    if mode == "file":
        from socmon.rules.correlation_state import FileStateStore

        return FileStateStore(ctx.settings.var_dir)
    return None


class StreamingDetectionService:
    """Streaming detection inside ``socmon run`` (an EventSink and a Service)."""

    name = "streaming-detection"

    def __init__(self, ctx: Any, loaded: LoadedRules, watcher: RuleWatcher) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.detection
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=self.settings.streaming_queue_size)
        QUEUE_CAPACITY.set(self.settings.streaming_queue_size)
        QUEUE_DEPTH.set_function(self.queue.qsize)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state = _state_store(ctx)
        self.watcher = watcher
        self._generation = watcher.generation
        self.engine = self._build(loaded)
        self.detections = 0

    # ------------------------------------------------------------------ engine

    def _build(self, loaded: LoadedRules) -> StreamingEngine:
        stats = CacheStats()
        engine = compiled(loaded, cache_for(self.settings), self.settings.placeholders, stats=stats)
        if engine.correlations:
            corr = make_correlator(
                engine,
                max_groups=self.settings.correlation_max_groups,
                max_events_per_group=self.settings.correlation_max_events_per_group,
            )
            if self._state is not None:
                try:
                    corr.restore(self._state.load())
                except Exception as e:
                    log.warning("correlation state not restored", extra={"error": str(e)})
            engine.set_correlator(corr)
        log.info(
            "streaming engine ready",
            extra={
                "rules": len(engine.rules),
                "correlations": len(engine.correlations),
                "problems": sum(1 for p in engine.problems if p.fatal),
                "unanchored": len(engine.unanchored),
                "rule_cache": stats.outcome or "off",
                "seconds": round(stats.seconds, 3),
            },
        )
        return engine

    def _save_state(self) -> None:
        corr = self.engine.correlator
        if self._state is None or corr is None:
            return
        try:
            self._state.save(corr.snapshot())
        except Exception as e:
            log.warning("correlation state not saved", extra={"error": str(e)})

    # ------------------------------------------------------------------ sink

    def emit(self, doc_id: str, event: dict[str, Any], ack: Any = None) -> None:
        """EventSink: queue the event for matching (waits while the queue is full)."""
        self.queue.put((doc_id, event, time.monotonic()))

    def deliver(self, d: Detection) -> None:
        handler = self.ctx.detection_handler
        if handler is not None:
            handler(d)
        else:
            from socmon.rules.scheduled_output import detection_document

            self.ctx.writer.add(self.ctx.names.alerts, d.id, detection_document(d), op="create")
        self.detections += 1

    def _worker(self) -> None:
        from socmon.indices import events_index_for

        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            doc_id, event, queued = item
            QUEUE_WAIT.set(time.monotonic() - queued)
            t0 = time.perf_counter()
            try:
                index = events_index_for(self.ctx.names, event.get("@timestamp"))
            except Exception:
                index = None
            try:
                for d in self.engine.match(event, doc_id, index):
                    self.deliver(d)
            except Exception as e:
                EVENT_ERRORS.labels(reason="service").inc()
                log.warning(
                    "streaming detection failed on an event",
                    extra={"doc_id": doc_id, "reason": f"{type(e).__name__}: {e}"},
                )
            MATCH_SECONDS.observe(time.perf_counter() - t0)
            self.queue.task_done()

    def _housekeeping(self) -> None:
        interval = min(
            self.settings.store_poll_interval,
            self.settings.correlation_state_interval,
        )
        last_state = time.monotonic()
        while not self._stop.wait(interval):
            if self.settings.store_rules:
                self._maybe_reload()
            corr = self.engine.correlator
            if corr is not None:
                try:
                    for d in corr.flush(time.time()):
                        self.deliver(d)
                except Exception as e:
                    log.warning("correlation flush failed", extra={"error": str(e)})
            if time.monotonic() - last_state >= self.settings.correlation_state_interval:
                self._save_state()
                last_state = time.monotonic()

    def _maybe_reload(self) -> None:
        got = self.watcher.poll(self._generation)
        if got is None:
            return
        # adopted before building: a generation that fails to build is not retried
        self._generation, loaded = got
        self._save_state()
        try:
            engine = self._build(loaded)
        except Exception:
            RELOADS.labels(outcome="failed").inc()
            log.exception("rule reload failed; keeping the current rules")
            return
        RELOADS.labels(outcome="ok").inc()
        self.engine = engine  # atomic swap: the worker picks it up on its next event
        log.info("streaming engine rebuilt", extra={"generation": self._generation})

    # ------------------------------------------------------------------ service

    def start(self) -> None:
        for target, name in (
            (self._worker, "streaming-detection"),
            (self._housekeeping, "rules-reload"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def ready(self) -> bool:
        """The engine is compiled and its threads run (the API's readiness probe)."""
        return self.engine is not None and any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self.queue.put(_STOP)
        for t in self._threads:
            t.join(timeout=30)
        self._save_state()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been matched (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False


def streaming_service(
    ctx: Any, loaded: LoadedRules, watcher: RuleWatcher
) -> StreamingDetectionService | None:
    if not ctx.settings.detection.streaming_enabled:
        log.info("streaming detection disabled (detection.streaming_enabled)")
        return None
    svc = StreamingDetectionService(ctx, loaded, watcher)
    ctx.events.add(svc)
    return svc


def build(ctx: Any) -> list[Any]:
    """The rules layer's services: streaming and scheduled detection, one rule load and one
    watcher of the rule store."""
    watcher = RuleWatcher(ctx, load_for_run)
    loaded = watcher.initial()
    out: list[Any] = []
    svc = streaming_service(ctx, loaded, watcher)
    if svc is not None:
        out.append(svc)
    sched = scheduled_service(ctx, loaded, watcher)
    if sched is not None:
        out.append(sched)
    return out
