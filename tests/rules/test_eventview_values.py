"""EventView.all_text (every value of the event joined with SEP_END, for keyword searches) is
built in one pass over the flattened values: it holds exactly the strings of all_str (every
value as a string, SKIP_FIELDS left out), whatever the event's shape."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socmon.rules.eventview import SEP_END, EventView

keys = st.sampled_from(["event", "original", "event.original", "a", "a.b", "b", "1", ""])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_characters=SEP_END), max_size=3),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def _parts(text: str) -> list[str]:
    return sorted(p for p in text.split(SEP_END) if p)


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(keys, values, max_size=5))
def test_all_text_holds_the_values_of_all_str(event: dict[str, Any]) -> None:
    one_pass = EventView(event).all_text()
    view = EventView(event)
    strs = view.all_str()
    assert _parts(one_pass) == sorted(s for s in strs if s)
    assert view.all_text() == one_pass  # all_str computed first changes nothing


def test_all_text_leaves_the_raw_record_out() -> None:
    ev = {"event": {"original": "raw", "code": 4688, "category": ["process"]}, "message": "m"}
    assert _parts(EventView(ev).all_text()) == ["4688", "m", "process"]
