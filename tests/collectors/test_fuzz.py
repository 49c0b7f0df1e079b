"""Random bytes at every parser (hypothesis): never an exception (not even one the line
handler catches and turns into a "parser error" event), always exactly one event that keeps
the original text, and what we cannot parse is flagged: invalid UTF-8, NUL bytes, a JSON
format given something that is not a JSON object, CEF without its ``CEF:`` header."""

from __future__ import annotations

import json

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
    raw = prefix + body
    ev = HANDLERS[fmt].handle(raw, "fuzz", 0)
    assert isinstance(ev, dict) and "@timestamp" in ev
    assert ev["organization"]["id"]
    assert len(SINK.events) == 1 and SINK.events[0][1] is ev  # one event, emitted
    tags = ev.get("tags", [])
    error = ev.get("error", {}).get("message", "")
    assert not error.startswith("parser error"), error  # a parser raised
    # the original text, as the handler documents it: invalid UTF-8 replaced, NUL -> U+FFFD,
    # one trailing CR dropped
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    text = text[:-1] if text.endswith("\r") else text
    assert ev["event"]["original"] == text
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert "_invalid_utf8" in tags
    if b"\x00" in raw:
        assert "_binary" in tags
    if "_parse_failure" in tags:
        assert error  # flagged with a reason
    if fmt in JSON_FORMATS and not _json_object(text):
        assert "_parse_failure" in tags, ev
    if fmt == "cef" and "CEF:" not in text:
        assert "_parse_failure" in tags, ev


JSON_FORMATS = ("jsonl", "suricata", "zeek", "winjson")


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deep_json_is_refused_not_crashing(depth: int) -> None:
    h = HANDLERS["jsonl"]
    ev = h.handle(b'{"a":' * depth + b"1" + b"}" * depth, "fuzz", 0)
    if depth > 16:
        assert "_parse_failure" in ev["tags"]
