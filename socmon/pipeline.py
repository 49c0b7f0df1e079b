"""How events move between layers: collectors emit into an ``EventSink``.

A sink receives one ECS event (a nested ``dict``), its deterministic document id, and an
optional ``ack`` callback. The storage sink calls ``ack`` once the event is durable (indexed in
Elasticsearch, dead-lettered with its reason, or written to the disk spool); collectors
advance their checkpoints only from ``ack``. Other sinks (streaming detection) never ack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

Event = dict[str, Any]
Ack = Callable[[], None]

# How many occurrences one event stands for, when a sender compressed repeats (rsyslog's
# "message repeated N times: [ msg ]" stands for N occurrences of msg after the first, which
# was logged on its own). ECS has no such field; absent means 1. Correlations count it.
REPEAT_COUNT = "repeat_count"  # under the custom ``socmon`` object: ``socmon.repeat_count``


def repeat_count(event: Event) -> int:
    """``socmon.repeat_count`` of ``event`` (1 when absent or not a positive integer)."""
    so = event.get("socmon")
    n = so.get(REPEAT_COUNT) if isinstance(so, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


class EventSink(Protocol):
    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None: ...


class FanOut:
    """Sends every event to each sink; only the first (storage) sink receives the ack."""

    def __init__(self, primary: EventSink, others: Sequence[EventSink] = ()) -> None:
        self.primary = primary
        self.others = list(others)

    def add(self, sink: EventSink) -> None:
        self.others.append(sink)

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.primary.emit(doc_id, event, ack)
        for s in self.others:
            s.emit(doc_id, event, None)


class ListSink:
    """Keeps events in memory (for `socmon parse`, `socmon hunt` and tests)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.events.append((doc_id, event))
        if ack is not None:
            ack()
