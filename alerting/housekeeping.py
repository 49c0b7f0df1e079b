"""Housekeeping of alerting's state documents.

Event markers (one per counted event, see alerting.grouping) and suppression records live in
the state index. They only matter while the events they name can be replayed, so markers and
records older than ``alerting.marker_retention_days`` (by event time) are deleted (this
Elasticsearch build has no delete-by-query: search + bulk delete, in pages).
"""

from __future__ import annotations

import datetime as dt
import logging

from elasticsearch import Elasticsearch, NotFoundError

from socmon.alerting import model
from socmon.indices import IndexNames

log = logging.getLogger(__name__)

KINDS = ("alert_event", "alert_suppressed")


def prune_state(
    client: Elasticsearch,
    names: IndexNames,
    retention_days: float,
    now: dt.datetime | None = None,
    page: int = 5000,
) -> int:
    """Delete markers and suppression records older than the retention; returns how many."""
    cutoff = (now or model.utcnow()) - dt.timedelta(days=retention_days)
    query = {
        "bool": {
            "filter": [
                {"terms": {"kind": list(KINDS)}},
                {"range": {"@timestamp": {"lt": model.iso(cutoff)}}},
            ]
        }
    }
    deleted = 0
    while True:
        try:
            client.indices.refresh(index=names.state)
            resp = client.search(index=names.state, query=query, size=page, source=False)
        except NotFoundError:
            return deleted
        hits = resp["hits"]["hits"]
        if not hits:
            break
        ops = [{"delete": {"_index": names.state, "_id": h["_id"]}} for h in hits]
        client.bulk(operations=ops)
        deleted += len(hits)
        if len(hits) < page:
            break
    if deleted:
        log.info("alerting state pruned", extra={"deleted": deleted, "cutoff": model.iso(cutoff)})
    return deleted
