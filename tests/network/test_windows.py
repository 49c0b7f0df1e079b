"""The derived detections' sliding windows (collectors/network/windows.py) against a plain
reference: a key fires when ``threshold`` hits (distinct items) fall within any ``window``
seconds, then stays quiet for ``window`` seconds; memory stays bounded."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from socmon.collectors.network.windows import SAMPLE, WindowCounter


def reference(
    hits: list[tuple[str, int, float]], window: float, threshold: int, distinct: bool
) -> list[tuple[int, float]]:
    """(hit index, start) of every firing; hits in time order."""
    out = []
    episode: dict[str, list[tuple[float, int]]] = {}
    fired: dict[str, float] = {}
    for i, (key, item, ts) in enumerate(hits):
        if key in fired:
            if ts - fired[key] <= window:
                continue
            del fired[key]
            episode[key] = []
        ep = episode.setdefault(key, [])
        ep.append((ts, item))
        inside = [(t, it) for t, it in ep if t >= ts - window]
        n = len({it for _, it in inside}) if distinct else len(inside)
        if n >= threshold:
            fired[key] = ts
            out.append((i, min(t for t, _ in inside)))
    return out


hit_lists = st.lists(
    st.tuples(st.sampled_from("ab"), st.integers(0, 6), st.floats(0, 30)), max_size=80
)


@settings(max_examples=600, deadline=None)
@given(hit_lists, st.integers(2, 6), st.sampled_from([1.0, 5.0, 10.0]), st.booleans())
def test_fires_exactly_when_the_reference_does(
    raw: list[tuple[str, int, float]], threshold: int, window: float, distinct: bool
) -> None:
    hits = sorted(raw, key=lambda h: h[2])  # packet time order
    wc = WindowCounter(window, threshold, distinct)
    got = []
    for i, (key, item, ts) in enumerate(hits):
        w = wc.add(key, item, ts)
        if w is not None:
            got.append((i, w.start))
    want = reference(hits, window, threshold, distinct)
    assert [i for i, _ in got] == [i for i, _ in want]
    if not distinct:  # counting: the window's first hit
        assert got == want
    else:  # distinct: the first hit of the items counted (not after the window's first)
        assert all(g <= w for (_, g), (_, w) in zip(got, want, strict=True))


def test_a_scan_across_a_fixed_window_boundary_fires() -> None:
    """One probe at t=0, then 20 ports at t=50..69: never 20 in [0, 60] nor in [61, 121]
    (the old fixed windows), but 20 within [9, 69]."""
    wc = WindowCounter(60.0, 20, distinct=True)
    assert wc.add("src", 1, 0.0) is None
    fired = [wc.add("src", 100 + i, 50.0 + i) for i in range(20)]
    assert [w is not None for w in fired] == [False] * 19 + [True]
    w = fired[-1]
    assert w is not None and w.start == 50.0 and len(w.items) == 20 and w.count == 20


def test_a_long_scan_fires_once_per_window() -> None:
    wc = WindowCounter(60.0, 20, distinct=True)
    fires = [t / 2 for t in range(600) if wc.add("src", t, t / 2) is not None]
    assert fires == [9.5, 79.5, 149.5, 219.5, 289.5]  # 20 ports, then quiet for 60 s


def test_out_of_order_hits_never_fire_from_outside_the_window() -> None:
    wc = WindowCounter(10.0, 3, distinct=False)
    assert wc.add("k", None, 100.0) is None
    assert wc.add("k", None, 50.0) is None  # 50 s late: counted nowhere
    assert wc.add("k", None, 51.0) is None
    w = wc.add("k", None, 95.0)  # 95, 100 and this: within 10 s
    assert w is None
    w = wc.add("k", None, 99.0)
    assert w is not None and w.start == 95.0 and w.count == 3


def test_memory_is_bounded() -> None:
    rnd = random.Random(7)
    wc = WindowCounter(60.0, 50, distinct=True, max_keys=1000)
    counting = WindowCounter(60.0, 200, distinct=False, max_keys=1000)
    for i in range(200_000):
        ts = i * 0.001 + rnd.random()  # slightly out of order
        key = rnd.randrange(3000)
        wc.add(key, rnd.randrange(10_000), ts)
        counting.add(key % 5, rnd.randrange(10_000), ts)
    assert len(wc.keys) <= 1000 and wc.dropped_keys > 0
    assert max(len(w.items) for w in wc.keys.values()) <= 50
    assert max(len(w.state) for w in wc.keys.values()) <= 50
    assert max(len(w.times) for w in counting.keys.values()) <= 200
    assert max(len(w.items) for w in counting.keys.values()) <= SAMPLE
