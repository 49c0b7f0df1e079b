"""Pending notifications survive a kill: the outbox in the state index (issue 6)."""

from __future__ import annotations

import time

from socmon.alerting.grouping import AlertManager
from socmon.alerting.notify.dispatcher import Notifier
from socmon.alerting.notify.outbox import KIND
from socmon.alerting.services import DetectionQueue

from .helpers import detection, event
from .receivers import HttpReceiver, free_port
from .test_notify import _note, _settings


def _pending(es_client, names) -> int:
    es_client.indices.refresh(index=names.state)
    return int(es_client.count(index=names.state, query={"term": {"kind": KIND}})["count"])


def _retrying(es_client, names, n: int):
    """A notifier with ``n`` notifications retrying against a receiver that is down; its
    settings and the receiver's port (to bring it up later)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/in"
    s = _settings({"hook": {"type": "webhook", "url": url}}, retry_max_attempts=1000)
    first = Notifier(s, es_client, names)
    first.start()
    for i in range(n):
        first.submit(_note(i))
    deadline = time.time() + 10
    while first.counts["failed"] < n and time.time() < deadline:
        time.sleep(0.05)
    return first, s, port


def test_pending_notifications_survive_a_kill(es_client, names):
    first, s, port = _retrying(es_client, names, 5)
    assert first.counts["failed"] >= 5 and first.counts["sent"] == 0  # receiver down: retrying
    assert _pending(es_client, names) == 5
    # The kill: threads die, nothing is flushed, sent or dead-lettered (no stop()).
    first._stop.set()
    for t in first._threads:
        t.join(timeout=5)
    del first

    with HttpReceiver(port=port) as rx:
        second = Notifier(s, es_client, names)
        second.start()
        second.submit(_note(0))  # re-raised after the restart: still delivered once
        assert second.flush(20)
        second.stop()
        bodies = rx.json_bodies()
    ids = sorted(b["alert"]["id"] for b in bodies)
    assert ids == [f"alert-{i}" for i in range(5)]
    assert len({b["notification_id"] for b in bodies}) == 5
    for req, body in zip(rx.accepted, bodies, strict=True):
        assert req["headers"]["X-Socmon-Delivery"] == body["delivery_id"]
    assert _pending(es_client, names) == 0  # delivered: the outbox is empty


def test_a_clean_stop_keeps_undelivered_notifications_for_the_next_start(es_client, names):
    """A stop while the receiver is down dead-lettered the pending notifications before; now
    they stay in the outbox and the next start delivers them."""
    first, s, port = _retrying(es_client, names, 3)
    first.stop(timeout=0.5)
    assert first.counts["dead_lettered"] == 0 and first.counts["sent"] == 0
    assert _pending(es_client, names) == 3
    with HttpReceiver(port=port) as rx:
        second = Notifier(s, es_client, names)
        second.start()
        assert second.flush(20)
        second.stop()
        bodies = rx.json_bodies()
    assert sorted(b["alert"]["id"] for b in bodies) == [f"alert-{i}" for i in range(3)]
    assert _pending(es_client, names) == 0


def test_a_kill_between_the_alert_writes_and_the_hand_off_loses_no_notification(es_client, names):
    """Found by the fault suite (kill -9 under load: ~1 notification lost per kill): the
    process died after writing an alert's markers but before handing its notification to the
    notifier; the replayed events found their markers and notified nothing. The notification
    is now in the outbox before the markers."""
    port = free_port()
    s = _settings({"hook": {"type": "webhook", "url": f"http://127.0.0.1:{port}/in"}})
    first = Notifier(s, es_client, names)  # never started: the process dies first
    killed = AlertManager(es_client, names, s, notify=lambda n: None, persist=first.persist)
    det = detection([event(1, user="alice")])
    assert killed.handle(det).action == "created"  # alert and markers written, nothing sent
    with HttpReceiver(port=port) as rx:
        second = Notifier(s, es_client, names)
        second.start()
        restarted = AlertManager(es_client, names, s, notify=second.submit, persist=second.persist)
        assert restarted.handle(det).action == "duplicate"  # the replay notifies nothing
        assert second.flush(20)
        second.stop()
        bodies = rx.json_bodies()
    es_client.indices.refresh(index=names.alerts)
    (alert,) = es_client.search(index=names.alerts)["hits"]["hits"]
    assert [(b["kind"], b["alert"]["id"]) for b in bodies] == [("new", alert["_id"])]
    assert _pending(es_client, names) == 0


class _TimedOutOnce(AlertManager):
    """The alert write fails once after the markers went in (a request that timed out while
    Elasticsearch was paused, applied when it resumed)."""

    failed = False

    def _write_alerts(self, ws):
        if not self.failed:
            self.failed = True
            raise ConnectionError("timed out")
        return super()._write_alerts(ws)


def test_a_batch_retried_after_a_timeout_still_notifies(es_client, names):
    """Found by the fault suite (Elasticsearch paused with SIGSTOP): the retried batch found its
    markers, reconciled the alert and left its notification in the outbox until a restart."""
    with HttpReceiver() as rx:
        s = _settings({"hook": {"type": "webhook", "url": f"{rx.url}/in"}})
        notifier = Notifier(s, es_client, names)
        notifier.start()
        manager = _TimedOutOnce(
            es_client, names, s, notify=notifier.submit, persist=notifier.persist
        )
        q = DetectionQueue(manager, s, after_batch=notifier.submit_persisted)
        q.start()
        q(detection([event(1, user="bob")]))
        assert q.flush(30)
        q.stop()
        assert manager.failed  # the fault happened
        assert notifier.flush(20)
        notifier.stop()
        bodies = rx.json_bodies()
    es_client.indices.refresh(index=names.alerts)
    (alert,) = es_client.search(index=names.alerts)["hits"]["hits"]
    assert [(b["kind"], b["alert"]["id"]) for b in bodies] == [("new", alert["_id"])]
    assert _pending(es_client, names) == 0
