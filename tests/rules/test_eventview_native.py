"""The native flattening (rules/_eventview.c) gives exactly the results of the Python reference
in rules/eventview.py: the same flat dict (same paths, values, order) and the same values text,
on the corpora's events and on generated ones of any shape; the same errors on bad input; and
its path caches stay bounded. The install builds it: the suite fails when it is missing, so no
run measures or tests the slow path without saying so (SOCMON_NATIVE=0 selects it on purpose).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.sigma_engine import sample_events
from socmon.rules import eventview
from socmon.rules.eventview import SEP_END, SKIP_FIELDS, _flatten_py, _values_text_py

native: Any
try:
    from socmon.rules import _eventview as native
except ImportError:  # reported by test_native_module_built
    native = None

needs_native = pytest.mark.skipif(native is None, reason="rules._eventview is not built")


def test_native_module_built() -> None:
    if os.environ.get("SOCMON_NATIVE", "1") == "0":
        assert not eventview.NATIVE
        pytest.skip("SOCMON_NATIVE=0: the Python implementation is selected on purpose")
    assert native is not None, (
        "rules._eventview is not built: run deploy/bootstrap.sh (needs a C compiler and the "
        "Python headers); the engine would run ~4x slower flattening"
    )
    assert eventview.NATIVE
    assert eventview.flatten is native.flatten
    assert eventview.values_text is native.values_text


def _same(event: dict[str, Any]) -> None:
    want = _flatten_py(event)
    got = native.flatten(event)
    assert got == want
    assert list(got) == list(want)  # the same order: texts are built in it
    for k, v in want.items():  # the same value types (1 == 1.0 == True for ==)
        assert type(got[k]) is type(v)
        if type(v) is list:
            assert [type(x) for x in got[k]] == [type(x) for x in v]
    assert native.values_text(got, SKIP_FIELDS) == _values_text_py(want, SKIP_FIELDS)
    assert native.values_text(got, frozenset()) == _values_text_py(want, frozenset())


@needs_native
@pytest.mark.datasets
def test_native_equals_python_on_the_regression_events(datasets: Path) -> None:
    events = sample_events(datasets / "sigmahq")
    assert len(events) > 200
    for ev in events:
        _same(ev)


keys = st.one_of(
    st.sampled_from(["event", "original", "event.original", "a", "a.b", "b", "1", "", "."]),
    st.text(max_size=4),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # nan, inf, integral floats (text "3", not "3.0")
    st.text(max_size=4),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


@needs_native
@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_native_equals_python_on_any_shape(event: dict[str, Any]) -> None:
    _same(event)


@needs_native
def test_shared_objects_and_duplicate_paths() -> None:
    s = "same"
    lst = [1, None, [2, None, "x"], {"k": s}]
    _same({"a": {"b": s}, "a.b": s, "c": lst, "c.k": "y", "d": None, "d.e": [None]})
    _same({"a.b": None, "a": {"b": [None]}})  # None, then an empty list: [None]
    _same({"p.q.r": "v", "p.q": {"r": 1.0}, "p": {"q": {"r": [2.5, {"s": 1}]}}})
    _same({1: "int key", None: "none key", ("t",): {"x": 1}})  # type: ignore[dict-item]
    _same({"n": float("nan"), "i": float("inf"), "f": -0.0, "b": [True, False, 3.0]})


@needs_native
def test_subclasses_follow_the_reference() -> None:
    class D(dict[str, Any]):
        pass

    class L(list[Any]):
        pass

    class S(str):
        pass

    # a dict subclass as a value is a scalar (as in the reference), inside a list it is an
    # object; a list subclass as a value is a scalar, inside a list its items are values
    _same({"d": D(x=1), "l": L([1, 2]), "s": S("v"), "m": [D(y=2), L([3, None]), S("w")]})


@needs_native
def test_bad_input_raises_the_same_errors() -> None:
    for bad in (None, [1], "event", 3):
        with pytest.raises(TypeError):
            _flatten_py(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            native.flatten(bad)
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(100_000):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(RecursionError):
        native.flatten(deep)
    with pytest.raises(TypeError):
        native.values_text({"a": 1}, ["not a set"])


@needs_native
def test_path_caches_stay_bounded() -> None:
    try:
        native.set_max_paths(50)
        for i in range(2_000):
            ev = {f"k{i}": {f"n{i}": [{"x": i}]}, "fixed": {"y": float(i)}}
            assert native.flatten(ev) == _flatten_py(ev)
            assert native.cached_paths() <= 50
    finally:
        native.set_max_paths(65536)


def test_values_text_of_lists_and_numbers() -> None:
    flat = {"a": "x", "b": [1, None, True, 2.0, 2.5], "c": None, "event.original": "raw"}
    want = SEP_END.join(["x", SEP_END.join(["1", "true", "2", "2.5"])])
    assert _values_text_py(flat, SKIP_FIELDS) == want
    if native is not None:
        assert native.values_text(flat, SKIP_FIELDS) == want
