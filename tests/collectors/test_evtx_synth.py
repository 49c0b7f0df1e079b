"""The benchmark's multi-record EVTX file (bench/evtx_synth.py) is a valid EVTX file whose
records are those of the corpus' files: every record parses (the ``evtx`` package checks the
chunk CRCs) to the JSON of the record it copies, but for ``EventRecordID``, and socmon maps
it to the same event but for the record id."""

from __future__ import annotations

from pathlib import Path

import evtx
import orjson
import pytest

from bench.evtx_synth import build_multi_chunk
from tests.collectors.helpers import read_events

pytestmark = pytest.mark.datasets


def _without_record_id(data: str) -> dict:
    obj = orjson.loads(data)
    obj["Event"]["System"].pop("EventRecordID")
    return obj


def test_multi_chunk_file_holds_copies_of_the_corpus_records(
    datasets: Path, tmp_path: Path
) -> None:
    sources = sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx"))
    out = tmp_path / "multi.evtx"
    n, layout = build_multi_chunk(sources, out)
    assert len(layout) == len(sources) and n > 20 * len(sources)
    recs = list(evtx.PyEvtxParser(str(out), validate_checksums=True).records_json())
    assert len(recs) == n
    assert [r["event_record_id"] for r in recs] == list(range(1, n + 1))
    i = 0
    for src, originals, copies in layout:
        want = [_without_record_id(r["data"]) for r in evtx.PyEvtxParser(str(src)).records_json()]
        got = recs[i : i + originals + copies]
        assert [_without_record_id(r["data"]) for r in got[:originals]] == want, src
        for k, r in enumerate(got[originals:]):
            assert _without_record_id(r["data"]) == want[k % len(want)], src
            erid = orjson.loads(r["data"])["Event"]["System"]["EventRecordID"]
            assert erid == r["event_record_id"], src
        i += originals + copies
    # socmon's events for the copies: those of the originals but for the record id
    events = read_events(out, "evtx")
    assert len(events) == n
    first = events[0][1]
    for _, ev in events[1 : layout[0][2] + 1]:
        a = {**ev, "winlog": {**ev["winlog"], "record_id": 0}, "event": {**ev["event"]}}
        b = {**first, "winlog": {**first["winlog"], "record_id": 0}, "event": {**first["event"]}}
        for e in (a, b):
            e["event"].pop("created")
            e["event"].pop("original")
        assert a == b
