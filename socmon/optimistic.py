"""Read-modify-write of one document under optimistic concurrency control.

This Elasticsearch build has no scripts, so updatable documents (alerts, exceptions, ...) are
changed by reading them, changing the source in Python and writing back with ``if_seq_no`` /
``if_primary_term``; a concurrent change makes the write fail with 409 and the whole cycle is
retried on the fresh document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

Mutator = Callable[[dict[str, Any]], None]


def read_document(client: Elasticsearch, index: str, doc_id: str) -> dict[str, Any] | None:
    """The document's source with its ``id`` added, or None when it does not exist."""
    try:
        resp = client.get(index=index, id=doc_id)
    except NotFoundError:
        return None
    doc: dict[str, Any] = dict(resp["_source"])
    doc["id"] = resp["_id"]
    return doc


class UpdateConflict(Exception):
    """The document kept changing under us for every retry."""


def update_document(
    client: Elasticsearch,
    index: str,
    doc_id: str,
    mutate: Mutator,
    refresh: bool | str = False,
    retries: int = 10,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``mutate`` (edits the dict in place; may raise to abort) to the document's source
    and write it back if nobody changed it meanwhile; returns (before, after).

    Raises ``elasticsearch.NotFoundError`` when the document does not exist and
    ``UpdateConflict`` after ``retries`` lost races."""
    for _ in range(retries):
        resp = client.get(index=index, id=doc_id)
        before: dict[str, Any] = dict(resp["_source"])
        after = copy.deepcopy(before)
        mutate(after)
        try:
            client.index(
                index=index,
                id=doc_id,
                document=after,
                if_seq_no=resp["_seq_no"],
                if_primary_term=resp["_primary_term"],
                refresh=refresh,
            )
        except ConflictError:
            continue
        return before, after
    raise UpdateConflict(doc_id)
