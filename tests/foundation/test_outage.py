"""Nothing lost, nothing duplicated: 100,000 events written while Elasticsearch is stopped
part-way and started again, and while the producer is killed (-9) and restarted once.

Runs on a dedicated Elasticsearch node (port SOCMON_TEST_OUTAGE_ES_PORT, default 9251) so that
stopping it does not disturb the other tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames, apply_templates
from socmon.settings import PROJECT_ROOT

pytestmark = [pytest.mark.es, pytest.mark.slow]

PORT = int(os.environ.get("SOCMON_TEST_OUTAGE_ES_PORT", "9251"))
URL = f"http://127.0.0.1:{PORT}"
TOTAL = 100_000


def es_script(action: str) -> None:
    env = dict(os.environ, SOCMON_ES_LOCAL_PORT=str(PORT), SOCMON_ES_LOCAL_HEAP="512m")
    subprocess.run(["bash", str(PROJECT_ROOT / "deploy" / "es.sh"), action], env=env, check=True)


def count(client: Elasticsearch, names: IndexNames) -> int:
    client.indices.refresh(index=names.events_pattern, allow_no_indices=True)
    return int(client.count(index=names.events_pattern, allow_no_indices=True)["count"])


def wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_outage_and_kill_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    es_script("up")
    client = Elasticsearch(URL, request_timeout=30)
    names = IndexNames(f"socmon-outage-{uuid.uuid4().hex[:8]}")
    apply_templates(client, names)
    spool = tmp_path / "spool"
    ckpt = tmp_path / "checkpoint"
    env = dict(
        os.environ,
        SOCMON_ES_URL=URL,
        SOCMON_ES_INDEX_PREFIX=names.prefix,
        SOCMON_STORAGE_SPOOL_DIR=str(spool),
        SOCMON_STORAGE_BATCH_SIZE="500",
        SOCMON_STORAGE_MAX_RETRIES="2",
        SOCMON_STORAGE_BACKOFF_INITIAL="0.1",
        SOCMON_STORAGE_BACKOFF_MAX="1",
        SOCMON_ES_REQUEST_TIMEOUT="5",
    )
    cmd = [sys.executable, "-m", "tests.foundation.outage_producer", str(ckpt), str(TOTAL)]
    try:
        # 1. Producing at ~8,000 events/s; stop Elasticsearch part-way.
        p1 = subprocess.Popen([*cmd, "8000"], env=env, cwd=PROJECT_ROOT)
        wait_for(lambda: count(client, names) >= 20_000, 60, "20,000 events indexed")
        es_script("down")
        # 2. With Elasticsearch down, batches go to the disk spool; then kill -9 the producer.
        wait_for(lambda: len(list(spool.glob("*.ndjson"))) >= 3, 60, "batches in the spool")
        p1.send_signal(signal.SIGKILL)
        p1.wait(timeout=10)
        spooled_before_restart = len(list(spool.glob("*.ndjson")))
        assert spooled_before_restart >= 3
        assert int(ckpt.read_text()) < TOTAL
        # 3. Elasticsearch back; the producer restarts from its checkpoint, replays its spool.
        es_script("up")
        p2 = subprocess.run(
            [*cmd, "0"], env=env, cwd=PROJECT_ROOT, timeout=300, capture_output=True, text=True
        )
        assert p2.returncode == 0, p2.stderr[-3000:]
        assert f"acked={TOTAL}" in p2.stdout
        # 4. Exactly TOTAL documents: ids are deterministic (one per sequence number), so the
        # count equals TOTAL only when every event is there exactly once.
        assert count(client, names) == TOTAL
        agg = client.search(
            index=names.events_pattern,
            size=0,
            aggs={
                "lo": {"min": {"field": "event.sequence"}},
                "hi": {"max": {"field": "event.sequence"}},
                "n": {"value_count": {"field": "event.sequence"}},
            },
        )["aggregations"]
        assert (agg["lo"]["value"], agg["hi"]["value"], agg["n"]["value"]) == (0, TOTAL - 1, TOTAL)
        assert list(spool.glob("*.ndjson")) == []
    finally:
        with contextlib.suppress(Exception):
            client.indices.delete(index=names.all_pattern, allow_no_indices=True)
        es_script("down")
