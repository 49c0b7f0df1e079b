"""Event search over a time range: a restricted query string, unit scoping, cursor pages.

The search covers socmon's events and the indices of ``detection.external_sources`` (other
shippers' documents), each filtered by its own unit rule (``rules.external``): a principal
sees the external documents of its units only, and every item carries the unit it belongs to.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import luqum.tree as lt
from elasticsearch import NotFoundError
from fastapi import APIRouter, Depends, Query, Request
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import lexer as lucene_lexer
from luqum.parser import parser as lucene_parser
from pydantic import BaseModel, Field

from socmon.api.auth import Principal, require
from socmon.api.context import get_ctx
from socmon.api.cursors import decode_cursor, encode_cursor
from socmon.api.problems import ProblemError, problem_responses
from socmon.api.routes.common import (
    iso,
    page_size,
    range_clause,
    search,
    time_range,
)
from socmon.rules.external import External, externals
from socmon.safe_yaml import clip

router = APIRouter(prefix="/api/v1/events", tags=["events"])

MAX_QUERY = 2000
MAX_WILDCARDS = 4
# ECS-style field names only: no escapes, wildcards or leading underscore (_id, _index, ...)
_FIELD_NAME = re.compile(r"^[A-Za-z0-9@][A-Za-z0-9@_.\-]*$")
_PARSER_LOCK = threading.Lock()  # luqum's parser (PLY) keeps state between calls


def _refuse(reason: str) -> ProblemError:
    return ProblemError(422, reason, errors=[{"loc": ["query", "q"], "msg": reason}])


def check_query_string(q: str) -> None:
    """Refuse the expensive or unsafe parts of Lucene syntax: regular expressions, fuzzy and
    proximity operators, wildcard/escaped/underscore field names, leading wildcards.

    The check walks the parsed query (luqum's Lucene grammar), not the raw text, so escaping
    cannot hide an operator (``admin\\\\~2`` is a fuzzy query on ``admin\\``). 422 with
    the reason; a query luqum cannot parse is refused too."""
    if len(q) > MAX_QUERY:
        raise _refuse(f"q is longer than {MAX_QUERY} characters")
    try:
        with _PARSER_LOCK:
            tree = lucene_parser.parse(q, lexer=lucene_lexer.clone())
    except (ParseError, IllegalCharacterError) as e:
        raise _refuse(f"q is not valid Lucene syntax: {clip(str(e), 200)}") from None
    for node in _walk(tree):
        if isinstance(node, lt.Regex):
            raise _refuse("regular expressions (/.../) are not allowed in q; quote the value")
        if isinstance(node, lt.Fuzzy | lt.Proximity):
            raise _refuse("fuzzy and proximity operators (~) are not allowed in q")
        if isinstance(node, lt.SearchField) and not _FIELD_NAME.match(node.name):
            raise _refuse(
                f"field '{clip(node.name, 100)}' is not allowed in q "
                "(no wildcards, escapes or _fields)"
            )
        if isinstance(node, lt.Word) and node.value.startswith(("*", "?")):
            raise _refuse("leading wildcards are not allowed in q")
        if isinstance(node, lt.Word) and _wildcards(node.value) > MAX_WILDCARDS:
            # each one multiplies the automaton Elasticsearch builds (50: ~2 s per query)
            raise _refuse(f"at most {MAX_WILDCARDS} wildcards (* or ?) per term in q")


def _wildcards(term: str) -> int:
    return len(re.findall(r"(?<!\\)[*?]", term))


def _walk(node: lt.Item) -> Iterator[lt.Item]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.children)


def unit_clause(own_pattern: str, ext: list[External], units: list[str]) -> dict[str, Any]:
    """Documents of ``units``: socmon's events by ``organization.id``, each external source's
    documents by its own unit rule."""
    own: dict[str, Any] = {"terms": {"organization.id": units}}
    if not ext:
        return own
    should = [{"bool": {"filter": [{"wildcard": {"_index": {"value": own_pattern}}}, own]}}]
    should += [{"bool": {"filter": [e.index_query(), e.unit_query(units)]}} for e in ext]
    return {"bool": {"should": should, "minimum_should_match": 1}}


class EventPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        ...,
        examples=[
            [
                {
                    "_id": "e1",
                    "@timestamp": "2026-11-24T10:00:00.000Z",
                    "event": {"dataset": "sshd"},
                    "source": {"ip": "203.0.113.7"},
                }
            ]
        ],
    )
    total: int = Field(..., examples=[1])
    total_relation: str = Field("eq", examples=["eq"])
    next_cursor: str | None = None


@router.get(
    "",
    response_model=EventPage,
    summary="Search events in a time range (Lucene query string, restricted)",
    responses=problem_responses(400, 401, 403, 410, 422, 429, 504),
)
def search_events(
    request: Request,
    q: str | None = Query(
        None,
        max_length=MAX_QUERY,
        description="Lucene query string, e.g. `event.dataset:sshd AND source.ip:203.0.113.7`. "
        "No regular expressions, fuzzy/proximity operators, leading or field wildcards.",
        examples=["event.outcome:failure AND event.dataset:sshd"],
    ),
    start: str | None = Query(None, description="ISO 8601 or now-24h (default)"),
    end: str | None = Query(None, description="ISO 8601 or now (default)"),
    unit: list[str] | None = Query(None, description="organization.id; within your scope"),
    size: int | None = Query(None, ge=1),
    cursor: str | None = Query(None, max_length=8192),
    p: Principal = Depends(require("viewer")),
) -> EventPage:
    ctx = get_ctx(request)
    if cursor:
        st = decode_cursor(ctx, "events", cursor)
        try:
            q, start, end, unit = st.get("q"), st["t0"], st["t1"], st.get("u")
            n, pit_id, after = int(st["z"]), str(st["p"]), list(st["a"])
        except Exception:
            raise ProblemError(400, "the cursor is not valid") from None
    else:
        n, pit_id, after = page_size(ctx, size), "", []
    t0, t1 = time_range(ctx, start, end)
    ext = externals(ctx.settings)
    own = ctx.names.events_pattern
    filters: list[dict[str, Any]] = [range_clause("@timestamp", t0, t1)]
    if p.units is not None:
        filters.append(unit_clause(own, ext, list(p.units)))
    if unit:
        outside = [u for u in unit if not p.sees_unit(u)]
        if outside:
            raise ProblemError(403, f"unit(s) outside your scope: {', '.join(outside)}")
        filters.append(unit_clause(own, ext, unit))
    must: list[dict[str, Any]] = []
    if q:
        check_query_string(q)
        must.append(
            {
                "query_string": {
                    "query": q,
                    "allow_leading_wildcard": False,
                    "analyze_wildcard": False,
                    "lenient": True,
                    "max_determinized_states": 1000,
                    "default_field": "message",
                    "default_operator": "AND",
                }
            }
        )
    if not pit_id:
        try:
            pit = ctx.es().open_point_in_time(
                index=",".join([own, *(e.index for e in ext)]),
                keep_alive=ctx.settings.api.cursor_keep_alive,
                ignore_unavailable=True,
            )
        except NotFoundError:
            return EventPage(items=[], total=0, total_relation="eq")
        pit_id = str(pit["id"])
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters, "must": must}},
        "size": n,
        "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
        "pit": {"id": pit_id, "keep_alive": ctx.settings.api.cursor_keep_alive},
        "track_total_hits": 10_000,
    }
    if after:
        body["search_after"] = after
    resp = search(ctx, **body)
    hits = resp["hits"]["hits"]
    items = []
    for h in hits:
        doc = dict(h.get("_source") or {})
        src = next((e for e in ext if e.holds(str(h.get("_index")))), None)
        if src is not None:
            doc = src.annotate(doc)
        doc["_id"], doc["_index"] = h["_id"], h.get("_index")
        items.append(doc)
    nxt = None
    if len(hits) == n:
        nxt = encode_cursor(
            ctx,
            "events",
            {
                "p": resp.get("pit_id", pit_id),
                "a": hits[-1]["sort"],
                "q": q,
                "t0": iso(t0),
                "t1": iso(t1),
                "u": unit,
                "z": n,
            },
        )
    total = resp["hits"]["total"]
    return EventPage(
        items=items,
        total=int(total["value"]),
        total_relation=total.get("relation", "eq"),
        next_cursor=nxt,
    )
