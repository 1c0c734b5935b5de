"""cold_in_scenario holds users out of one scenario entirely."""

from __future__ import annotations

import warnings
from collections import defaultdict

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenerec.data.split import cold_in_scenario
from scenerec.errors import DataWarning, UnknownEntityError
from scenerec.schema import C
from tests.data.split.helpers import FAST, assert_same_columns, frame, keys, parts, rows_st


@FAST
@given(rows=rows_st, fraction=st.sampled_from([0.0, 0.3, 0.5, 1.0]), seed=st.integers(0, 3))
def test_cold_in_scenario_holds_users_out_of_one_scenario(
    rows: list[tuple[int, int, str, int]], fraction: float, seed: int
) -> None:
    events = frame(rows)
    if "a" not in events[C.SCENARIO].to_list():
        with pytest.raises(UnknownEntityError, match="scenario"):
            cold_in_scenario(events, scenario="a")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        split = cold_in_scenario(events, scenario="a", fraction=fraction, seed=seed)
        again = cold_in_scenario(events, scenario="a", fraction=fraction, seed=seed)
    assert_same_columns(split, events)
    assert split.valid is None
    assert len(parts(split)) == events.height
    held = set(split.info["held_out_users"])
    assert held == set(again.info["held_out_users"])
    scen_of: dict[str, set[str]] = defaultdict(set)
    for user, scen in events.select(C.USER_ID, C.SCENARIO).iter_rows():
        scen_of[user].add(scen)
    eligible = {u for u, s in scen_of.items() if "a" in s and len(s) >= 2}
    assert held <= eligible
    expected_n = round(fraction * len(eligible))
    assert len(held) == (max(1, expected_n) if fraction > 0 and eligible else expected_n)
    train_held = split.train.filter(pl.col(C.USER_ID).is_in(list(held)))
    assert train_held.filter(pl.col(C.SCENARIO) == "a").is_empty()  # cold in "a"
    assert (
        train_held.height
        == events.filter(pl.col(C.USER_ID).is_in(list(held)) & (pl.col(C.SCENARIO) != "a")).height
    )  # still known from the other scenarios
    assert set(split.test[C.USER_ID]) == held
    assert set(split.test[C.SCENARIO]) <= {"a"}
    assert (
        split.test.height
        == events.filter(pl.col(C.USER_ID).is_in(list(held)) & (pl.col(C.SCENARIO) == "a")).height
    )
    assert not keys(split.test) & keys(split.train)
