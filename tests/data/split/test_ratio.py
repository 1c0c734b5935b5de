"""ratio_counts follows RecBole's rule; ratio_split applies it per user."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenerec.data.split import ratio_counts, ratio_split
from scenerec.errors import ConfigError, DataWarning
from scenerec.schema import C
from tests.data.split.helpers import FAST, KEY, assert_same_columns, frame, keys, parts, rows_st


def recbole_counts(n: int, ratios: Sequence[float]) -> list[int]:
    """RecBole's split_by_ratio sizes, spelled out step by step for one group of n events."""
    total = sum(ratios)
    r = [x / total for x in ratios]
    cnt = [int(x * n) for x in r]
    cnt[0] = n - sum(cnt[1:])
    for i in range(1, len(r)):
        if cnt[0] <= 1:
            break
        if 0 < r[-i] * n < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


@pytest.mark.parametrize(
    ("n", "expected"),
    [  # worked by hand from the rule for 8:1:1
        (1, [1, 0, 0]),
        (2, [1, 0, 1]),
        (3, [1, 1, 1]),
        (9, [7, 1, 1]),
        (10, [8, 1, 1]),
        (19, [17, 1, 1]),
        (20, [16, 2, 2]),
        (29, [25, 2, 2]),
    ],
)
def test_ratio_counts_worked_examples(n: int, expected: list[int]) -> None:
    assert ratio_counts([n], (0.8, 0.1, 0.1)).tolist() == [expected]
    assert ratio_counts([n], (8, 1, 1)).tolist() == [expected]


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 400), min_size=1, max_size=30),
    ratios=st.one_of(
        st.tuples(st.floats(0.05, 1), st.floats(0, 1), st.floats(0.01, 1)),
        st.tuples(st.floats(0.05, 1), st.floats(0.01, 1)),
        st.sampled_from([(0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (0.6, 0.2, 0.2), (0.9, 0.1)]),
    ),
)
def test_ratio_counts_follow_recbole_rule(sizes: list[int], ratios: tuple[float, ...]) -> None:
    got = ratio_counts(sizes, ratios)
    assert got.tolist() == [recbole_counts(n, ratios) for n in sizes]
    assert got.sum(axis=1).tolist() == sizes


@FAST
@given(
    rows=rows_st,
    ratios=st.sampled_from([(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.7, 0.3)]),
    order=st.sampled_from(["random", "time"]),
    seed=st.integers(0, 3),
)
def test_ratio_split_sizes_per_user_follow_the_rule(
    rows: list[tuple[int, int, str, int]],
    ratios: tuple[float, ...],
    order: str,
    seed: int,
) -> None:
    # Cleaned data has one row per (user, item, scenario, timestamp) and behaviour.
    events = frame(rows).unique(KEY, keep="first", maintain_order=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        split = ratio_split(events, ratios=ratios, order=order, seed=seed)  # type: ignore[arg-type]
        again = ratio_split(events, ratios=ratios, order=order, seed=seed)  # type: ignore[arg-type]
    assert_same_columns(split, events)
    got = parts(split)
    assert len(got) == events.height
    assert parts(again) == got  # deterministic for a seed
    names = ["train", "valid", "test"] if len(ratios) == 3 else ["train", "test"]
    users = events[C.USER_ID].to_list()
    for user in set(users):
        mine = [got[r] for r, u in zip(events[C.ROW], users, strict=True) if u == user]
        assert [mine.count(p) for p in names] == recbole_counts(len(mine), ratios)
    if order == "time":
        part_of = {"train": 0, "valid": 1, "test": 2}
        for user in set(users):
            theirs = events.filter(pl.col(C.USER_ID) == user)
            seq = sorted((ts, row) for ts, row in theirs.select(C.TIMESTAMP, C.ROW).iter_rows())
            assert [part_of[got[row]] for _, row in seq] == sorted(
                part_of[got[row]] for _, row in seq
            )
    assert not keys(split.test) & keys(split.train)


def test_ratio_split_seed_changes_which_events_not_how_many() -> None:
    rows = [(u, i, "a", t) for u in range(20) for i, t in zip(range(30), range(30), strict=True)]
    events = frame(rows)
    a = ratio_split(events, seed=2020)
    b = ratio_split(events, seed=7)
    assert (a.train.height, a.valid.height, a.test.height) == (  # type: ignore[union-attr]
        b.train.height,
        b.valid.height,  # type: ignore[union-attr]
        b.test.height,
    )
    assert set(a.test[C.ROW]) != set(b.test[C.ROW])


def test_ratio_split_over_all_events_counts_the_whole_table() -> None:
    events = frame([(u % 3, u, "a", u) for u in range(25)])
    split = ratio_split(events, order="time", group_by_user=False)
    assert [split.train.height, split.valid.height, split.test.height] == recbole_counts(  # type: ignore[union-attr]
        25, (0.8, 0.1, 0.1)
    )
    assert split.train[C.TIMESTAMP].max() < split.test[C.TIMESTAMP].min()  # type: ignore[operator]


def test_ratio_split_warns_when_simultaneous_events_straddle_parts() -> None:
    # The same (user, item, scenario, second) twice (e.g. a view and a click): rows are the
    # units, so one can land in train and the other in test. That must not pass silently.
    events = frame([(0, 0, "a", 1), (0, 0, "a", 1)])
    with pytest.warns(DataWarning, match="share"):
        split = ratio_split(events, ratios=(0.5, 0.5))
    assert split.info["test_keys_in_train"] == 1


@pytest.mark.parametrize(
    "ratios", [(0.8,), (0.8, 0.1, 0.05, 0.05), (0.8, -0.1, 0.3), (0.0, 0.5, 0.5), (1.0, 0.0)]
)
def test_ratio_split_rejects_bad_ratios(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="ratio"):
        ratio_split(frame([(0, 0, "a", 1)]), ratios=ratios)
