"""Every match of a scheduled query in a time window, page by page, up to a hard bound.

The first page is a plain search (``page_size`` hits, sorted by ``@timestamp``, with the
exact total): most rule windows match fewer events than a page, and then that single request
is all. When the total is larger, a point in time is opened over the events indices (only
those whose ``@timestamp`` range can hold the window: ``index_filter``) and the window is
paged with ``search_after`` on ``[@timestamp, _shard_doc]`` (a total, stable order over a
consistent snapshot, so no match is skipped or returned twice); the hits the first page
already returned are skipped by id. Paging stops after ``limit`` hits: what remains is the
*overflow*, reported by the caller (metric and log).

Hits are yielded as they arrive, so memory is bounded by one page whatever the window holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

log = logging.getLogger(__name__)

KEEP_ALIVE = "2m"
_SORT: list[dict[str, Any]] = [{"@timestamp": "asc"}]


class PagedSearch:
    """An iterable of the hits of ``query`` (a bool filter including the window's range)
    over ``index``. After iteration: ``total`` (matches in the window), ``fetched`` (hits
    yielded), ``overflow`` (matches not yielded because of ``limit``), ``pages``."""

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        query: dict[str, Any],
        page_size: int,
        limit: int,
        index_filter: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.index = index
        self.query = query
        self.page_size = max(1, min(page_size, limit))
        self.limit = limit
        self.index_filter = index_filter
        self.total = 0
        self.fetched = 0
        self.pages = 0
        self.last_timestamp: Any = None

    @property
    def overflow(self) -> int:
        return max(0, self.total - self.fetched)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        resp = self.client.search(
            index=self.index,
            query=self.query,
            sort=_SORT,
            size=self.page_size,
            track_total_hits=True,
            ignore_unavailable=True,
            allow_no_indices=True,
            # skip daily indices outside the time range before rewriting the query (large
            # wildcard lists are expensive to rewrite on every shard)
            pre_filter_shard_size=1,
        )
        self.pages = 1
        self.total = int(resp["hits"]["total"]["value"])
        first: list[dict[str, Any]] = resp["hits"]["hits"]
        for h in first[: self.limit]:
            yield self._count(h)
        if self.total <= len(first) or self.fetched >= self.limit:
            return
        seen = {(h["_index"], h["_id"]) for h in first}
        yield from self._pit_pages(seen)

    def _count(self, h: dict[str, Any]) -> dict[str, Any]:
        self.fetched += 1
        self.last_timestamp = (h.get("_source") or {}).get("@timestamp", self.last_timestamp)
        return h

    def _pit_pages(self, seen: set[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        opened = self.client.open_point_in_time(
            index=self.index,
            keep_alive=KEEP_ALIVE,
            ignore_unavailable=True,
            allow_partial_search_results=False,
            index_filter=self.index_filter,
        )
        pit_id: str = opened["id"]
        try:
            after: list[Any] | None = None
            while self.fetched < self.limit:
                kwargs: dict[str, Any] = {}
                if after is not None:
                    kwargs["search_after"] = after
                resp = self.client.search(
                    pit={"id": pit_id, "keep_alive": KEEP_ALIVE},
                    query=self.query,
                    sort=_SORT,
                    size=self.page_size,
                    # the snapshot's total (documents refreshed since the first page count)
                    track_total_hits=after is None,
                    **kwargs,
                )
                self.pages += 1
                pit_id = resp.get("pit_id", pit_id)
                if after is None:
                    self.total = int(resp["hits"]["total"]["value"])
                hits: list[dict[str, Any]] = resp["hits"]["hits"]
                if not hits:
                    return
                for h in hits:
                    if (h["_index"], h["_id"]) in seen:
                        continue
                    if self.fetched >= self.limit:
                        return
                    yield self._count(h)
                if self.fetched >= self.total:  # no need to ask for an empty page
                    return
                after = hits[-1]["sort"]
        finally:
            try:
                self.client.close_point_in_time(id=pit_id)
            except (ApiError, TransportError) as e:  # it expires after KEEP_ALIVE anyway
                log.debug("point in time not closed", extra={"error": str(e)})
