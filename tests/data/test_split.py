"""Splits: each part is what its definition says, and no test event leaks into training."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from functools import cache

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenerec.data.dataset import Dataset
from scenerec.data.split import (
    Split,
    cold_in_scenario,
    leave_last_out,
    predefined,
    ratio_counts,
    ratio_split,
    temporal_cutoff,
)
from scenerec.data.synthetic import generate, tiny
from scenerec.errors import ConfigError, DataWarning, SchemaError, UnknownEntityError
from scenerec.schema import EVENT_SCHEMA, C

KEY = [C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP]
SCENARIOS = ("a", "b", "c")
FAST = settings(max_examples=60, deadline=None)


def frame(rows: Sequence[tuple[int, int, str, int]]) -> pl.DataFrame:
    """Typed events from (user, item, scenario, timestamp); ``source_row`` identifies rows."""
    return pl.DataFrame(
        {
            C.USER_ID: [f"u{r[0]}" for r in rows],
            C.ITEM_ID: [f"i{r[1]}" for r in rows],
            C.SCENARIO: [r[2] for r in rows],
            C.BEHAVIOR: ["view"] * len(rows),
            C.TIMESTAMP: [r[3] for r in rows],
            C.ROW: list(range(1, len(rows) + 1)),
        },
        schema={**{c: EVENT_SCHEMA[c] for c in [*KEY, C.BEHAVIOR]}, C.ROW: pl.Int64},
    )


# Few users, items and timestamps, so that ties and repeats are common.
rows_st = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 5), st.sampled_from(SCENARIOS), st.integers(0, 6)),
    max_size=40,
)


def parts(split: Split) -> dict[int, str]:
    """source_row -> part name, checking that no row is in two parts."""
    out: dict[int, str] = {}
    named = {"train": split.train, "valid": split.valid, "test": split.test}
    for name, df in named.items():
        if df is None:
            continue
        for r in df[C.ROW].to_list():
            assert r not in out, f"row {r} in {out[r]} and {name}"
            out[r] = name
    return out


def keys(df: pl.DataFrame | None) -> set[tuple[object, ...]]:
    return set() if df is None else set(df.select(KEY).iter_rows())


def assert_same_columns(split: Split, events: pl.DataFrame) -> None:
    for df in (split.train, split.valid, split.test):
        if df is not None:
            assert df.schema == events.schema


# ------------------------------------------------------------------------- leave last out
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


# --------------------------------------------------------------------------- ratio split
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


# ----------------------------------------------------------------------- cold in scenario
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


# ------------------------------------------------------------------------------ predefined
def test_predefined_wraps_the_given_parts() -> None:
    train = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    test = frame([(0, 2, "a", 3)])
    split = predefined(train, test, valid=frame([(1, 3, "a", 3)]))
    assert split.train.equals(train) and split.test.equals(test)
    assert split.valid is not None and split.valid.height == 1
    assert split.info["test_keys_in_train"] == 0


def test_predefined_warns_about_leakage_and_rejects_mismatched_columns() -> None:
    train = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    with pytest.warns(DataWarning, match="1 test event"):
        split = predefined(train, frame([(0, 0, "a", 1)]))
    assert split.info["test_keys_in_train"] == 1
    with pytest.raises(SchemaError, match="same columns"):
        predefined(train, frame([(0, 0, "a", 1)]).drop(C.ROW))


# ------------------------------------------------------------------- input checks & dataset
def test_bad_inputs_name_the_problem() -> None:
    good = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    with pytest.raises(SchemaError, match="timestamp"):
        leave_last_out(good.drop(C.TIMESTAMP), scenario="a")
    with pytest.raises(SchemaError, match="integer"):
        temporal_cutoff(good.with_columns(pl.col(C.TIMESTAMP).cast(pl.String)), cutoff=1)
    with_null = good.with_columns(
        pl.when(pl.col(C.ROW) == 2).then(None).otherwise(pl.col(C.USER_ID)).alias(C.USER_ID)
    )
    with pytest.raises(SchemaError, match="row 2") as err:
        ratio_split(with_null)
    assert err.value.column == C.USER_ID
    with pytest.raises(UnknownEntityError, match="'zzz'"):
        leave_last_out(good, scenario="zzz")
    with pytest.raises(ConfigError, match="n_valid"):
        leave_last_out(good, scenario="a", n_valid=2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fraction"):
        cold_in_scenario(good, scenario="a", fraction=1.5)


@cache
def synthetic_events() -> pl.DataFrame:
    """Tiny synthetic shop, with the rows truth calls malformed or duplicate removed."""
    data = generate(tiny())
    skip = list(data.truth["malformed_rows"]) + data.truth["duplicate_rows"]
    ts = pl.col(C.TIMESTAMP)
    return (
        data.events.with_row_index(C.ROW, offset=1)
        .with_columns(pl.col(C.ROW).cast(pl.Int64))
        .filter(~pl.col(C.ROW).is_in(skip))
        .with_columns(
            pl.coalesce(
                ts.cast(pl.Int64, strict=False),
                ts.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("s"),
            ).alias(C.TIMESTAMP),
            pl.col(C.VALUE).cast(pl.Float64),
        )
    )


def test_train_dataset_keeps_the_full_vocabularies() -> None:
    events = synthetic_events()
    full = Dataset(events)
    split = leave_last_out(events, scenario="search", n_valid=1)
    train = split.train_dataset(full)
    assert train.n_events == split.train.height
    assert train.vocabularies == full.vocabularies
    assert train.n_items == full.n_items and train.n_users == full.n_users


def test_splits_of_the_synthetic_shop_do_not_leak() -> None:
    events = synthetic_events()
    lo = int(events[C.TIMESTAMP].min())  # type: ignore[arg-type]
    splits = [
        leave_last_out(events, scenario="app"),
        leave_last_out(events, scenario=None, n_valid=1, min_history=3),
        temporal_cutoff(events, cutoff=lo + 80 * 86_400, valid_cutoff=lo + 70 * 86_400),
        cold_in_scenario(events, scenario="web", fraction=0.3),
    ]
    for split in splits:
        assert split.test.height > 0 and split.train.height > 0, split.name
        assert split.info["test_keys_in_train"] == 0, split.name
        assert not keys(split.test) & keys(split.train), split.name
        assert (
            split.train.height
            + split.test.height
            + (0 if split.valid is None else split.valid.height)
            + split.info["n_dropped"]
            == events.height
        )
