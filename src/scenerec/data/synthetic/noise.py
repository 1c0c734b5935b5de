"""The mess a cleaner must handle: bots, rows logged late, exact duplicates, malformed fields
and ISO-8601 timestamps.

Bots fire hundreds of views and clicks on random items seconds apart. A few rows arrive late
(out of time order), some rows are followed by an exact copy (a logging retry), and some get one
corrupted field (``MALFORMED_KINDS``) or an ISO-8601 timestamp instead of Unix seconds.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from scenerec.data.synthetic.behaviour import EventArrays
from scenerec.data.synthetic.config import SyntheticConfig
from scenerec.data.synthetic.sampling import BoolArray, IntArray
from scenerec.schema import C

_BAD_TIMESTAMPS: Final = ("yesterday", "n/a", "2024-13-45T25:61:00", "17:03", "1.7e9x", "-")
_BAD_VALUES: Final = ("five", "12abc", "??", "1,5,0", "NaNx")
MALFORMED_KINDS: Final = ("missing_user", "missing_item", "bad_timestamp", "bad_value")


def _no_queries(n: int) -> pl.Series:
    return pl.Series(values=[None] * n, dtype=pl.String)


def bot_events(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    bots: IntArray,
    n_events: int,
    avail: BoolArray,
    behaviors: list[str],
    span: int,
) -> EventArrays:
    """Bot rows: each bot crawls one (non-search) scenario in a burst a few seconds apart."""
    if len(bots) == 0 or n_events == 0:
        z = np.zeros(0, dtype=np.int64)
        return EventArrays(z, z, z, z, np.zeros(0), np.zeros(0), _no_queries(0))
    counts = rng.multinomial(n_events, np.full(len(bots), 1.0 / len(bots)))
    owner = np.repeat(np.arange(len(bots)), counts)
    crawlable = [s for s, name in enumerate(cfg.scenarios) if name != "search"] or [0]
    b_scen = np.array(crawlable)[rng.integers(0, len(crawlable), len(bots))]
    start = rng.random(len(bots)) * max(1.0, span - 6 * 3600)
    gap = rng.exponential(cfg.bot_gap_seconds, len(owner))
    csum = np.cumsum(gap)
    first = np.cumsum(counts) - counts
    offset = csum - np.repeat(csum[np.minimum(first, len(csum) - 1)], counts)
    ts = np.minimum(start[owner] + offset, span - 1)
    scen = b_scen[owner]
    items = np.empty(len(owner), dtype=np.int64)
    for s in np.unique(scen):  # uniform over the scenario's items: a crawler, not a shopper
        pool = np.flatnonzero(avail[s])
        here = scen == s
        items[here] = pool[rng.integers(0, len(pool), int(here.sum()))]
    # A search-only shop has no "view": the bot then fires its scenario's first behaviour.
    view = behaviors.index("view") if "view" in behaviors else 0
    click = behaviors.index("click") if "click" in behaviors else view
    beh = np.where(rng.random(len(owner)) < 0.85, view, click).astype(np.int64)
    value = rng.random(len(owner))  # a bot does not read: dwell under a second
    return EventArrays(
        bots[owner].astype(np.int64),
        items,
        scen.astype(np.int64),
        beh,
        ts,
        value,
        _no_queries(len(owner)),
    )


def logging_order(
    rng: np.random.Generator, cfg: SyntheticConfig, ts: IntArray, n_dup: int
) -> IntArray:
    """Row order of the log: by arrival time (a few rows arrive late), with ``n_dup`` rows
    followed by an exact copy (indices into ``ts``, repeated for the copies)."""
    arrival = ts + rng.exponential(2.0, len(ts))
    late = rng.random(len(ts)) < cfg.late_fraction
    arrival[late] += rng.exponential(3600.0, int(late.sum()))
    order = np.argsort(arrival, kind="stable")
    # Duplicates: a row followed by its exact copy.
    is_dup_src = np.zeros(len(order), dtype=bool)
    if n_dup:
        is_dup_src[rng.choice(len(order), min(n_dup, len(order)), replace=False)] = True
    out: IntArray = np.repeat(order, 1 + is_dup_src.astype(np.int64))
    return out


def corrupt(
    rng: np.random.Generator, cfg: SyntheticConfig, events: pl.DataFrame
) -> tuple[pl.DataFrame, dict[int, str], list[int]]:
    """Corrupt one field of some rows and write some timestamps as ISO-8601 text.

    Rows that have an exact copy next to them are left alone, so a duplicate stays a duplicate.
    """
    n = events.height
    dup_any = events.is_duplicated().to_numpy()
    free = np.flatnonzero(~dup_any)
    n_bad = min(len(free), round(cfg.malformed_fraction * n))
    n_iso = min(len(free) - n_bad, round(cfg.iso_timestamp_fraction * n))
    pick = rng.permutation(free)
    bad_rows, iso_rows = np.sort(pick[:n_bad]), np.sort(pick[n_bad : n_bad + n_iso])
    kind = np.full(n, -1, dtype=np.int64)
    kind[bad_rows] = rng.integers(0, len(MALFORMED_KINDS), n_bad)
    bad_ts = np.array(_BAD_TIMESTAMPS)[rng.integers(0, len(_BAD_TIMESTAMPS), n)]
    bad_val = np.array(_BAD_VALUES)[rng.integers(0, len(_BAD_VALUES), n)]
    iso = np.zeros(n, dtype=bool)
    iso[iso_rows] = True
    z_suffix = rng.random(n) < 0.5
    k = {name: pl.lit(i) for i, name in enumerate(MALFORMED_KINDS)}
    ts_num = pl.col(C.TIMESTAMP).cast(pl.Int64, strict=False)
    iso_text = pl.from_epoch(ts_num, time_unit="s")
    out = events.with_columns(
        pl.Series("_kind", kind),
        pl.Series("_bad_ts", bad_ts),
        pl.Series("_bad_val", bad_val),
        pl.Series("_iso", iso),
        pl.Series("_z", z_suffix),
    ).with_columns(
        pl.when(pl.col("_kind") == k["missing_user"])
        .then(None)
        .otherwise(pl.col(C.USER_ID))
        .alias(C.USER_ID),
        pl.when(pl.col("_kind") == k["missing_item"])
        .then(None)
        .otherwise(pl.col(C.ITEM_ID))
        .alias(C.ITEM_ID),
        pl.when(pl.col("_kind") == k["bad_timestamp"])
        .then(pl.col("_bad_ts"))
        .when(pl.col("_iso") & pl.col("_z"))
        .then(iso_text.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .when(pl.col("_iso"))
        .then(iso_text.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        .otherwise(pl.col(C.TIMESTAMP))
        .alias(C.TIMESTAMP),
        pl.when(pl.col("_kind") == k["bad_value"])
        .then(pl.col("_bad_val"))
        .otherwise(pl.col(C.VALUE))
        .alias(C.VALUE),
    )
    malformed = {int(r) + 1: MALFORMED_KINDS[kind[r]] for r in bad_rows}
    return out.select(events.columns), malformed, (iso_rows + 1).tolist()
