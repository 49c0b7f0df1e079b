"""The notifier: routes notifications to channels without ever blocking detection.

- ``submit`` only puts the notification in a bounded in-memory queue (when full, the
  notification is dead-lettered at once, counted and logged: never dropped silently).
- A router thread matches routes (severity, unit, rule, kind), applies quiet hours, digest
  intervals and per-route rate limits (what is held back goes into the route's digest: one
  message summarising many alerts), and schedules one delivery per channel.
- Delivery workers send with retries and exponential backoff (``retry_initial`` doubling up
  to ``retry_max``); after ``retry_max_attempts`` the message goes to the dead-letter index.
  Each delivery has a deterministic id (``X-Socmon-Delivery`` header, e-mail Message-ID) so a
  receiver can recognise a retry of a message it already took.
- A notification id is delivered at most once per process (recent ids are remembered).
- With Elasticsearch, ``submit`` first writes the notification to the outbox (state index,
  see ``alerting.notify.outbox``); it is deleted once every delivery carrying it is sent or
  dead-lettered, and ``start`` reloads what a killed process left pending.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from socmon.alerting import metrics, model
from socmon.alerting.notify import channels
from socmon.alerting.notify.message import Notification
from socmon.alerting.notify.outbox import Outbox
from socmon.alerting.notify.routing import RateLimiter, bypasses_quiet, quiet_until, route_matches
from socmon.alerting.notify.templates import Message, Renderer
from socmon.ids import doc_id
from socmon.indices import IndexNames
from socmon.settings.alerting import AlertingSettings, Route

log = logging.getLogger(__name__)

Sender = Callable[[channels.ChannelConfig, Message, str], None]

_SEEN_MAX = 100_000


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    id: str = field(compare=False)
    channel: str = field(compare=False)
    route: str = field(compare=False)
    msg: Message = field(compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)  # notification ids carried
    attempt: int = field(default=0, compare=False)
    last_error: str = field(default="", compare=False)


@dataclass
class _Digest:
    items: list[Notification] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    flush_at: float = 0.0


class Notifier:
    name = "alerting-notifier"

    def __init__(
        self,
        settings: AlertingSettings,
        client: Elasticsearch | None = None,
        names: IndexNames | None = None,
        clock: Callable[[], dt.datetime] = model.utcnow,
        sender: Sender = channels.send,
    ) -> None:
        self.settings = settings
        self.client = client
        self.names = names
        self.clock = clock
        self.sender = sender
        self.renderer = Renderer(settings.base_url, settings.alert_path, settings.timezone)
        self._inbox: queue.Queue[Notification] = queue.Queue(maxsize=settings.notify_queue_size)
        self._heap: list[_Delivery] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._routing = 0
        self._seq = itertools.count()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limiters = {r.name: RateLimiter(r.rate_limit, r.rate_period) for r in settings.routes}
        self._digests: dict[str, _Digest] = {}
        self._digest_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts = {"sent": 0, "failed": 0, "dead_lettered": 0, "digests": 0}
        self._counts_lock = threading.Lock()
        self.outbox = Outbox(client, names) if client is not None and names is not None else None
        # Outstanding work (held digest items, scheduled deliveries) per notification id: at
        # zero its outbox document is deleted.
        self._pending: dict[str, int] = {}
        self._pending_lock = threading.Lock()
        # written by ``persist``, not yet submitted
        self._persisted: dict[str, Notification] = {}

    # ------------------------------------------------------------------ public

    def persist(self, notes: list[Notification]) -> None:
        """Write notifications to the outbox ahead of the alert changes they announce (raises
        when Elasticsearch does not take them). A process killed after those changes but before
        ``submit`` leaves them pending for the next start instead of losing them: the replayed
        events find their markers and would not notify again."""
        if self.outbox is None or not notes:
            return
        self.outbox.put_many(notes)
        with self._pending_lock:
            self._persisted.update((n.id, n) for n in notes)

    def submit_persisted(self) -> int:
        """Submit what ``persist`` wrote but nobody submitted: a batch that failed after
        persisting (e.g. a request that timed out but was applied) is applied again, finds its
        markers, and would otherwise leave its notifications in the outbox until a restart.
        Called after each applied batch; the ids are deterministic, so nothing is sent twice."""
        with self._pending_lock:
            left, self._persisted = list(self._persisted.values()), {}
        for n in left:
            self._enqueue(n)
        return len(left)

    def submit(self, n: Notification) -> None:
        """Persist (outbox, unless ``persist`` did) then queue a notification; never blocks on
        delivery."""
        with self._pending_lock:
            persisted = self._persisted.pop(n.id, None) is not None
        if self.outbox is not None and not persisted:
            try:
                self.outbox.put(n)
            except Exception as e:
                metrics.NOTIFY_OUTBOX_ERRORS.inc()
                log.error(
                    "could not persist the notification to the outbox; queued in memory only",
                    extra={"notification_id": n.id, "reason": f"{type(e).__name__}: {e}"[:500]},
                )
        self._enqueue(n)

    def _enqueue(self, n: Notification) -> None:
        self._add_pending((n.id,), 1)
        try:
            self._inbox.put_nowait(n)
        except queue.Full:
            log.error(
                "notification queue full; dead-lettering",
                extra={"notification_id": n.id, "alert_id": n.alert.get("id")},
            )
            self._dead_letter_raw(n.id, "queue", {"notification": _brief(n)}, "queue full", 0)
            self._release((n.id,))

    __call__ = submit

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self.reload()
        self._spawn(self._router_loop, "notify-router")
        for i in range(self.settings.notify_workers):
            self._spawn(self._worker_loop, f"notify-worker-{i}")

    def reload(self) -> int:
        """Queue every notification left pending in the outbox (by a killed process)."""
        if self.outbox is None:
            return 0
        try:
            pending = self.outbox.load()
        except Exception:
            log.exception("could not read the notification outbox; pending notifications wait")
            return 0
        for n in pending:
            self._enqueue(n)
        if pending:
            log.info("pending notifications reloaded", extra={"notifications": len(pending)})
        return len(pending)

    def stop(self, timeout: float = 10.0) -> None:
        """Send held digests, wait up to ``timeout`` for deliveries; what is still undelivered
        stays in the outbox for the next start (without Elasticsearch: dead-lettered)."""
        if not self._threads:
            return
        self.flush(timeout / 2)
        self.flush_digests()
        self.flush(timeout / 2)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            left, self._heap = self._heap, []
        if self.outbox is not None:
            if left:
                log.warning(
                    "notifications not delivered before the stop: kept in the outbox, sent "
                    "after the next start",
                    extra={"deliveries": len(left)},
                )
        else:
            for d in left:
                self._dead_letter(d, "shutdown before delivery")
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued notification is routed and every due delivery is done
        (held digests stay held; retries in backoff are waited for)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                idle = (
                    self._inbox.empty()
                    and not self._heap
                    and self._in_flight == 0
                    and self._routing == 0
                )
            if idle:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def flush_digests(self) -> None:
        """Send every held digest now (also done when each falls due)."""
        self._check_digests(force=True)

    def pending_digests(self) -> dict[str, int]:
        with self._digest_lock:
            return {name: len(d.items) for name, d in self._digests.items() if d.items}

    # ------------------------------------------------------------------ routing

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _router_loop(self) -> None:
        while not self._stop.is_set():
            try:
                n = self._inbox.get(timeout=0.1)
            except queue.Empty:
                n = None
            if n is not None:
                with self._cond:
                    self._routing += 1
                try:
                    self._route(n)
                except Exception:
                    log.exception("routing a notification failed", extra={"notification_id": n.id})
                    self._dead_letter_raw(n.id, "router", {"notification": _brief(n)}, "bug", 0)
                finally:
                    self._release((n.id,))
                    with self._cond:
                        self._routing -= 1
            try:
                self._check_digests()
            except Exception:
                log.exception("digest check failed")
            metrics.NOTIFY_QUEUE.set(len(self._heap) + self._inbox.qsize())

    def _route(self, n: Notification) -> None:
        if n.id in self._seen:
            log.info("notification already delivered; skipped", extra={"notification_id": n.id})
            return
        self._seen[n.id] = None
        if len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        routes = [r for r in self.settings.routes if route_matches(r, n)]
        if not routes:
            log.debug("no route for notification", extra={"notification_id": n.id})
            return
        now = self.clock()
        tz = self.renderer.tz
        for r in routes:
            until = quiet_until(r, now, tz)
            if until is not None and not bypasses_quiet(r, n):
                self._hold(r, n, "quiet_hours", until.timestamp())
            elif r.digest_interval > 0:
                self._hold(r, n, "digest", now.timestamp() + r.digest_interval)
            elif not self._limiters[r.name].allow(time.monotonic()):
                wait = self._limiters[r.name].free_at(time.monotonic()) - time.monotonic()
                self._hold(r, n, "rate_limit", now.timestamp() + max(wait, 0.0))
            else:
                lang = r.language or self.settings.language
                self._schedule(r, self.renderer.render(n, lang), n.id, (n.id,))

    def _hold(self, r: Route, n: Notification, reason: str, flush_at: float) -> None:
        metrics.NOTIFY_DIGESTED.labels(r.name, reason).inc()
        self._add_pending((n.id,), 1)
        with self._digest_lock:
            d = self._digests.setdefault(r.name, _Digest())
            if not d.items:
                d.flush_at = flush_at
            elif reason == "quiet_hours":
                d.flush_at = max(d.flush_at, flush_at)
            d.items.append(n)
            d.reasons.add(reason)

    def _check_digests(self, force: bool = False) -> None:
        now = self.clock()
        due: list[tuple[Route, list[Notification]]] = []
        with self._digest_lock:
            for r in self.settings.routes:
                d = self._digests.get(r.name)
                if d is None or not d.items:
                    continue
                if not force and d.flush_at > now.timestamp():
                    continue
                until = quiet_until(r, now, self.renderer.tz)
                if not force and until is not None:
                    held = [n for n in d.items if not bypasses_quiet(r, n)]
                    if held:
                        d.flush_at = until.timestamp()
                        continue
                due.append((r, d.items))
                self._digests[r.name] = _Digest()
        for r, items in due:
            lang = r.language or self.settings.language
            notes = tuple(n.id for n in items)
            if len(items) == 1:
                self._schedule(r, self.renderer.render(items[0], lang), items[0].id, notes)
            else:
                msg = self.renderer.render_digest(items, lang, r.name)
                key = doc_id("digest", r.name, *notes)
                with self._counts_lock:
                    self.counts["digests"] += 1
                self._schedule(r, msg, key, notes)
            self._release(notes)  # the hold, now replaced by the scheduled deliveries

    def _schedule(self, r: Route, msg: Message, key: str, notes: tuple[str, ...]) -> None:
        self._add_pending(notes, len(r.channels))
        with self._cond:
            for ch in r.channels:
                d = _Delivery(
                    due=time.monotonic(),
                    seq=next(self._seq),
                    id=doc_id("delivery", key, r.name, ch),
                    channel=ch,
                    route=r.name,
                    msg=msg,
                    notes=notes,
                )
                heapq.heappush(self._heap, d)
            self._cond.notify_all()

    # ------------------------------------------------------------------ delivery

    def _worker_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop.is_set():
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        d = heapq.heappop(self._heap)
                        self._in_flight += 1
                        break
                    wait = self._heap[0].due - now if self._heap else 0.5
                    self._cond.wait(min(wait, 0.5))
            try:
                self._attempt(d)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _attempt(self, d: _Delivery) -> None:
        cfg = self.settings.channels.get(d.channel)
        if cfg is None:
            self._dead_letter(d, f"channel {d.channel!r} is not configured")
            return
        kind = cfg.type
        if self._stop.is_set():  # stopping: leave it in the outbox for the next start
            return
        metrics.NOTIFY_ATTEMPTS.labels(kind).inc()
        d.attempt += 1
        try:
            self.sender(cfg, d.msg, d.id)
        except Exception as e:
            metrics.NOTIFY_FAILURES.labels(kind).inc()
            with self._counts_lock:
                self.counts["failed"] += 1
            d.last_error = f"{type(e).__name__}: {e}"[:1000]
            permanent = isinstance(e, channels.DeliveryError) and e.permanent
            if permanent or d.attempt >= self.settings.retry_max_attempts:
                self._dead_letter(d, d.last_error)
                return
            delay = min(self.settings.retry_max, self.settings.retry_initial * 2 ** (d.attempt - 1))
            log.warning(
                "notification delivery failed; will retry",
                extra={
                    "delivery_id": d.id,
                    "channel": d.channel,
                    "attempt": d.attempt,
                    "retry_in": delay,
                    "reason": d.last_error,
                },
            )
            d.due = time.monotonic() + delay
            with self._cond:
                heapq.heappush(self._heap, d)
                self._cond.notify_all()
            return
        metrics.NOTIFY_SENT.labels(kind).inc()
        self._release(d.notes)
        with self._counts_lock:
            self.counts["sent"] += 1
        log.info(
            "notification delivered",
            extra={"delivery_id": d.id, "channel": d.channel, "route": d.route},
        )

    def _dead_letter(self, d: _Delivery, reason: str) -> None:
        cfg = self.settings.channels.get(d.channel)
        kind = cfg.type if cfg is not None else "unknown"
        metrics.NOTIFY_DEAD.labels(kind).inc()
        doc = {"channel": d.channel, "route": d.route, "message": d.msg.payload}
        self._dead_letter_raw(d.id, kind, doc, reason, d.attempt)
        self._release(d.notes)

    # ------------------------------------------------------------------ outbox

    def _add_pending(self, notes: tuple[str, ...], count: int) -> None:
        with self._pending_lock:
            for nid in notes:
                self._pending[nid] = self._pending.get(nid, 0) + count

    def _release(self, notes: tuple[str, ...]) -> None:
        """One piece of work for each of ``notes`` is over; forget those with none left."""
        finished = []
        with self._pending_lock:
            for nid in notes:
                left = self._pending.get(nid, 0) - 1
                if left > 0:
                    self._pending[nid] = left
                else:
                    self._pending.pop(nid, None)
                    finished.append(nid)
        if self.outbox is None:
            return
        for nid in finished:
            try:
                self.outbox.done(nid)
            except Exception:
                metrics.NOTIFY_OUTBOX_ERRORS.inc()
                log.exception(
                    "could not delete the outbox document; it will be re-sent after a restart",
                    extra={"notification_id": nid},
                )

    def _dead_letter_raw(
        self, key: str, kind: str, doc: dict[str, Any], reason: str, attempts: int
    ) -> None:
        with self._counts_lock:
            self.counts["dead_lettered"] += 1
        body = {
            "@timestamp": model.iso(model.utcnow()),
            "index": "notification",
            "doc_id": key,
            "reason": reason,
            "error_type": f"notification_{kind}",
            "status": attempts,
            "document": orjson.dumps(doc, default=str).decode()[:32_000],
        }
        log.error(
            "notification dead-lettered",
            extra={
                "delivery_id": key,
                "channel_type": kind,
                "reason": reason,
                "attempts": attempts,
            },
        )
        if self.client is None or self.names is None:
            return
        try:
            self.client.index(index=self.names.deadletter, id=key, document=body)
        except Exception:
            log.exception(
                "could not write the notification dead letter", extra={"dead_letter": body}
            )


def _brief(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "alert_id": n.alert.get("id"), "at": n.at}
