"""Exact and near duplicates."""

from __future__ import annotations

from scenerec.data.clean import DUPLICATE, NEAR_DUPLICATE, clean_events
from scenerec.schema import C
from tests.data.clean.helpers import NO_BOTS, detail_of, ev, frame, reason_of


def test_exact_duplicate_keeps_first_and_names_it() -> None:
    a = ev(value="4", query="q")
    raw = frame([a, ev(item="i2"), a, a | {C.QUERY: "other"}, a | {C.USER_ID: " u1 "}])
    result = clean_events(raw, config=NO_BOTS)
    # Row 5 equals row 1 once whitespace is stripped; row 4 differs in the query.
    assert [reason_of(result, r) for r in range(1, 6)] == [None, None, DUPLICATE, None, DUPLICATE]
    assert "source_row 1" in detail_of(result, 3)


def test_near_duplicates_collapse_a_burst_to_its_first_event() -> None:
    raw = frame(
        [
            ev(ts="100"),
            ev(ts="105"),
            ev(ts="112"),  # 7 s after the previous one: still the same burst
            ev(ts="130"),  # 18 s gap: a new event
            ev(ts="140"),  # exactly the window: still a repeat
            ev(ts="101", behavior="click"),  # another behaviour is not a repeat
            ev(ts="102", item="i2"),
        ]
    )
    result = clean_events(raw, config=NO_BOTS.model_copy(update={"near_duplicate_window_s": 10}))
    assert [reason_of(result, r) for r in range(1, 8)] == [
        None,
        NEAR_DUPLICATE,
        NEAR_DUPLICATE,
        None,
        NEAR_DUPLICATE,
        None,
        None,
    ]
    assert "source_row 2" in detail_of(result, 3)
    off = clean_events(raw, config=NO_BOTS)
    assert off.quarantine.is_empty()


def test_near_duplicate_order_is_by_time_not_by_row() -> None:
    # The later row is the earlier event: it is kept, the other is the repeat.
    raw = frame([ev(ts="200"), ev(ts="195")])
    result = clean_events(raw, config=NO_BOTS.model_copy(update={"near_duplicate_window_s": 10}))
    assert result.events[C.ROW].to_list() == [2]
    assert reason_of(result, 1) == NEAR_DUPLICATE
