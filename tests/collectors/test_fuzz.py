"""Random bytes at every parser (hypothesis): never an exception, always an event that keeps
the original text, and what we cannot parse is flagged."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socmon.collectors.enrich import Enricher
from socmon.collectors.lines import LineHandler
from socmon.collectors.parsers.registry import LINE_FORMATS
from socmon.pipeline import ListSink
from socmon.settings.collectors import CollectorSettings

CS = CollectorSettings(max_json_depth=16)
SINK = ListSink()
HANDLERS = {
    f: LineHandler(f, CS, Enricher(CS), SINK, source_kind="fuzz", source=f)
    for f in (*LINE_FORMATS, "auto")
}
PREFIXES = [
    b"",
    b"<34>",
    b"<165>1 ",
    b"Jan  1 00:00:00 h sshd[1]: ",
    b"CEF:0|",
    b"{",
    b"[",
    b'{"event_type":"alert","src_ip":',
    b'{"Event":{"System":',
    b"type=X msg=audit(",
    b"1.2.3.4 - - [",
    b"srcip=",
    b'{"_path":"conn","id.orig_h":',
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.binary(max_size=400),
    fmt=st.sampled_from(sorted(HANDLERS)),
)
def test_random_bytes_never_crash(prefix: bytes, body: bytes, fmt: str) -> None:
    SINK.events.clear()
    ev = HANDLERS[fmt].handle(prefix + body, "fuzz", 0)
    assert isinstance(ev, dict) and "@timestamp" in ev
    assert ev["organization"]["id"]
    assert SINK.events and SINK.events[0][1] is ev


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deep_json_is_refused_not_crashing(depth: int) -> None:
    h = HANDLERS["jsonl"]
    ev = h.handle(b'{"a":' * depth + b"1" + b"}" * depth, "fuzz", 0)
    if depth > 16:
        assert "_parse_failure" in ev["tags"]
