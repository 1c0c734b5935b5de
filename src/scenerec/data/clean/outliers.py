"""Bots and the k-core (rules 10 and 11 of ``scenerec.data.clean``).

Bots are users whose events per active minute are a robust outlier against the population (see
``CleaningConfig.bot_mad_z``), or who exceed an absolute cap: events per active minute, or events
in one calendar minute (a burst); the k-core drops users and items with too few events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import polars as pl

from scenerec.data.clean._scratch import rejected_rows
from scenerec.data.clean.config import BOT, KCORE, CleaningConfig
from scenerec.schema import C

# The scale of log event rates never drops below this (natural-log units), so that a population
# of near-identical users (MAD close to 0) does not make a slight excess look extreme.
_MIN_LOG_SCALE: Final = 0.25
# Makes the MAD a consistent estimator of the standard deviation for normal data.
_MAD_TO_SD: Final = 1.4826


@dataclass
class BotState:
    """Running bot statistics across passes (mutable; frozen into BotReport at the end)."""

    flagged: list[pl.DataFrame] = field(default_factory=list)
    judged: int = 0
    median: float | None = None
    mad: float | None = None
    scale: float | None = None
    cutoff: float | None = None
    passes: int = 0


def _user_rates(ev: pl.DataFrame) -> pl.DataFrame:
    """Per user: events, active minutes, events in the busiest minute, events per active
    minute; sorted by user (group_by order is arbitrary; the statistics must not depend on it)."""
    minute = pl.col(C.TIMESTAMP) // 60
    return (
        ev.group_by(C.USER_ID)
        .agg(
            pl.len().alias("__n"),
            minute.n_unique().alias("__minutes"),
            minute.unique_counts().max().alias("__peak"),
        )
        .sort(C.USER_ID)
        .with_columns((pl.col("__n") / pl.col("__minutes")).alias("__rate"))
    )


def drop_bots(
    ev: pl.DataFrame, config: CleaningConfig, state: BotState
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Flag users whose events per active minute are outliers against the population (see
    ``CleaningConfig.bot_mad_z``) or exceed the absolute caps."""
    stats = _user_rates(ev)
    n = stats["__n"].to_numpy()
    rate = stats["__rate"].to_numpy()
    x = np.log(rate)
    judged = n >= config.bot_min_events
    reference = n >= config.bot_reference_min_events
    flagged = np.zeros(len(x), dtype=bool)
    cutoffs = np.full(len(x), np.nan)
    if config.bot_max_events_in_a_minute is not None:
        flagged |= stats["__peak"].to_numpy() > config.bot_max_events_in_a_minute
    cap = config.bot_max_events_per_minute
    if cap is not None:
        over = judged & ~flagged & (rate > cap)
        flagged |= over
        cutoffs[over] = cap
    median = mad = scale = cutoff = None
    while True:
        state.passes += 1
        pop = reference & ~flagged
        if int(pop.sum()) < config.bot_min_users:
            median = mad = scale = cutoff = None
            break
        median = float(np.median(x[pop]))
        mad = float(np.median(np.abs(x[pop] - median)))
        scale = max(_MAD_TO_SD * mad, _MIN_LOG_SCALE)
        cutoff = median + config.bot_mad_z * scale
        new = judged & ~flagged & (x > cutoff)
        if not new.any():
            break
        # Re-estimate without the outliers: they inflate the MAD, and the cleaned data (which is
        # what a second run sees) will not contain them.
        flagged |= new
        cutoffs[new] = math.exp(cutoff)
    state.judged = int((judged & ~flagged).sum())
    state.median, state.mad, state.scale = median, mad, scale
    state.cutoff = None if cutoff is None else math.exp(cutoff)
    users = stats.with_columns(pl.Series("__cut", cutoffs)).filter(pl.Series(flagged))
    if users.is_empty():
        return ev, rejected_rows(ev, pl.lit(False), BOT, pl.lit(""))
    state.flagged.append(users.select(C.USER_ID))
    marked = ev.join(users, on=C.USER_ID, how="left", maintain_order="left")
    is_bot = pl.col("__n").is_not_null()
    rate_detail = pl.format(
        "user_id '{}' looks automated: {} events in {} active minutes ({} per minute, cut-off {})",
        pl.col(C.USER_ID),
        pl.col("__n"),
        pl.col("__minutes"),
        pl.col("__rate").round(2),
        pl.col("__cut").round(2),
    )
    burst_detail = pl.format(
        "user_id '{}' looks automated: {} events within one minute "
        f"(bot_max_events_in_a_minute={config.bot_max_events_in_a_minute})",
        pl.col(C.USER_ID),
        pl.col("__peak"),
    )
    detail = pl.when(pl.col("__cut").is_nan()).then(burst_detail).otherwise(rate_detail)
    rej = rejected_rows(marked, is_bot, BOT, detail)
    return marked.filter(~is_bot).select(ev.columns), rej


def drop_kcore(
    ev: pl.DataFrame, config: CleaningConfig
) -> tuple[pl.DataFrame, list[pl.DataFrame], int]:
    """Remove users/items below the k-core thresholds until none is; returns kept, rejected,
    rounds."""
    per_scenario = config.kcore_scope == "scenario"
    where = " in scenario '{}'" if per_scenario else ""
    counts: list[tuple[str, int, str]] = []
    if config.kcore_users > 0:
        counts.append((C.USER_ID, config.kcore_users, "kcore_users"))
    if config.kcore_items > 0:
        counts.append((C.ITEM_ID, config.kcore_items, "kcore_items"))
    rejected: list[pl.DataFrame] = []
    rounds = 0
    while counts and not ev.is_empty():
        exprs: list[pl.Expr] = []
        for col, _, _ in counts:
            by = [col, C.SCENARIO] if per_scenario else [col]
            exprs.append(pl.len().over(by).alias(f"__count_{col}"))
        marked = ev.with_columns(exprs)
        conds = [(pl.col(f"__count_{col}") < k) for col, k, _ in counts]
        drop = pl.any_horizontal(conds)
        if not marked.select(drop.any()).item():
            break
        rounds += 1
        detail: pl.Expr = pl.lit(None, pl.String)
        for (col, k, name), cond in reversed(list(zip(counts, conds, strict=True))):
            args = [pl.col(col), pl.col(f"__count_{col}")]
            if per_scenario:
                args.append(pl.col(C.SCENARIO))
            text = pl.format(
                f"{col} '{{}}' has {{}} events{where} (< {name}={k}, k-core round {rounds})", *args
            )
            detail = pl.when(cond).then(text).otherwise(detail)
        rejected.append(rejected_rows(marked, drop, KCORE, detail))
        ev = marked.filter(~drop).select(ev.columns)
    return ev, rejected, rounds
