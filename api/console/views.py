"""Saved views of the alert queue, per user, in Elasticsearch (``<prefix>-views``).

A view is a name and the queue's filter as a query string (only the filter's own keys are
kept). Applying one opens the queue with that query string, so the user's unit scope is
applied as for any filter: a view never widens access. Each user sees and changes only
their own views; one may be the default, opened when the queue is asked for without a filter.
The list is kept per user for ``CACHE_SECONDS`` (the queue page shows it on every page) and
dropped at once by this process's own changes (the console runs in one process).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from elasticsearch import Elasticsearch, NotFoundError

from socmon.indices import IndexNames
from socmon.timestamps import now_iso

FILTER_KEYS = ("f", "status", "severity", "unit", "rule", "assignee", "start", "q", "sort", "order")
MAX_VIEWS = 100  # per user
MAX_NAME = 80
CACHE_SECONDS = 60.0


class ViewError(ValueError):
    """A view cannot be saved or changed as asked (message says why)."""


@dataclass(frozen=True, slots=True)
class View:
    id: str
    name: str
    query: str
    default: bool
    updated: str


def views_index(names: IndexNames) -> str:
    return f"{names.prefix}-views"


def clean_query(query: str) -> str:
    """The filter's part of a queue query string (no cursor, no view, nothing unknown)."""
    return urlencode([(k, v) for k, v in parse_qsl(query) if k in FILTER_KEYS and v])


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ViewError("give the view a name")
    if len(name) > MAX_NAME:
        raise ViewError(f"the name may have {MAX_NAME} characters at most")
    return name


def _view(hit: dict[str, Any]) -> View:
    s = hit["_source"]
    return View(hit["_id"], s["name"], s["query"], bool(s.get("default")), s.get("updated", ""))


class ViewStore:
    """One user's views: list (cached), save, rename, set the default, delete."""

    def __init__(self, client: Elasticsearch, names: IndexNames, ttl: float = CACHE_SECONDS):
        self.client, self.index, self.ttl = client, views_index(names), ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[View]]] = {}

    def list(self, user: str) -> list[View]:
        with self._lock:
            hit = self._cache.get(user)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        try:
            resp = self.client.search(
                index=self.index,
                query={"term": {"user": user}},
                sort=[{"name": "asc"}],
                size=MAX_VIEWS,
            )
            views = [_view(h) for h in resp["hits"]["hits"]]
        except NotFoundError:
            views = []
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[user] = (time.monotonic(), views)
        return views

    def get(self, user: str, view_id: str) -> View | None:
        """The user's view ``view_id``; None when it does not exist or is someone else's."""
        try:
            doc = self.client.get(index=self.index, id=view_id)
        except NotFoundError:
            return None
        src = doc["_source"]
        return _view({"_id": doc["_id"], "_source": src}) if src.get("user") == user else None

    def default(self, user: str) -> View | None:
        return next((v for v in self.list(user) if v.default), None)

    def save(self, user: str, name: str, query: str) -> tuple[View, View | None]:
        """Save ``query`` under ``name``: a new view, or the user's view of that name
        replaced. Returns (the view, the view it replaced or None)."""
        name, query = clean_name(name), clean_query(query)
        self._drop(user)
        mine = self.list(user)
        old = next((v for v in mine if v.name == name), None)
        if old is None and len(mine) >= MAX_VIEWS:
            raise ViewError(f"{MAX_VIEWS} views at most per user: delete one first")
        now = now_iso()
        view_id = old.id if old else uuid.uuid4().hex
        doc = {
            "@timestamp": now,
            "user": user,
            "name": name,
            "query": query,
            "default": old.default if old else False,
            "created": now,
            "updated": now,
        }
        self.client.index(index=self.index, id=view_id, document=doc, refresh="wait_for")
        self._drop(user)
        return View(view_id, name, query, bool(doc["default"]), now), old

    def rename(self, user: str, view: View, name: str) -> View:
        name = clean_name(name)
        if any(v.name == name and v.id != view.id for v in self.list(user)):
            raise ViewError(f"you already have a view named '{name}'")
        self._update(user, view.id, {"name": name})
        return View(view.id, name, view.query, view.default, now_iso())

    def set_default(self, user: str, view: View, on: bool) -> None:
        """Make ``view`` the default (the user's previous default stops being one) or not."""
        if on:
            for v in self.list(user):
                if v.default and v.id != view.id:
                    self._update(user, v.id, {"default": False})
        self._update(user, view.id, {"default": on})

    def delete(self, user: str, view: View) -> None:
        self.client.delete(index=self.index, id=view.id, refresh="wait_for")
        self._drop(user)

    def _update(self, user: str, view_id: str, doc: dict[str, Any]) -> None:
        self.client.update(
            index=self.index, id=view_id, doc={**doc, "updated": now_iso()}, refresh="wait_for"
        )
        self._drop(user)

    def _drop(self, user: str) -> None:
        with self._lock:
            self._cache.pop(user, None)
