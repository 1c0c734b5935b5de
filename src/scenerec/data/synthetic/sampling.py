"""Vectorised draws shared by the generator's parts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def make_ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` + zero-padded 1-based numbers, e.g. ``u0001``."""
    width = max(4, len(str(n)))
    digits = pl.Series(np.arange(1, n + 1, dtype=np.int64)).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + digits).to_series()


def pick_k(rng: np.random.Generator, weights: FloatArray, k: IntArray) -> BoolArray:
    """Per row, a mask of ``k[row]`` distinct columns drawn without replacement by weight.

    Uses the Gumbel-top-k trick so that it is one vectorised draw for all rows.
    """
    n_rows, n_cols = len(k), len(weights)
    keys = np.log(weights)[None, :] + rng.gumbel(size=(n_rows, n_cols))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    mask: BoolArray = rank < k[:, None]
    return mask


def sample_rows(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One column index per row of a row-stochastic matrix (inverse CDF, vectorised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    out: IntArray = np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)
    return out.astype(np.int64)


def group_sampler(
    group_of: IntArray, weight: FloatArray, members: IntArray
) -> tuple[FloatArray, IntArray]:
    """Keys for drawing a member of group ``g`` by weight with one ``searchsorted``.

    Members of group ``g`` occupy keys in ``(g, g + 1]``: the group id plus the cumulative
    normalised weight. A draw for group ``g`` is ``searchsorted(keys, g + u, "right")``.
    """
    order = np.lexsort((members, group_of))
    g, w, m = group_of[order], weight[order], members[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    csum = np.cumsum(w)
    base = np.repeat(np.r_[0.0, csum[starts[1:] - 1]], np.diff(np.r_[starts, len(g)]))
    totals = np.repeat(np.add.reduceat(w, starts), np.diff(np.r_[starts, len(g)]))
    keys = g + (csum - base) / totals
    ends = np.r_[starts[1:], len(g)] - 1
    keys[ends] = g[ends] + 1.0  # exact upper end, so a draw never spills into the next group
    return keys, m
