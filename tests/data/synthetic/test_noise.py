"""The mess: malformed rows, ISO timestamps, duplicates and bots, each listed in the truth."""

from __future__ import annotations

import polars as pl

from scenerec.data.synthetic import MALFORMED_KINDS
from scenerec.schema import C
from tests.data.synthetic.helpers import clean_typed, tiny_data


def test_malformed_rows_are_listed_and_really_malformed() -> None:
    data = tiny_data()
    bad: dict[int, str] = data.truth["malformed_rows"]
    n = data.events.height
    assert abs(len(bad) - data.config.malformed_fraction * n) <= 1
    assert set(bad.values()) == set(MALFORMED_KINDS)
    rows = data.events.with_row_index(C.ROW, offset=1)
    ts_ok = (
        pl.col(C.TIMESTAMP).str.contains(r"^\d+$")
        | pl.col(C.TIMESTAMP).str.to_datetime(time_zone="UTC", strict=False).is_not_null()
    )
    val_ok = (
        pl.col(C.VALUE).is_null() | pl.col(C.VALUE).cast(pl.Float64, strict=False).is_not_null()
    )
    checks = rows.select(
        C.ROW,
        pl.col(C.USER_ID).is_null().alias("missing_user"),
        pl.col(C.ITEM_ID).is_null().alias("missing_item"),
        (~ts_ok).alias("bad_timestamp"),
        (~val_ok).alias("bad_value"),
    )
    for kind in MALFORMED_KINDS:
        flagged = set(checks.filter(pl.col(kind))[C.ROW].to_list())
        assert flagged == {r for r, k in bad.items() if k == kind}, kind


def test_iso_timestamps_and_duplicates_are_listed() -> None:
    data = tiny_data()
    ts = data.events[C.TIMESTAMP]
    iso = data.truth["iso_rows"]
    assert len(iso) > 0
    parsed = ts.gather([r - 1 for r in iso]).str.to_datetime(time_zone="UTC", strict=False)
    assert parsed.null_count() == 0
    assert not ts.gather([r - 1 for r in iso]).str.contains(r"^\d+$").any()
    dups = data.truth["duplicate_rows"]
    assert abs(len(dups) - data.config.duplicate_fraction * data.events.height) <= 2
    for r in dups[:20]:  # a retry: the copy sits right after its original
        assert data.events.row(r - 1) == data.events.row(r - 2)
    assert data.events.is_duplicated().sum() == 2 * len(dups)


def test_bots_fire_far_faster_than_people() -> None:
    data = tiny_data()
    bots = set(data.truth["bots"])
    assert bots
    busiest = (
        clean_typed(data)
        .group_by(C.USER_ID, (pl.col(C.TIMESTAMP) // 3600).alias("hour"))
        .len()
        .group_by(C.USER_ID)
        .agg(pl.col("len").max())
    )
    bot_peak = busiest.filter(pl.col(C.USER_ID).is_in(list(bots)))["len"]
    human_peak = busiest.filter(~pl.col(C.USER_ID).is_in(list(bots)))["len"]
    assert len(bot_peak) == len(bots)
    assert bot_peak.min() > 3 * human_peak.max()  # type: ignore[operator]
