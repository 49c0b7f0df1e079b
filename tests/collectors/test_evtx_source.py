"""The EVTX source (``collectors.evtx[]``, ``EvtxTailer``): every record once, with the ids and
events ``socmon parse`` gives, the checkpoint from acks, nothing re-read on later polls or
after a restart, and the same events when a file is read again with its kept handler."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.evtx_files import EvtxTailer
from socmon.pipeline import ListSink
from socmon.settings.collectors import CollectorSettings, EvtxSource
from tests.collectors.helpers import read_events

pytestmark = pytest.mark.datasets


def _comparable(ev: dict[str, Any]) -> dict[str, Any]:
    ev = orjson.loads(orjson.dumps(ev))
    ev["event"].pop("created")
    ev.pop("socmon")
    return ev


def test_evtx_source_reads_each_record_once(datasets: Path, tmp_path: Path) -> None:
    src = sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx"))[:6]
    logs = tmp_path / "logs"
    logs.mkdir()
    files = []
    for i, f in enumerate(src):
        files.append(logs / f"{i}.evtx")
        shutil.copy(f, files[-1])
    cs = CollectorSettings()
    sink = ListSink()
    cfg = EvtxSource(paths=[str(logs / "*.evtx")])
    tailer = EvtxTailer(cfg, cs, sink, Enricher(cs), tmp_path / "ckpt", "t")

    expected = [e for f in files for e in read_events(f, "evtx")]
    paths = [f for f in files for _ in read_events(f, "evtx")]
    n = tailer.poll()
    assert n == len(expected) == len(sink.events) > 0
    assert [i for i, _ in sink.events] == [i for i, _ in expected]
    for (_, got), (_, want), path in zip(sink.events, expected, paths, strict=True):
        assert _comparable(got) == _comparable(want)
        assert got["socmon"]["source"] == f"evtx:{path}"
    saved = orjson.loads((tmp_path / "ckpt" / "t.json").read_bytes())
    assert set(saved) == {str(f) for f in files}

    assert tailer.poll() == 0  # nothing changed
    os.utime(files[0])
    assert tailer.poll() == 0  # changed mtime, records already acked
    restarted = EvtxTailer(cfg, cs, ListSink(), Enricher(cs), tmp_path / "ckpt", "t")
    assert restarted.poll() == 0

    # read again from the start with the kept handlers: the same ids and events
    first = list(sink.events)
    sink.events.clear()
    tailer.state.clear()
    tailer._mtimes.clear()
    assert tailer.poll() == len(first)
    assert [i for i, _ in sink.events] == [i for i, _ in first]
    assert [_comparable(e) for _, e in sink.events] == [_comparable(e) for _, e in first]


def test_evtx_source_checkpoint_follows_record_numbers_not_xml_ids(
    datasets: Path, tmp_path: Path
) -> None:
    """A file that grows is read on from the last acked record number. The regression samples
    carry XML EventRecordIDs (e.g. 67583) far above their record numbers (1): a checkpoint
    taken from the XML would skip every record the file gains."""
    from bench.evtx_synth import build_multi_chunk

    src = sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx"))
    logs = tmp_path / "logs"
    logs.mkdir()
    small, _ = build_multi_chunk(src[:3], tmp_path / "small.evtx")
    large, _ = build_multi_chunk(src[:6], tmp_path / "large.evtx")
    assert large > small > 0
    live = logs / "Security.evtx"
    shutil.copy(tmp_path / "small.evtx", live)
    cs = CollectorSettings()
    sink = ListSink()
    cfg = EvtxSource(paths=[str(logs / "*.evtx")])
    tailer = EvtxTailer(cfg, cs, sink, Enricher(cs), tmp_path / "ckpt", "t")
    assert tailer.poll() == small
    saved = orjson.loads((tmp_path / "ckpt" / "t.json").read_bytes())
    assert saved[str(live)]["record"] == small

    # the log grows (the same first chunks, then more), read by a restarted collector
    shutil.copy(tmp_path / "large.evtx", live)
    restarted = EvtxTailer(cfg, cs, sink, Enricher(cs), tmp_path / "ckpt", "t")
    assert restarted.poll() == large - small
    assert len(sink.events) == large
    assert len({i for i, _ in sink.events}) == large  # every record once, no id twice
    expected = [i for i, _ in read_events(live, "evtx")]
    assert sorted(i for i, _ in sink.events) == sorted(expected)
