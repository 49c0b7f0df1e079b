"""Events ingested per organisation unit and dataset, and when each last sent one.

What an operator needs to see a commune's collector go silent: the counter
``socmon_ingest_events_total{unit, dataset}`` and the gauge
``socmon_ingest_last_event_timestamp_seconds{unit, dataset}`` (Unix time socmon last received
an event of that unit and dataset). The unit is ``organization.id`` (``unassigned`` when the
event has none), the dataset ``event.dataset`` (``unknown`` when absent).

A custom collector over a plain dict keeps the per-event cost to one lock and a dict update
(a labelled ``Counter`` plus ``Gauge.set`` costs several times more on the hot path).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from socmon.metrics import REGISTRY

UNASSIGNED = "unassigned"
UNKNOWN = "unknown"


def _label(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


class IngestMetrics(Collector):
    """Counts events per (unit, dataset) and remembers when each pair was last seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[float]] = {}

    def observe(self, event: dict[str, Any]) -> None:
        org = event.get("organization")
        ev = event.get("event")
        key = (
            _label(org.get("id") if isinstance(org, dict) else None, UNASSIGNED),
            _label(ev.get("dataset") if isinstance(ev, dict) else None, UNKNOWN),
        )
        now = time.time()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None:
                self._seen[key] = [1.0, now]
            else:
                entry[0] += 1
                entry[1] = now

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        with self._lock:
            items = [(k, v[0], v[1]) for k, v in self._seen.items()]
        total = CounterMetricFamily(
            "socmon_ingest_events",
            "Events received for storage, by organisation unit (organization.id) and dataset.",
            labels=["unit", "dataset"],
        )
        last = GaugeMetricFamily(
            "socmon_ingest_last_event_timestamp_seconds",
            "Unix time socmon last received an event of this organisation unit and dataset.",
            labels=["unit", "dataset"],
        )
        for (unit, dataset), count, seen in items:
            total.add_metric([unit, dataset], count)
            last.add_metric([unit, dataset], seen)
        yield total
        yield last

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        # Declared empty so that registering does not call collect() (auto_describe).
        return iter(())


INGEST = IngestMetrics()
REGISTRY.register(INGEST)
