"""RecBole-compatible per-user ratio splits: ``ratio_counts`` and ``ratio_split``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from scenerec.data.split.core import ROW_COL, TEST, TRAIN, Split, check_events, finish
from scenerec.errors import ConfigError
from scenerec.schema import C


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
    check_events(events)
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
    ).with_row_index(ROW_COL)
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
        code = np.where(code == 1, TEST, TRAIN)
    part_sorted = code.astype(np.int64)
    part = np.empty(n, dtype=np.int64)
    part[frame[ROW_COL].to_numpy()] = part_sorted
    info = {
        "method": "ratio_split",
        "ratios": [float(r) for r in ratios],
        "order": order,
        "seed": seed,
        "group_by_user": group_by_user,
    }
    name = f"ratio_split[{':'.join(f'{r:g}' for r in ratios)},{order}]"
    return finish(events, pl.Series(part), name=name, info=info, with_valid=len(ratios) == 3)
