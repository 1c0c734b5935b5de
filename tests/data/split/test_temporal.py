"""Splits by time: leave_last_out follows its definition and never leaks; temporal_cutoff."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenerec.data.split import leave_last_out, temporal_cutoff
from scenerec.errors import ConfigError, DataWarning, UnknownEntityError
from scenerec.schema import C
from tests.data.split.helpers import FAST, assert_same_columns, frame, keys, parts, rows_st


def oracle_leave_last_out(
    rows: Sequence[tuple[int, int, str, int]],
    scenario: str | None,
    n_valid: int,
    min_history: int,
) -> dict[int, str]:
    """The documented rule, written the slow obvious way: source_row -> part (or 'dropped')."""
    by_user: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for row, (user, _item, scen, ts) in enumerate(rows, start=1):
        by_user[user].append((ts, row, scen))
    out: dict[int, str] = {}
    for evs in by_user.values():
        target = sorted((ts, row) for ts, row, s in evs if scenario is None or s == scenario)
        held: dict[int, str] = {}
        cutoff = None
        if target:
            test_ts, test_row = target[-1]
            held[test_row] = "test"
            cutoff = test_ts
            if n_valid:
                earlier = [e for e in target if e[0] < test_ts]
                if earlier:
                    held[earlier[-1][1]] = "valid"
                    cutoff = earlier[-1][0]
                else:
                    cutoff = None
            if cutoff is not None and sum(ts < cutoff for ts, _ in target) < min_history:
                cutoff = None
        for ts, row, _s in evs:
            if cutoff is None:
                out[row] = "train"
            elif row in held:
                out[row] = held[row]
            else:
                out[row] = "train" if ts < cutoff else "dropped"
    return out


@FAST
@given(
    rows=rows_st,
    scenario=st.sampled_from(["a", None]),
    n_valid=st.sampled_from([0, 1]),
    min_history=st.integers(0, 2),
)
def test_leave_last_out_follows_its_definition_and_never_leaks(
    rows: list[tuple[int, int, str, int]],
    scenario: str | None,
    n_valid: int,
    min_history: int,
) -> None:
    events = frame(rows)
    if scenario is not None and scenario not in events[C.SCENARIO].to_list():
        with pytest.raises(UnknownEntityError):
            leave_last_out(events, scenario=scenario)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # an empty test part warns
        split = leave_last_out(
            events,
            scenario=scenario,
            n_valid=n_valid,  # type: ignore[arg-type]
            min_history=min_history,
        )
    assert_same_columns(split, events)
    got = parts(split)
    expected = oracle_leave_last_out(rows, scenario, n_valid, min_history)
    assert got == {r: p for r, p in expected.items() if p != "dropped"}
    assert split.info["n_dropped"] == sum(p == "dropped" for p in expected.values())
    assert (split.valid is None) == (n_valid == 0)

    # Leakage, checked directly: one test event per user, in the target scenario, and every
    # training event of that user strictly earlier than each held-out event.
    test = split.test
    assert test[C.USER_ID].n_unique() == test.height
    if scenario is not None:
        assert set(test[C.SCENARIO]) <= {scenario}
    held = pl.concat([test, split.valid]) if split.valid is not None else test
    first_held = held.group_by(C.USER_ID).agg(pl.col(C.TIMESTAMP).min().alias("held_ts"))
    joined = split.train.join(first_held, on=C.USER_ID)
    assert (joined[C.TIMESTAMP] < joined["held_ts"]).all()
    assert not keys(test) & keys(split.train)
    assert split.info["test_keys_in_train"] == 0


def test_leave_last_out_ties_go_by_input_order_and_tied_events_are_dropped() -> None:
    # u0's last target second is 5, twice: the later row is test, the earlier one is dropped
    # (neither trained on nor tested), as is the other-scenario event at that second.
    events = frame([(0, 1, "a", 1), (0, 2, "a", 5), (0, 3, "a", 5), (0, 4, "b", 5), (0, 5, "b", 3)])
    split = leave_last_out(events, scenario="a")
    assert split.test[C.ROW].to_list() == [3]
    assert split.train[C.ROW].to_list() == [1, 5]
    assert split.info["n_dropped"] == 2


def test_leave_last_out_min_history_and_cross_scenario_history() -> None:
    events = frame(
        [
            (0, 1, "a", 1), (0, 2, "a", 2),  # two target events: held out when min_history=1
            (1, 1, "b", 1), (1, 2, "a", 2),  # only one target event: new to scenario "a"
            (2, 3, "a", 1), (2, 4, "b", 9),  # one target event then a later "b" event
        ]
    )  # fmt: skip
    split = leave_last_out(events, scenario="a", min_history=1)
    assert split.test[C.USER_ID].to_list() == ["u0"]
    assert split.train.height == 5
    cold = leave_last_out(events, scenario="a", min_history=0)
    assert sorted(cold.test[C.USER_ID].to_list()) == ["u0", "u1", "u2"]
    assert cold.train[C.ROW].to_list() == [1, 3]  # u2's later "b" event is dropped
    assert cold.info["n_dropped"] == 1


# ----------------------------------------------------------------------- temporal cutoff
@FAST
@given(
    rows=rows_st.filter(bool),
    cutoff=st.integers(0, 7),
    valid_gap=st.one_of(st.none(), st.integers(1, 3)),
)
def test_temporal_cutoff_separates_time(
    rows: list[tuple[int, int, str, int]], cutoff: int, valid_gap: int | None
) -> None:
    events = frame(rows)
    valid_cutoff = None if valid_gap is None else cutoff - valid_gap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        split = temporal_cutoff(events, cutoff=cutoff, valid_cutoff=valid_cutoff)
    assert_same_columns(split, events)
    assert len(parts(split)) == events.height  # nothing dropped
    train_end = cutoff if valid_cutoff is None else valid_cutoff
    assert split.train.is_empty() or split.train[C.TIMESTAMP].max() < train_end  # type: ignore[operator]
    assert split.test.is_empty() or split.test[C.TIMESTAMP].min() >= cutoff  # type: ignore[operator]
    if split.valid is not None and not split.valid.is_empty():
        assert split.valid[C.TIMESTAMP].min() >= train_end  # type: ignore[operator]
        assert split.valid[C.TIMESTAMP].max() < cutoff  # type: ignore[operator]
    assert not keys(split.test) & keys(split.train)


def test_temporal_cutoff_rejects_a_valid_cutoff_after_the_cutoff() -> None:
    with pytest.raises(ConfigError, match="valid_cutoff"):
        temporal_cutoff(frame([(0, 0, "a", 1)]), cutoff=5, valid_cutoff=5)
