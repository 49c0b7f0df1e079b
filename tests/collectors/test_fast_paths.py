"""The EVTX per-record fast paths give the same results as the general ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from socmon.collectors.enrich import Enricher
from socmon.collectors.timeparse import TimeParser
from socmon.ids import IdPrefix, doc_id
from socmon.settings.collectors import CollectorSettings


@given(
    st.tuples(
        st.integers(0, 9999),
        st.integers(0, 14),
        st.integers(0, 33),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
        st.integers(0, 999999),
    )
)
def test_system_time_equals_isoish(t: tuple[int, ...]) -> None:
    y, mo, d, h, mi, s, us = t
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}Z"
    assert TimeParser().system_time(text) == TimeParser().isoish(text)


@given(st.text(max_size=30))
def test_system_time_equals_isoish_any_text(text: str) -> None:
    assert TimeParser().system_time(text) == TimeParser().isoish(text)


@given(st.text(max_size=40), st.one_of(st.integers(), st.text(max_size=10)))
def test_id_prefix_equals_doc_id(identity: str, position: int | str) -> None:
    assert IdPrefix(identity).id(position) == doc_id(identity, position)


def test_source_enricher_equals_apply() -> None:
    cs = CollectorSettings(
        organization_units=[
            {"id": "u1", "name": "One", "paths": ["/var/log/a*"]},
            {"id": "u2", "name": "Two", "hosts": ["web*"], "senders": ["10.0.0.0/8"]},
        ]
    )
    en = Enricher(cs)
    for path, sender, host in (
        ("/var/log/a.log", None, "web1"),
        ("/var/log/b.log", None, "web1"),
        ("/var/log/b.log", None, "db1"),
        (None, "10.1.2.3", "db1"),
        (None, "192.0.2.1", None),
        (None, None, 5),
    ):
        ev1 = {"host": {"name": host}} if host is not None else {}
        ev2 = {"host": {"name": host}} if host is not None else {}
        en.apply(ev1, source_kind="file", source="s", path=path, sender=sender, ingested="T")
        en.for_source("file", "s", path=path, sender=sender).apply(ev2, "T")
        assert ev1 == ev2
        # the organisation unit is the one the general resolution gives
        hname = host if isinstance(host, str) else None
        org = en.orgs.resolve(path=path, sender=sender, host=hname)
        assert ev2["organization"] == {"id": org[0], "name": org[1]}
