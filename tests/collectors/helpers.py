"""Shared helpers of the collector tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.lines import LineHandler
from socmon.collectors.reader import read_file
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import EventSink, ListSink
from socmon.settings.collectors import CollectorSettings


def read_events(
    path: Path,
    fmt: str = "auto",
    sink: EventSink | None = None,
    settings: CollectorSettings | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    cs = settings or CollectorSettings()
    out = sink or ListSink()
    enricher = Enricher(cs)

    def handler_for(f: str, label: str) -> LineHandler:
        return LineHandler(
            f, cs, enricher, out, source_kind="test", source=label, tp=TimeParser("UTC")
        )

    read_file(path, fmt, handler_for)
    return out.events if isinstance(out, ListSink) else []
