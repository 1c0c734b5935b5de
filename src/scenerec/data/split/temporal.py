"""Splits by time: ``leave_last_out`` (per user) and ``temporal_cutoff`` (one global cut)."""

from __future__ import annotations

from typing import Literal

import polars as pl

from scenerec.data.split.core import (
    DROP,
    PART_COL,
    ROW_COL,
    TEST,
    TRAIN,
    VALID,
    Split,
    check_events,
    check_scenario,
    finish,
)
from scenerec.errors import ConfigError
from scenerec.schema import C


def leave_last_out(
    events: pl.DataFrame,
    *,
    scenario: str | None,
    n_valid: Literal[0, 1] = 0,
    min_history: int = 1,
) -> Split:
    """Per user, the last event in the target scenario is test; training is strictly earlier.

    Order: events are ordered by timestamp, ties by input row order.

    * **test**: each eligible user's last target-scenario event (the latest timestamp; among
      events at that timestamp, the last in input order).
    * **valid** (``n_valid=1``): the user's last target-scenario event with a timestamp
      *strictly* earlier than the test event's.
    * **train**: every event of the user, in every scenario, with a timestamp strictly earlier
      than the *cutoff* (the valid event's timestamp when there is one, else the test
      event's). So nothing at or after a held-out event's second is ever trained on.
    * **dropped**: the user's other events at or after the cutoff (later events in other
      scenarios, and events that tie with a held-out event). ``info["n_dropped"]`` counts
      them.

    A user is eligible when the cutoff leaves at least ``min_history`` target-scenario events
    in train (and, with ``n_valid=1``, a valid event exists). Without ties this means at least
    ``min_history + 1 + n_valid`` target events. Other users keep all their events in train.
    ``min_history=0`` tests users who are new to the scenario but known from other scenarios.

    Args:
        events: typed, cleaned events.
        scenario: the target scenario; ``None`` uses every scenario (plain leave-one-out).
        n_valid: 0 or 1 validation events per user.
        min_history: target-scenario training events a user needs to be held out.

    Returns:
        A Split named ``leave_last_out[<scenario>]``.
    """
    check_events(events)
    if n_valid not in (0, 1):
        raise ConfigError(f"leave_last_out: n_valid must be 0 or 1, got {n_valid!r}")
    if min_history < 0:
        raise ConfigError(f"leave_last_out: min_history must be >= 0, got {min_history!r}")
    if scenario is not None:
        check_scenario(events, scenario)
    ev = events.select(C.USER_ID, C.SCENARIO, C.TIMESTAMP).with_row_index(ROW_COL)
    is_target = pl.lit(True) if scenario is None else pl.col(C.SCENARIO) == scenario
    target = ev.filter(is_target)
    # The latest event by (timestamp, input row): sort inside each group, so that the answer
    # does not depend on the row order a join or group_by happens to produce.
    order = [C.TIMESTAMP, ROW_COL]
    last = target.group_by(C.USER_ID).agg(
        pl.col(ROW_COL).sort_by(order).last().alias("test_row"),
        pl.col(C.TIMESTAMP).max().alias("test_ts"),
    )
    held = last
    if n_valid:
        before = target.join(last, on=C.USER_ID).filter(pl.col(C.TIMESTAMP) < pl.col("test_ts"))
        prev = before.group_by(C.USER_ID).agg(
            pl.col(ROW_COL).sort_by(order).last().alias("valid_row"),
            pl.col(C.TIMESTAMP).max().alias("valid_ts"),
        )
        held = last.join(prev, on=C.USER_ID, how="inner")  # no valid event: not eligible
        cutoff = pl.col("valid_ts")
    else:
        held = held.with_columns(
            pl.lit(None, dtype=pl.UInt32).alias("valid_row"),
            pl.lit(None, dtype=pl.Int64).alias("valid_ts"),
        )
        cutoff = pl.col("test_ts")
    held = held.with_columns(cutoff.alias("cutoff"))
    history = (
        target.join(held.select(C.USER_ID, "cutoff"), on=C.USER_ID)
        .filter(pl.col(C.TIMESTAMP) < pl.col("cutoff"))
        .group_by(C.USER_ID)
        .len("n_history")
    )
    held = held.join(history, on=C.USER_ID, how="left").filter(
        pl.col("n_history").fill_null(0) >= min_history
    )
    part = (
        ev.join(
            held.select(C.USER_ID, "test_row", "valid_row", "cutoff"),
            on=C.USER_ID,
            how="left",
        )
        .sort(ROW_COL)
        .select(
            pl.when(pl.col("cutoff").is_null())
            .then(TRAIN)
            .when(pl.col(ROW_COL) == pl.col("test_row"))
            .then(TEST)
            .when(pl.col(ROW_COL) == pl.col("valid_row"))
            .then(VALID)
            .when(pl.col(C.TIMESTAMP) < pl.col("cutoff"))
            .then(TRAIN)
            .otherwise(DROP)
            .alias(PART_COL)
        )
        .to_series()
    )
    target_name = scenario if scenario is not None else "*"
    info = {
        "method": "leave_last_out",
        "scenario": scenario,
        "valid_per_user": n_valid,
        "min_history": min_history,
    }
    return finish(
        events, part, name=f"leave_last_out[{target_name}]", info=info, with_valid=bool(n_valid)
    )


# --------------------------------------------------------------------------- temporal cutoff
def temporal_cutoff(events: pl.DataFrame, *, cutoff: int, valid_cutoff: int | None = None) -> Split:
    """One global time cut: train before ``cutoff``, test at or after it.

    With ``valid_cutoff`` (< ``cutoff``): train is ``ts < valid_cutoff``, valid is
    ``valid_cutoff <= ts < cutoff`` and test is ``ts >= cutoff``. All users and items are kept;
    test users or items unseen in train are the evaluation protocol's business.

    Args:
        events: typed, cleaned events.
        cutoff: first second (UTC epoch seconds, as the timestamps) of the test period.
        valid_cutoff: first second of the validation period.
    """
    check_events(events)
    if valid_cutoff is not None and valid_cutoff >= cutoff:
        raise ConfigError(
            f"temporal_cutoff: valid_cutoff ({valid_cutoff}) must be earlier than cutoff ({cutoff})"
        )
    ts = pl.col(C.TIMESTAMP)
    train_end = cutoff if valid_cutoff is None else valid_cutoff
    part = events.select(
        pl.when(ts < train_end).then(TRAIN).when(ts < cutoff).then(VALID).otherwise(TEST)
    ).to_series()
    info = {"method": "temporal_cutoff", "cutoff": cutoff, "valid_cutoff": valid_cutoff}
    return finish(
        events,
        part,
        name=f"temporal_cutoff[{cutoff}]",
        info=info,
        with_valid=valid_cutoff is not None,
    )
