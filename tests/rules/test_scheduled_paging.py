"""Scheduled mode pages through every match of a window (search_after over a point in time
beyond the first page), up to the hard bound ``scheduled_max_hits``; the overflow is counted
and logged. Real Elasticsearch."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames
from socmon.rules.detection import Detection
from socmon.rules.scheduled import OVERFLOW, TRUNCATED
from socmon.rules.scheduled_convert import ScheduledSet
from socmon.rules.scheduled_search import PagedSearch
from socmon.settings import Settings
from tests.rules.test_scheduled_mode import (
    NOW,
    SQLI,
    SSH_BRUTE,
    converted,  # noqa: F401  (module fixture)
    index_events,
    runner,
    ssh,
    web,
)

pytestmark = pytest.mark.es

DAY = 86_400.0


def sqli_events(n: int) -> list[dict[str, Any]]:
    """``n`` SQL injection requests over two days (so over two daily indices), five per
    timestamp (ties the paging order must break), and one harmless request per timestamp."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        t = NOW - 1.5 * DAY + (i // 5) * 3600.0
        out.append(web(t, f"/search?q={i}'%20or%201=1--"))
        if i % 5 == 0:
            out.append(web(t, f"/search?q=hello{i}"))
    return out


def wide(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    conv: ScheduledSet,
    sink: list[Detection],
    **overrides: Any,
) -> Any:
    return runner(
        es_client,
        names,
        settings,
        conv,
        {SQLI},
        sink,
        scheduled_lookback=2 * DAY,
        scheduled_chunk=4 * DAY,
        **overrides,
    )


def test_paged_search_returns_every_match_once(
    es_client: Elasticsearch,
    names: IndexNames,
    converted: ScheduledSet,  # noqa: F811
) -> None:
    events = sqli_events(23)
    index_events(es_client, names, events)
    assert len(es_client.indices.get(index=names.events_pattern)) >= 2  # daily indices
    rule = next(r for r in converted.rules if r.key == SQLI)
    query = {"bool": {"filter": [rule.es_query()]}}
    paged = PagedSearch(es_client, names.events_pattern, query, page_size=4, limit=1000)
    hits = list(paged)
    ids = [h["_id"] for h in hits]
    assert len(ids) == 23 and len(set(ids)) == 23
    assert paged.total == 23 and paged.overflow == 0 and paged.pages >= 6
    stamps = [h["_source"]["@timestamp"] for h in hits]
    assert stamps == sorted(stamps)
    # the bound: 10 of 23, the rest is overflow
    bounded = PagedSearch(es_client, names.events_pattern, query, page_size=4, limit=10)
    assert len({h["_id"] for h in bounded}) == 10
    assert bounded.overflow == 13


def test_every_match_of_a_window_becomes_a_detection(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    converted: ScheduledSet,  # noqa: F811
) -> None:
    events = sqli_events(47)
    index_events(es_client, names, events)
    expected = {f"e{i}" for i, e in enumerate(events) if "or%201=1" in e["url"]["original"]}
    assert len(expected) == 47
    sink: list[Detection] = []
    # before paging, only scheduled_max_hits (then 10,000; here 7 for the page) were reported
    r = wide(es_client, names, settings, converted, sink, scheduled_page_size=7)
    overflow = OVERFLOW.labels(SQLI)._value.get()
    assert r.run_once() == 47
    assert {d.events[0].id for d in sink} == expected
    assert len(sink) == 47
    assert OVERFLOW.labels(SQLI)._value.get() == overflow  # nothing left over


def test_hard_bound_counts_and_logs_the_overflow(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    converted: ScheduledSet,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    index_events(es_client, names, sqli_events(30))
    sink: list[Detection] = []
    r = wide(
        es_client, names, settings, converted, sink, scheduled_page_size=4, scheduled_max_hits=18
    )
    overflow = OVERFLOW.labels(SQLI)._value.get()
    truncated = TRUNCATED._value.get()
    with caplog.at_level(logging.WARNING, logger="socmon.rules.scheduled"):
        assert r.run_once() == 18
    assert len({d.events[0].id for d in sink}) == 18
    assert OVERFLOW.labels(SQLI)._value.get() == overflow + 12
    assert TRUNCATED._value.get() == truncated + 1
    [rec] = [x for x in caplog.records if "more matches than max_hits" in x.getMessage()]
    extra = vars(rec)
    assert extra["overflow"] == 12 and extra["reported"] == 18 and extra["rule_id"] == SQLI


def test_correlation_pages_its_candidate_events(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    converted: ScheduledSet,  # noqa: F811
) -> None:
    index_events(es_client, names, [ssh(NOW - 200 + i * 5, "203.0.113.50") for i in range(12)])
    sink: list[Detection] = []
    r = runner(
        es_client,
        names,
        settings,
        converted,
        {SSH_BRUTE},
        sink,
        scheduled_lookback=600.0,
        scheduled_page_size=3,
    )
    r.run_once()
    [d] = sink
    assert d.rule_id == SSH_BRUTE and len(d.events) == 10
