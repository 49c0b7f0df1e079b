"""Alerting inside ``socmon run``: the detection handler, the notifier and the checkers.

``build(ctx)`` sets ``ctx.detection_handler`` to a ``DetectionQueue``: the rules layer calls it
per detection; it only enqueues (blocking only when ``alerting.queue_size`` detections are
already waiting: backpressure, never loss), and a worker applies batches with the
``AlertManager``. Failed batches (Elasticsearch down) are retried with backoff; because
applying a batch is idempotent, a retry after a partial write changes nothing twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from socmon.alerting import metrics
from socmon.alerting.grouping import AlertManager
from socmon.alerting.housekeeping import prune_state
from socmon.alerting.notify.dispatcher import Notifier
from socmon.alerting.operational import OperationalChecks
from socmon.rules.detection import Detection
from socmon.settings.alerting import AlertingSettings

log = logging.getLogger(__name__)


class DetectionQueue:
    """The detection handler: enqueue now, apply in batches in a worker thread."""

    name = "alerting-detections"

    def __init__(
        self,
        manager: AlertManager,
        settings: AlertingSettings,
        after_batch: Callable[[], Any] | None = None,
    ) -> None:
        self.manager = manager
        self.settings = settings
        self.after_batch = after_batch  # the notifier's submit_persisted
        self._q: queue.Queue[Detection] = queue.Queue(maxsize=settings.queue_size)
        self._stop = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.handled = 0

    def __call__(self, detection: Detection) -> None:
        self._q.put(detection)
        metrics.QUEUE_DEPTH.set(self._q.qsize())

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Apply what is queued (up to ``timeout``), then stop."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=10)
        self._thread = None
        left = self._q.qsize()
        if left:
            log.error(
                "alerting stopped with detections not applied (scheduled detection raises "
                "them from the stored events; events re-read are detected again)",
                extra={"detections": left},
            )

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._q.empty() and self._busy == 0:
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _take_batch(self) -> list[Detection]:
        try:
            first = self._q.get(timeout=0.2)
        except queue.Empty:
            return []
        with self._lock:
            self._busy += 1
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait
        while len(batch) < self.settings.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._q.get(timeout=max(remaining, 0.0))
                    if remaining > 0
                    else self._q.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            metrics.QUEUE_DEPTH.set(self._q.qsize())
            attempt = 0
            try:
                while True:
                    try:
                        self.manager.handle_many(batch)
                        self.handled += len(batch)
                        if self.after_batch is not None:
                            self.after_batch()
                        break
                    except Exception as e:
                        attempt += 1
                        metrics.HANDLER_ERRORS.labels(type(e).__name__).inc()
                        delay = min(30.0, 0.5 * 2 ** min(attempt, 6))
                        log.warning(
                            "applying detections failed; retrying",
                            extra={
                                "detections": len(batch),
                                "attempt": attempt,
                                "retry_in": delay,
                                "reason": f"{type(e).__name__}: {e}"[:500],
                            },
                        )
                        if self._stop.wait(delay):
                            log.error(
                                "stopping with a batch of detections not applied",
                                extra={"detection_ids": [d.id for d in batch][:100]},
                            )
                            return
            finally:
                with self._lock:
                    self._busy -= 1


class OperationalService:
    name = "alerting-checks"

    def __init__(self, checks: OperationalChecks, settings: AlertingSettings) -> None:
        self.checks = checks
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        next_silent = time.monotonic() + min(60.0, self.settings.silent_check_interval)
        next_sla = time.monotonic()
        next_prune = time.monotonic() + 300.0
        while not self._stop.wait(1.0):
            now = time.monotonic()
            if now >= next_sla:
                next_sla = now + self.settings.sla_check_interval
                self._run(self.checks.check_sla)
                self._run(self.checks.update_gauges)
            if now >= next_prune:
                next_prune = now + 6 * 3600.0
                self._run(self._prune)
            if now >= next_silent:
                next_silent = now + self.settings.silent_check_interval
                self._run(self.checks.check_silent_sources)

    def _prune(self) -> None:
        prune_state(self.checks.client, self.checks.names, self.settings.marker_retention_days)

    @staticmethod
    def _run(fn: Any) -> None:
        try:
            fn()
        except Exception:
            log.exception("operational check failed; will retry", extra={"check": fn.__name__})


def build(ctx: Any) -> list[Any]:
    """Alerting services for ``socmon run`` (see socmon.runner)."""
    settings: AlertingSettings = ctx.settings.alerting
    if not settings.enabled:
        log.info("alerting disabled (alerting.enabled=false)")
        return []
    notifier = Notifier(settings, ctx.client, ctx.names)
    manager = AlertManager(
        ctx.client, ctx.names, settings, notify=notifier.submit, persist=notifier.persist
    )
    detections = DetectionQueue(manager, settings, after_batch=notifier.submit_persisted)
    checks = OperationalChecks(ctx.client, ctx.names, settings, notify=notifier.submit)
    ctx.detection_handler = detections
    ctx.extras["alerting.manager"] = manager
    ctx.extras["alerting.notifier"] = notifier
    # Started in this order, stopped in reverse: checks, then the detection queue (its last
    # notifications still reach the notifier), then the notifier flushes.
    return [notifier, detections, OperationalService(checks, settings)]
