"""Event builders, strategies and checks shared by the split tests."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import polars as pl
from hypothesis import settings
from hypothesis import strategies as st

from scenerec.data.split import Split
from scenerec.schema import EVENT_SCHEMA, C
from tests.data.synthetic.helpers import clean_typed, tiny_data

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


@cache
def synthetic_events() -> pl.DataFrame:
    """Tiny synthetic shop, with the rows truth calls malformed or duplicate removed."""
    data = tiny_data()
    typed = clean_typed(data).with_columns(pl.col(C.ROW).cast(pl.Int64))
    return typed.filter(~pl.col(C.ROW).is_in(data.truth["duplicate_rows"]))
