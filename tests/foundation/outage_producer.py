"""A stand-in collector for the outage test: emits events 0..N-1 with deterministic ids through
the real bulk writer, and keeps a checkpoint that advances only from acks (like the file
collector). Killed with -9 and restarted, it resumes from the checkpoint.

Usage: python -m tests.foundation.outage_producer CHECKPOINT TOTAL RATE_PER_S
Settings (ES URL, prefix, spool) come from SOCMON_* environment variables.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from socmon.bulk import BulkWriter
from socmon.es import make_client
from socmon.ids import doc_id
from socmon.indices import IndexNames
from socmon.settings import load_settings
from socmon.storage_sink import StorageSink


def main() -> int:
    ckpt_path, total, rate = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    start = int(ckpt_path.read_text()) if ckpt_path.exists() else 0
    s = load_settings()
    names = IndexNames(s.es.index_prefix)
    writer = BulkWriter(make_client(s.es), s.storage, names)
    sink = StorageSink(writer, names)
    acked = [start]
    lock = threading.Lock()

    def persist() -> None:
        with lock:
            value = acked[0]
        tmp = ckpt_path.with_suffix(".tmp")
        tmp.write_text(str(value))
        os.replace(tmp, ckpt_path)

    stop = threading.Event()

    def persist_loop() -> None:
        while not stop.wait(0.1):
            persist()

    threading.Thread(target=persist_loop, daemon=True).start()
    writer.start()
    t0 = time.monotonic()
    for i in range(start, total):
        event = {
            "@timestamp": "2026-11-24T12:00:00.000Z",
            "message": f"outage test event {i}",
            "event": {"sequence": i, "dataset": "test.outage", "kind": "event"},
            "organization": {"id": "test", "name": "Test"},
        }

        def ack(i: int = i) -> None:
            with lock:
                acked[0] = i + 1

        sink.emit(doc_id("outage-test", i), event, ack)
        if rate > 0 and (i - start) % 100 == 0:
            ahead = (i - start) / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    writer.flush()
    # Wait until the spool (from this or an earlier run) is drained into Elasticsearch.
    while not writer.drained():
        time.sleep(0.2)
    writer.close()
    stop.set()
    persist()
    print(f"done acked={acked[0]} counts={writer.counts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
