"""Train / validation / test splits for honest evaluation.

Every function takes a typed, cleaned events table (``scenerec.schema.EVENT_SCHEMA``; extra
columns are kept) and returns a ``Split`` whose parts have the input's columns and keep the
input's row order. Splits are deterministic: the random ones take a seed.

* ``leave_last_out``: per user, the last event in a target scenario is the test event; the
  user's training events are strictly earlier, in every scenario.
* ``temporal_cutoff``: one global time cut (a "deploy date").
* ``ratio_split``: per-user ratio split with RecBole's counting rule (comparable with its
  published tables).
* ``cold_in_scenario``: users held out of one scenario entirely, known from the others.
* ``predefined``: train / test frames shipped by a data release.

Each split records in ``info`` how many test events share their ``(user, item, scenario,
timestamp)`` with a training event (``test_keys_in_train``); a non-zero count is leakage and
raises a ``DataWarning``. It is zero by construction for every split here except
``ratio_split`` on data with simultaneous events and ``predefined``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import polars as pl

from scenerec.errors import ConfigError, DataWarning, SchemaError, UnknownEntityError
from scenerec.schema import C

if TYPE_CHECKING:
    from scenerec.data.dataset import Dataset

logger = logging.getLogger(__name__)

__all__ = [
    "Split",
    "cold_in_scenario",
    "leave_last_out",
    "predefined",
    "ratio_counts",
    "ratio_split",
    "temporal_cutoff",
]

_KEY: Final = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP)
_ROW: Final = "__split_row"  # private helper columns, removed before returning
_PART: Final = "__split_part"
_TRAIN, _VALID, _TEST, _DROP = 0, 1, 2, -1


@dataclass(frozen=True)
class Split:
    """The parts of one split.

    Attributes:
        train: events a model may fit on.
        valid: events for model selection, or ``None``.
        test: events to evaluate on.
        name: e.g. ``"leave_last_out[app]"``.
        info: how it was made (method, arguments) and its sizes (``n_train``, ``n_valid``,
            ``n_test``, ``n_dropped``, ``n_test_users``, ``test_keys_in_train``).
    """

    train: pl.DataFrame
    valid: pl.DataFrame | None
    test: pl.DataFrame
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def train_dataset(self, full: Dataset) -> Dataset:
        """The training part as a Dataset with ``full``'s vocabularies, so indices agree."""
        return full.subset(self.train, name=f"{full.name}:{self.name}:train")

    def __repr__(self) -> str:
        nv = "-" if self.valid is None else self.valid.height
        return (
            f"Split({self.name!r}: train={self.train.height}, valid={nv}, test={self.test.height})"
        )


# --------------------------------------------------------------------------------- checks
def _check_events(events: pl.DataFrame, arg: str = "events") -> None:
    """Columns present, timestamps integer, no null keys: what a cleaned table guarantees."""
    fix = "clean the events first (scenerec.data.clean)"
    missing = [c for c in _KEY if c not in events.columns]
    if missing:
        raise SchemaError(
            f"{arg} lacks column(s) {missing}; found {events.columns}", column=missing[0], fix=fix
        )
    if not events.schema[C.TIMESTAMP].is_integer():
        raise SchemaError(
            f"{arg}: timestamps must be integer seconds",
            column=C.TIMESTAMP,
            value=str(events.schema[C.TIMESTAMP]),
            fix=fix,
        )
    for col in _KEY:
        n_null = events[col].null_count()
        if n_null:
            first = int(np.flatnonzero(events[col].is_null().to_numpy())[0])
            row = events[C.ROW][first] if C.ROW in events.columns else first + 1
            raise SchemaError(
                f"{arg} has {n_null} null value(s) in a key column",
                row=int(row),
                column=col,
                fix=fix,
            )


def _check_scenario(events: pl.DataFrame, scenario: str) -> None:
    present = events[C.SCENARIO].unique().sort().to_list()
    if scenario not in present:
        raise UnknownEntityError(
            "scenario", scenario, fix=f"the events have scenarios {present}; choose one of them"
        )


def _leaks(train: pl.DataFrame, test: pl.DataFrame) -> int:
    """Test events whose (user, item, scenario, timestamp) also occurs in train."""
    if train.is_empty() or test.is_empty():
        return 0
    keys = train.select(_KEY).unique()
    return test.select(_KEY).join(keys, on=list(_KEY), how="semi").height


def _finish(
    events: pl.DataFrame,
    part: pl.Series,
    *,
    name: str,
    info: dict[str, Any],
    with_valid: bool,
) -> Split:
    """Cut ``events`` by a per-row part code (train/valid/test/dropped) into a Split."""
    tagged = events.with_columns(part.alias(_PART))
    train, valid, test = (
        tagged.filter(pl.col(_PART) == code).drop(_PART) for code in (_TRAIN, _VALID, _TEST)
    )
    leaks = _leaks(train, test)
    info = {
        **info,
        "n_train": train.height,
        "n_valid": valid.height if with_valid else None,
        "n_test": test.height,
        "n_dropped": int((part == _DROP).sum()),
        "n_test_users": test[C.USER_ID].n_unique(),
        "test_keys_in_train": leaks,
    }
    if leaks:
        warnings.warn(
            f"split {name}: {leaks} test event(s) share (user, item, scenario, timestamp) with "
            "a training event; deduplicate the events (scenerec.data.clean) or split by time",
            DataWarning,
            stacklevel=3,
        )
    if test.is_empty():
        warnings.warn(f"split {name}: the test part is empty", DataWarning, stacklevel=3)
    logger.info(
        "split %s: train=%d valid=%s test=%d dropped=%d",
        name,
        info["n_train"],
        info["n_valid"],
        info["n_test"],
        info["n_dropped"],
    )
    return Split(train=train, valid=valid if with_valid else None, test=test, name=name, info=info)


# --------------------------------------------------------------------------- leave last out
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
    _check_events(events)
    if n_valid not in (0, 1):
        raise ConfigError(f"leave_last_out: n_valid must be 0 or 1, got {n_valid!r}")
    if min_history < 0:
        raise ConfigError(f"leave_last_out: min_history must be >= 0, got {min_history!r}")
    if scenario is not None:
        _check_scenario(events, scenario)
    ev = events.select(C.USER_ID, C.SCENARIO, C.TIMESTAMP).with_row_index(_ROW)
    is_target = pl.lit(True) if scenario is None else pl.col(C.SCENARIO) == scenario
    target = ev.filter(is_target)
    # The latest event by (timestamp, input row): sort inside each group, so that the answer
    # does not depend on the row order a join or group_by happens to produce.
    order = [C.TIMESTAMP, _ROW]
    last = target.group_by(C.USER_ID).agg(
        pl.col(_ROW).sort_by(order).last().alias("test_row"),
        pl.col(C.TIMESTAMP).max().alias("test_ts"),
    )
    held = last
    if n_valid:
        before = target.join(last, on=C.USER_ID).filter(pl.col(C.TIMESTAMP) < pl.col("test_ts"))
        prev = before.group_by(C.USER_ID).agg(
            pl.col(_ROW).sort_by(order).last().alias("valid_row"),
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
        .sort(_ROW)
        .select(
            pl.when(pl.col("cutoff").is_null())
            .then(_TRAIN)
            .when(pl.col(_ROW) == pl.col("test_row"))
            .then(_TEST)
            .when(pl.col(_ROW) == pl.col("valid_row"))
            .then(_VALID)
            .when(pl.col(C.TIMESTAMP) < pl.col("cutoff"))
            .then(_TRAIN)
            .otherwise(_DROP)
            .alias(_PART)
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
    return _finish(
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
    _check_events(events)
    if valid_cutoff is not None and valid_cutoff >= cutoff:
        raise ConfigError(
            f"temporal_cutoff: valid_cutoff ({valid_cutoff}) must be earlier than cutoff ({cutoff})"
        )
    ts = pl.col(C.TIMESTAMP)
    train_end = cutoff if valid_cutoff is None else valid_cutoff
    part = events.select(
        pl.when(ts < train_end).then(_TRAIN).when(ts < cutoff).then(_VALID).otherwise(_TEST)
    ).to_series()
    info = {"method": "temporal_cutoff", "cutoff": cutoff, "valid_cutoff": valid_cutoff}
    return _finish(
        events,
        part,
        name=f"temporal_cutoff[{cutoff}]",
        info=info,
        with_valid=valid_cutoff is not None,
    )


# ----------------------------------------------------------------------------- ratio split
def ratio_counts(sizes: Sequence[int] | np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """Part sizes for groups of ``sizes`` events, by RecBole's rule (``split_by_ratio``).

    The ratios are normalised by their sum. For a group of ``n`` events, every part after the
    first gets ``floor(ratio * n)`` events and the first (train) the rest. Then, from the last
    part backwards, a part whose ``ratio * n`` lies strictly between 0 and 1 takes one event
    from train, as long as train holds more than one event (once train is down to one, the
    remaining parts are left as they are). The arithmetic is float64, as RecBole's.

    Args:
        sizes: group sizes, ``(n_groups,)``.
        ratios: 2 or 3 non-negative ratios (train first).

    Returns:
        int64 ``(n_groups, len(ratios))``; rows sum to ``sizes``.
    """
    n = np.asarray(sizes, dtype=np.int64)
    total = sum(float(r) for r in ratios)
    norm = [float(r) / total for r in ratios]
    k = len(norm)
    exact = np.stack([r * n.astype(np.float64) for r in norm], axis=1)
    counts = np.floor(exact).astype(np.int64)
    counts[:, 0] = n - counts[:, 1:].sum(axis=1)
    for i in range(1, k):  # parts k-1, k-2, ..., 1 (test first, then valid)
        col = k - i
        # RecBole stops at the first part where train has <= 1 left; train only shrinks, so
        # checking the current train count each time is the same rule.
        bump = (counts[:, 0] > 1) & (exact[:, col] > 0) & (exact[:, col] < 1)
        counts[bump, col] += 1
        counts[bump, 0] -= 1
    return counts


def ratio_split(
    events: pl.DataFrame,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    order: Literal["random", "time"] = "random",
    seed: int = 2020,
    group_by_user: bool = True,
) -> Split:
    """RecBole-compatible ratio split (its ``RS`` / ``TO`` orderings with ``group_by: user``).

    Per user (or over all events with ``group_by_user=False``), events are shuffled
    (``order="random"``, one seeded permutation of all rows) or sorted by time (ties by input
    order); the first ``counts[0]`` go to train, the next to valid and the rest to test, with
    sizes from ``ratio_counts``. With two ratios there is no valid part.

    The split units are rows: events sharing (user, item, scenario, timestamp) can land in
    different parts (counted in ``info["test_keys_in_train"]``, with a warning); clean and
    deduplicate first. A random split also trains on events later than test events; use
    ``leave_last_out`` or ``temporal_cutoff`` for time-honest evaluation.

    Args:
        events: typed, cleaned events.
        ratios: ``(train, valid, test)`` or ``(train, test)``; normalised by their sum.
        order: ``"random"`` or ``"time"``.
        seed: seed of the shuffle (RecBole's default is 2020). The counts do not depend on it.
        group_by_user: split each user's events (RecBole's ``group_by: user``) or all events.
    """
    _check_events(events)
    if len(ratios) not in (2, 3) or any(not math.isfinite(r) or r < 0 for r in ratios):
        raise ConfigError(
            f"ratio_split: ratios must be 2 or 3 non-negative numbers, got {tuple(ratios)}"
        )
    if ratios[0] <= 0 or ratios[-1] <= 0:
        raise ConfigError(
            f"ratio_split: train and test ratios must be positive, got {tuple(ratios)}"
        )
    if order not in ("random", "time"):
        raise ConfigError(f"ratio_split: order must be 'random' or 'time', got {order!r}")
    n = events.height
    if order == "random":
        # A rank per row from one permutation; sorting by it shuffles within every user.
        rank = np.empty(n, dtype=np.int64)
        rank[np.random.default_rng(seed).permutation(n)] = np.arange(n)
        key = [pl.Series("_r", rank)]
    else:
        key = [events[C.TIMESTAMP], pl.Series("_r", np.arange(n, dtype=np.int64))]
    frame = pl.DataFrame(
        [events[C.USER_ID].alias("_u"), *(k.alias(f"_k{j}") for j, k in enumerate(key))]
    ).with_row_index(_ROW)
    sort_by = [f"_k{j}" for j in range(len(key))]
    if group_by_user:
        frame = frame.sort(["_u", *sort_by])
        users = frame["_u"].to_numpy()
        starts = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1] if n else np.zeros(0)
        starts = starts.astype(np.int64)
    else:
        frame = frame.sort(sort_by)
        starts = np.zeros(1 if n else 0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, n]).astype(np.int64)
    counts = ratio_counts(sizes, ratios)
    pos = np.arange(n, dtype=np.int64) - np.repeat(starts, sizes)  # position within group
    bounds = np.cumsum(counts, axis=1)
    code = (pos[:, None] >= np.repeat(bounds[:, :-1], sizes, axis=0)).sum(axis=1)
    if len(ratios) == 2:
        code = np.where(code == 1, _TEST, _TRAIN)
    part_sorted = code.astype(np.int64)
    part = np.empty(n, dtype=np.int64)
    part[frame[_ROW].to_numpy()] = part_sorted
    info = {
        "method": "ratio_split",
        "ratios": [float(r) for r in ratios],
        "order": order,
        "seed": seed,
        "group_by_user": group_by_user,
    }
    name = f"ratio_split[{':'.join(f'{r:g}' for r in ratios)},{order}]"
    return _finish(events, pl.Series(part), name=name, info=info, with_valid=len(ratios) == 3)


# ------------------------------------------------------------------------ cold in scenario
def cold_in_scenario(
    events: pl.DataFrame, *, scenario: str, fraction: float = 0.2, seed: int = 0
) -> Split:
    """Hold some users out of one scenario entirely; they stay known from the others.

    Eligible users are active in ``scenario`` and in at least one other scenario. A seeded
    ``round(fraction * n_eligible)`` of them (at least one when ``fraction > 0``) are held
    out: all their ``scenario`` events go to test and their other scenarios stay in train
    (at any time: this protocol measures transfer from other scenarios, not the future).
    Everything else is train. There is no valid part.

    Args:
        events: typed, cleaned events.
        scenario: the scenario the held-out users are cold in.
        fraction: share of eligible users held out, in ``[0, 1]``.
        seed: which users.
    """
    _check_events(events)
    _check_scenario(events, scenario)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"cold_in_scenario: fraction must be in [0, 1], got {fraction!r}")
    per_user = events.group_by(C.USER_ID).agg(
        (pl.col(C.SCENARIO) == scenario).any().alias("in_target"),
        (pl.col(C.SCENARIO) != scenario).any().alias("in_other"),
    )
    eligible = (
        per_user.filter(pl.col("in_target") & pl.col("in_other"))[C.USER_ID].sort().to_numpy()
    )
    n_hold = round(fraction * len(eligible))
    if fraction > 0 and len(eligible):
        n_hold = max(1, n_hold)
    held = np.random.default_rng(seed).permutation(eligible)[:n_hold]
    part = events.select(
        pl.when(pl.col(C.USER_ID).is_in(held.tolist()) & (pl.col(C.SCENARIO) == scenario))
        .then(_TEST)
        .otherwise(_TRAIN)
    ).to_series()
    info = {
        "method": "cold_in_scenario",
        "scenario": scenario,
        "fraction": fraction,
        "seed": seed,
        "n_eligible_users": len(eligible),
        "held_out_users": sorted(held.tolist()),
    }
    return _finish(events, part, name=f"cold_in_scenario[{scenario}]", info=info, with_valid=False)


# ------------------------------------------------------------------------------ predefined
def predefined(
    train: pl.DataFrame,
    test: pl.DataFrame,
    valid: pl.DataFrame | None = None,
    *,
    name: str = "predefined",
) -> Split:
    """Wrap the train / test (/ valid) frames a data release ships.

    The frames are checked like any split input and must have the same columns; leakage
    between train and test is counted and warned about, not repaired.
    """
    parts = {"train": train, "test": test} | ({} if valid is None else {"valid": valid})
    for arg, frame in parts.items():
        _check_events(frame, arg)
        if set(frame.columns) != set(train.columns):
            raise SchemaError(
                f"predefined: {arg} has columns {frame.columns} but train has {train.columns}",
                fix="give every part the same columns",
            )
    frames = [train.select(train.columns), test.select(train.columns)]
    codes = [np.full(train.height, _TRAIN), np.full(test.height, _TEST)]
    if valid is not None:
        frames.append(valid.select(train.columns))
        codes.append(np.full(valid.height, _VALID))
    events = pl.concat(frames, how="vertical_relaxed")
    info = {"method": "predefined"}
    return _finish(
        events,
        pl.Series(np.concatenate(codes).astype(np.int64)),
        name=name,
        info=info,
        with_valid=valid is not None,
    )
