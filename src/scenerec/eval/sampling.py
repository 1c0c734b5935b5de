"""Negative sampling for sampled ranking: uniform, without replacement, vectorised.

Each held-out item is ranked against ``n`` negatives drawn uniformly without replacement from
the target scenario's items that the user may not see (excluded or held out). Negatives depend
on the seed and the data only, never on the model, so two models evaluated with one seed see the
same negatives. Draws are made for many rows at once; see ``sample_negatives`` for the method.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scenerec.schema import IdxArray

# Draw at most this many random numbers per sampling chunk (bounds memory on big catalogs).
_MAX_CELLS = 4_000_000


def sample_negatives(
    forbid: sp.csr_matrix, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Uniform samples without replacement of each row's allowed columns.

    Args:
        forbid: (rows, n_cols) CSR; stored entries are the columns a row may not draw.
        n: samples per row.
        rng: random generator.

    Returns:
        (rows, n) int64 column indices, in no particular order; a row with fewer than ``n``
        allowed columns gets all of them and ``-1`` in the remaining slots.

    Rows use rejection sampling (draw columns with replacement, drop forbidden and repeated
    ones, keep the first ``n``: the first ``n`` distinct allowed draws are a uniform
    ``n``-subset). That needs about ``n_cols * ln(pool / (pool - n))`` draws per row, whatever
    the catalog size when ``n`` is small against it. Rows whose pool is so small that this
    exceeds ``n_cols`` draws (pool < ~1.6 n) rank uniform random keys over all columns instead:
    the ``n`` smallest keys among the allowed columns are a uniform ``n``-subset too.
    """
    forbid = forbid.tocsr()
    forbid.sum_duplicates()
    n_rows, n_cols = forbid.shape
    out = np.full((n_rows, n), -1, np.int64)
    if n_rows == 0 or n_cols == 0:
        return out
    pool = n_cols - np.diff(forbid.indptr)
    # Expected draws to see n distinct allowed columns: n_cols * (H(pool) - H(pool - n)).
    big = pool > n
    expected = np.full(n_rows, np.inf)
    expected[big] = n_cols * np.log((pool[big] + 0.5) / (pool[big] - n + 0.5))
    rejection = expected <= n_cols
    dense_rows = np.flatnonzero(~rejection)
    step = max(1, _MAX_CELLS // n_cols)
    for start in range(0, len(dense_rows), step):
        rows = dense_rows[start : start + step]
        keys = rng.random((len(rows), n_cols))
        sub = forbid[rows].tocoo()
        keys[sub.row, sub.col] = np.inf
        if n < n_cols:
            pick = np.argpartition(keys, n - 1, axis=1)[:, :n]
        else:
            pick = np.broadcast_to(np.arange(n_cols), (len(rows), n_cols))
        ok = np.isfinite(np.take_along_axis(keys, pick, axis=1))
        out[rows, : pick.shape[1]] = np.where(ok, pick, -1)
    pending = np.flatnonzero(rejection)
    if len(pending) == 0:
        return out
    # Draw the expected need with a margin; the rare rows that fall short are drawn again
    # with twice as many draws (the first n distinct allowed draws stay a uniform subset
    # under that condition, which does not favour any column).
    need = float(expected[pending].max())
    m = math.ceil(1.2 * need + 4.0 * math.sqrt(need)) + 32
    while len(pending):
        step = max(1, _MAX_CELLS // m)
        short: list[IdxArray] = []
        for start in range(0, len(pending), step):
            rows = pending[start : start + step]
            done, picked = _reject_draws(forbid[rows], n, m, rng)
            out[rows[done]] = picked
            short.append(rows[~done])
        pending = np.concatenate(short)
        m *= 2
    return out


def _reject_draws(
    forbid: sp.csr_matrix, n: int, m: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """One round of rejection sampling: ``m`` draws per row.

    Returns:
        ``(done (rows,) bool, picked (done.sum(), n) int64)``: the rows that reached ``n``
        distinct allowed columns, and those columns in draw order.
    """
    n_rows, n_cols = forbid.shape
    # The smallest integer type that holds a column: numpy sorts 16-bit keys with a radix sort,
    # several times faster than the comparison sort used for wider types.
    dtype = np.int16 if n_cols <= 2**15 else np.int32 if n_cols <= 2**31 else np.int64
    draws = rng.integers(0, n_cols, size=(n_rows, m), dtype=dtype)
    # Sort each row's draws, stably so that of equal draws the first in draw order comes
    # first: repeats are then neighbours, and the row-major keys of the sorted draws are
    # globally sorted (a cache-friendly search when the forbidden table is sparse).
    order = np.argsort(draws, axis=1, kind="stable")
    sorted_draws = np.take_along_axis(draws, order, axis=1)
    ok_sorted = np.ones(sorted_draws.shape, bool)
    ok_sorted[:, 1:] = sorted_draws[:, 1:] != sorted_draws[:, :-1]
    if forbid.nnz:
        row_base = np.arange(n_rows, dtype=np.int64) * n_cols
        f_keys = np.repeat(row_base, np.diff(forbid.indptr)) + forbid.indices  # sorted
        keys = row_base[:, None] + sorted_draws
        if n_cols <= 4 * m:
            # A dense forbidden table is hardly bigger than the draws: one gather.
            table = np.zeros(n_rows * n_cols, bool)
            table[f_keys] = True
            ok_sorted &= ~table[keys]
        else:
            at = np.minimum(np.searchsorted(f_keys, keys), len(f_keys) - 1)
            ok_sorted &= f_keys[at] != keys
    ok = np.empty_like(ok_sorted)
    np.put_along_axis(ok, order, ok_sorted, axis=1)
    count = np.cumsum(ok, axis=1, dtype=np.int32)
    done = count[:, -1] >= n
    take = ok[done] & (count[done] <= n)
    return done, draws[done][take].reshape(-1, n).astype(np.int64)
