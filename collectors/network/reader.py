"""Offline captures: a pcap/pcapng file (optionally gzip) to ``(doc_id, ECS event)`` pairs, at
full speed with the packets' own timestamps.

``read_pcap_events(path)`` is what ``socmon parse --format pcap`` and ``socmon hunt`` call.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from socmon.collectors.network import metrics
from socmon.collectors.network.ecs import iso
from socmon.collectors.network.engine import PacketProcessor, gc_paused
from socmon.collectors.network.pcapfile import PcapError, iter_packets, open_capture
from socmon.settings.network import NetworkSettings

log = logging.getLogger(__name__)

BATCH = 4096


def capture_identity(path: str | Path) -> str:
    """A content identity of a capture (hash of its first 64 KiB and its size), so ids stay
    the same when a file is renamed or moved, and differ for different captures."""
    p = Path(path)
    h = hashlib.blake2b(digest_size=12)
    with open(p, "rb") as f:
        h.update(f.read(65536))
    h.update(str(p.stat().st_size).encode())
    return "pcap:" + h.hexdigest()


def read_pcap_events(
    path: str | Path,
    settings: NetworkSettings | None = None,
    processor: PacketProcessor | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(doc_id, event)`` for every event of the capture, the open flows at the end.

    Bad input is counted (``processor.stats`` and socmon_network_malformed_total) and
    logged; a file that is not a capture at all yields one ``_parse_failure`` event.
    """
    settings = settings or NetworkSettings()
    if processor is None:
        processor = PacketProcessor(settings, capture_identity(path), "pcap", observer=None)
    out = processor.out
    try:
        f = open_capture(path)
    except OSError as e:
        metrics.PCAP_FILES.labels("unreadable").inc()
        processor.bad("unreadable_file", str(e))
        yield _failure(processor, path, str(e))
        return
    with f:
        try:
            packets = iter_packets(f, processor.stats)
            while True:
                # reading the batch allocates a tuple per packet: keep the cyclic GC out
                with gc_paused():
                    batch = list(itertools.islice(packets, BATCH))
                    if not batch:
                        break
                    processor.run(batch)
                if out:
                    yield from out
                    out.clear()
        except PcapError as e:
            metrics.PCAP_FILES.labels("unreadable").inc()
            processor.bad("not_a_capture", str(e))
            yield _failure(processor, path, str(e))
            return
    processor.finish()
    yield from out
    out.clear()
    metrics.PCAP_FILES.labels("done").inc()
    log.info(
        "capture read",
        extra={
            "path": str(path),
            "packets": processor.packets,
            "bad_input": dict(processor.stats),
        },
    )


def _failure(p: PacketProcessor, path: str | Path, reason: str) -> tuple[str, dict[str, Any]]:
    ev = p.factory.base("network.flow", 0.0, ["network"], ["error"])
    ev["@timestamp"] = iso(time.time())
    ev["error"] = {"message": reason, "type": "parse"}
    ev["tags"] = ["_parse_failure"]
    ev["file"] = {"path": str(path)}
    ev["event"]["kind"] = "pipeline_error"
    return p.factory.id("failure", str(path)), ev
