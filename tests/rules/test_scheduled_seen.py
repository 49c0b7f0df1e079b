"""The scheduled runner's memory of delivered detections (rules.scheduled_seen)."""

from __future__ import annotations

from socmon.rules.scheduled_seen import RecentIds


def test_remembered_for_keep_seconds_after_the_last_sighting() -> None:
    now = [0.0]
    ids = RecentIds(keep=10, clock=lambda: now[0])
    assert not ids.seen("a")
    ids.add("a")
    now[0] = 9.0
    assert ids.seen("a")  # sighted again at 9: kept until 19
    now[0] = 18.0
    assert ids.seen("a")
    now[0] = 28.5
    assert not ids.seen("a") and len(ids) == 0


def test_bounded_in_size_oldest_forgotten_first() -> None:
    ids = RecentIds(keep=1e9, max_ids=3, clock=lambda: 0.0)
    for k in "abcd":
        ids.add(k)
    assert len(ids) == 3
    assert not ids.seen("a")
    assert ids.seen("b") and ids.seen("d")
