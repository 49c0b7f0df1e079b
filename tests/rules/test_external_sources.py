"""Scheduled detection over other shippers' indices (``detection.external_sources``): the
SigmaHQ regression records shaped exactly as Winlogbeat 8 writes them
(tests/collectors/winlogbeat_shape.py) are bulk-loaded into a ``winlogbeat-*`` index of the
test node; the scheduled runner over that source (raw Winlogbeat fields:
``windows_event_data``) must report the same (rule, record) pairs as the runner over the same
records read from the .evtx files into socmon's own events index, and every detection must
carry the organisation unit the unit rules give its document (a table of the expected units
written in the test, not computed by rules.external)."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from socmon.collectors.enrich import Enricher
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.indices import IndexNames, install_external_template
from socmon.rules.detection import Detection
from socmon.rules.external import External
from socmon.rules.loader import LoadedRules
from socmon.rules.scheduled import ScheduledRunner
from socmon.rules.scheduled_convert import convert
from socmon.settings import Settings
from socmon.settings.detection import ExternalSource
from tests.collectors.winlogbeat_shape import evtx_records, winlogbeat_doc
from tests.rules.test_differential_es import regression  # noqa: F401 (fixture)

pytestmark = [pytest.mark.es]

UNITS = [
    {"id": "hq", "name": "Văn phòng tỉnh", "hosts": ["MSEDGEWIN10*"]},
    {"id": "ward1", "name": "Phường 1", "agents": ["ward1-*"]},
    {"id": "ward2", "name": "Phường 2", "agents": ["WARD2-*"]},
]


def expected_unit(computer: str, agent: str) -> str:
    """The unit table of this test: host glob first, then agent globs, else unassigned."""
    if computer.lower().startswith("msedgewin10"):
        return "hq"
    if agent.startswith("ward1-"):
        return "ward1"
    if agent.startswith("ward2-"):
        return "ward2"
    return "unassigned"


def _bulk(client: Elasticsearch, index: str, docs: dict[str, dict[str, Any]]) -> None:
    ops: list[dict[str, Any]] = []
    for key, d in docs.items():
        ops += [{"create": {"_index": index, "_id": key}}, d]
    resp = client.bulk(operations=ops, refresh=True)
    assert not resp["errors"], [i for i in resp["items"] if "error" in i["create"]][:3]


def _run(runner: ScheduledRunner, out: list[Detection]) -> set[tuple[str, str]]:
    runner.run_once()
    return {(d.rule_id, d.events[0].id) for d in out}


@pytest.mark.datasets
@pytest.mark.slow
def test_winlogbeat_index_fires_as_the_evtx_records(
    es_client: Elasticsearch,
    names: IndexNames,
    settings: Settings,
    datasets: Path,
    regression: tuple[LoadedRules, dict[str, Any]],  # noqa: F811
) -> None:
    s = settings.model_copy(deep=True)
    s.collectors = s.collectors.model_validate({"organization_units": UNITS})
    s.detection.scheduled_lookback = 3600
    s.detection.scheduled_delay = 0
    s.detection.scheduled_chunk = 7200
    pattern = f"winlogbeat-{names.prefix}-*"
    src = ExternalSource(name="wlb", index=pattern, windows_event_data=True)
    s.detection.external_sources = [src]
    ext = External(src, s)
    install_external_template(es_client, names, "wlb", ext.patterns)
    ext_index = f"winlogbeat-{names.prefix}-8.15.0-2026.12.04"

    win = WindowsRecordParser()
    enrich = Enricher(s.collectors)
    t = time.time() - 1200
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
    own: dict[str, dict[str, Any]] = {}
    shipped: dict[str, dict[str, Any]] = {}
    units: dict[str, str] = {}
    i = 0
    for path in sorted((datasets / "sigmahq" / "regression_data").rglob("*.evtx")):
        for n, (text, rec) in enumerate(evtx_records(path)):
            key = f"{path.stem}#{n}"
            ev = enrich.apply(win.from_record(rec, text), source_kind="evtx", source="t")
            ev["@timestamp"] = stamp
            own[key] = ev
            agent = ("ward1-pc", "ward2-pc", "pc")[i % 3] + f"-{i}"
            doc = winlogbeat_doc(rec, agent, f"agent-{i}")
            doc["@timestamp"] = stamp
            shipped[key] = doc
            units[key] = expected_unit(str(rec["Event"]["System"]["Computer"]), agent)
            i += 1
    assert set(units.values()) == {"hq", "ward1", "ward2", "unassigned"}
    try:
        _bulk(es_client, f"{names.prefix}-events-2026.12.04", own)
        _bulk(es_client, ext_index, shipped)
        loaded = regression[0]
        got_own: list[Detection] = []
        got_ext: list[Detection] = []
        own_runner = ScheduledRunner(
            es_client, names, convert(loaded), s.detection, lambda d: got_own.append(d) or True
        )
        ext_runner = ScheduledRunner(
            es_client,
            names,
            convert(loaded, **ext.convert_options),
            s.detection,
            lambda d: got_ext.append(d) or True,
            external=ext,
        )
        via_evtx = _run(own_runner, got_own)
        via_winlogbeat = _run(ext_runner, got_ext)
        assert via_evtx - via_winlogbeat == set(), "fired on the EVTX records only"
        assert via_winlogbeat - via_evtx == set(), "fired on the Winlogbeat documents only"
        own_fires = {r for r, k in via_evtx if fnmatch.fnmatch(k, "*#*")}
        assert len(own_fires) >= 180, len(own_fires)  # not vacuous
        for d in got_ext:
            me = d.events[0]
            assert me.index == ext_index
            assert me.event["organization"]["id"] == units[me.id], me.id
            assert me.event["socmon"]["external_source"] == "wlb"
        # the coverage of the external source is its own
        st = es_client.get(index=names.state, id=f"scheduled:wlb:{got_ext[0].rule_id}")
        assert st["_source"]["source"] == "wlb"
        # the unit rule as a query selects exactly the documents of each unit
        for unit in ("hq", "ward1", "ward2", "unassigned"):
            resp = es_client.search(
                index=pattern, query=ext.unit_query([unit]), size=1000, _source=False
            )
            assert {h["_id"] for h in resp["hits"]["hits"]} == {
                k for k, u in units.items() if u == unit
            }, unit
        print(f"{len(via_evtx)} (rule, record) pairs on both paths")
    finally:
        es_client.indices.delete(index=ext_index, ignore_unavailable=True)


def test_socmon_run_covers_an_external_source(
    settings: Settings, names: IndexNames, es_client: Elasticsearch, tmp_path: Path
) -> None:
    """`socmon run`'s scheduled service (rules.services.build) runs one more runner per
    external source: its document becomes a detection with the unit of its unit_field, and
    the index template is installed when asked."""
    from socmon.rules.scheduled import ScheduledService
    from socmon.rules.services import build
    from tests.rules.test_scheduled_reload import R1, ctx_for, event, iso, scheduled, wait_for

    pattern = f"winlogbeat-{names.prefix}-*"
    s = settings.model_copy(deep=True)
    s.detection.external_sources = [
        ExternalSource(name="wlb", index=pattern, unit_field="fields.unit", install_template=True)
    ]
    index = f"winlogbeat-{names.prefix}-2026.12.04"
    now = time.time()
    ctx = ctx_for(s, tmp_path)
    got: list[Detection] = []
    ctx.detection_handler = got.append
    services = build(ctx)
    sched = services[1]
    assert isinstance(sched, ScheduledService) and len(sched.more) == 1
    assert es_client.indices.exists_index_template(name=f"{names.prefix}-external-wlb")
    doc = event(now - 10, "needle1") | {"fields": {"unit": "xa-a"}}
    es_client.index(index=index, id="w1", document=doc, refresh=True)
    assert iso(now - 10) == doc["@timestamp"]
    for svc in services:
        svc.start()
    try:
        wait_for(lambda: scheduled(got, R1) == {"w1"})
        d = next(d for d in got if d.events[0].id == "w1")
        assert d.events[0].index == index
        assert d.events[0].event["organization"] == {"id": "xa-a", "name": "xa-a"}
    finally:
        for svc in services:
            svc.stop()
        ctx.writer.close()
        es_client.indices.delete(index=index, ignore_unavailable=True)
