"""Cached generated shops and topic histograms shared by the synthetic-data tests."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from scenerec.data.synthetic import SyntheticData, generate, tiny
from scenerec.schema import C


@cache
def tiny_data(seed: int = 0) -> SyntheticData:
    return generate(tiny(seed))


@cache
def default_data() -> SyntheticData:
    return generate()


def clean_typed(data: SyntheticData) -> pl.DataFrame:
    """Drop the rows truth calls malformed and type the rest (a stand-in for the cleaner)."""
    bad = list(data.truth["malformed_rows"])
    ts = pl.col(C.TIMESTAMP)
    return (
        data.events.with_row_index(C.ROW, offset=1)
        .filter(~pl.col(C.ROW).is_in(bad))
        .with_columns(
            pl.coalesce(
                ts.cast(pl.Int64, strict=False),
                ts.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("s"),
            ).alias(C.TIMESTAMP),
            pl.col(C.VALUE).cast(pl.Float64),
        )
    )


def topic_hist(ev: pl.DataFrame, item_topic: dict[str, str], topics: list[str]) -> pl.DataFrame:
    """Per user, a normalised histogram over topics of the items they touched."""
    t_index = {t: i for i, t in enumerate(topics)}
    return (
        ev.with_columns(
            pl.col(C.ITEM_ID).replace_strict(item_topic).replace_strict(t_index).alias("t")
        )
        .group_by(C.USER_ID, "t")
        .len()
        .pivot(on="t", index=C.USER_ID, values="len")
        .fill_null(0)
    )


def hist_matrix(h: pl.DataFrame, users: list[str], n_topics: int) -> np.ndarray:
    out = np.zeros((len(users), n_topics))
    rows = {u: i for i, u in enumerate(h[C.USER_ID].to_list())}
    for j in range(n_topics):
        if str(j) in h.columns:
            col = h[str(j)].to_numpy()
            out[:, j] = [col[rows[u]] if u in rows else 0 for u in users]
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)
    return unit
