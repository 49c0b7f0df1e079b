"""The event sink that stores events: daily events index chosen from ``@timestamp``; every
event is counted per organisation unit and dataset (socmon.ingest_metrics) and stamped with
the time it is handed to Elasticsearch (``event.ingested``, socmon.ingest_time)."""

from __future__ import annotations

from socmon.bulk import BulkWriter
from socmon.indices import IndexNames, events_index_for
from socmon.ingest_metrics import INGEST
from socmon.ingest_time import stamp
from socmon.pipeline import Ack, Event


class StorageSink:
    def __init__(self, writer: BulkWriter, names: IndexNames) -> None:
        self.writer = writer
        self.names = names

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        INGEST.observe(event)
        stamp(event)
        ts = event.get("@timestamp")
        index = events_index_for(self.names, ts if isinstance(ts, str) else None)
        self.writer.add(index, doc_id, event, "create", ack)
