"""The notification outbox: pending notifications persisted in the state index.

A notification is written here (``kind: notification_pending``, id derived from the
notification id, so writing it again after a crash does not duplicate it) when it is submitted,
and deleted once every delivery it takes part in is sent or dead-lettered. On start the notifier
reloads what is left, so a kill (not a clean stop) loses nothing still queued, retrying or held
for a digest/quiet hours. A message sent just before a kill can be sent again after the restart
with the same ``X-Socmon-Delivery`` id / ``notification_id``: receivers de-duplicate on those.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from elasticsearch.helpers import scan

from socmon.alerting import model
from socmon.alerting.notify.message import Notification
from socmon.ids import doc_id
from socmon.indices import IndexNames

log = logging.getLogger(__name__)

KIND = "notification_pending"


def outbox_id(notification_id: str) -> str:
    return doc_id(KIND, notification_id)


class Outbox:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.names = names

    def put(self, n: Notification) -> None:
        """Persist ``n`` (raises when Elasticsearch does not take it)."""
        self.client.index(index=self.names.state, id=outbox_id(n.id), document=_doc(n))

    def put_many(self, notes: list[Notification]) -> None:
        """Persist several in one request (raises unless Elasticsearch took every one)."""
        ops: list[dict[str, Any]] = []
        for n in notes:
            ops += [{"index": {"_index": self.names.state, "_id": outbox_id(n.id)}}, _doc(n)]
        if not ops:
            return
        resp = self.client.bulk(operations=ops)
        if resp.get("errors"):
            failed = [i for i in resp["items"] if next(iter(i.values())).get("status", 500) >= 300]
            raise RuntimeError(f"outbox: {len(failed)} of {len(notes)} notifications not stored")

    def done(self, notification_id: str) -> None:
        """Forget a notification that was delivered or dead-lettered."""
        with contextlib.suppress(NotFoundError):
            self.client.delete(index=self.names.state, id=outbox_id(notification_id))

    def load(self) -> list[Notification]:
        """Every pending notification, oldest first."""
        try:
            self.client.indices.refresh(index=self.names.state)
        except NotFoundError:
            return []
        out: list[tuple[str, Notification]] = []
        hits: Any = scan(
            self.client,
            index=self.names.state,
            query={"query": {"term": {"kind": KIND}}},
            size=1000,
        )
        for h in hits:
            src = h["_source"]
            data = src.get("data") or {}
            try:
                n = Notification(
                    str(data["kind"]),
                    dict(data["alert"]),
                    str(data["at"]),
                    str(data["id"]),
                    dict(data.get("extra") or {}),
                )
            except (KeyError, TypeError, ValueError) as e:
                log.error(
                    "unreadable pending notification; left in the outbox",
                    extra={"doc_id": h["_id"], "index": self.names.state, "reason": repr(e)},
                )
                continue
            out.append((str(src.get("@timestamp", "")), n))
        out.sort(key=lambda x: x[0])
        return [n for _, n in out]


def _doc(n: Notification) -> dict[str, Any]:
    return {
        "@timestamp": model.iso(model.utcnow()),
        "kind": KIND,
        "notification_id": n.id,
        "data": {"kind": n.kind, "alert": n.alert, "at": n.at, "id": n.id, "extra": n.extra},
    }
