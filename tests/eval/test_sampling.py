"""Negative sampling: distinct, allowed and uniform negatives on every code path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from scenerec.eval.sampling import sample_negatives


def _forbid(rows: list[list[int]], n_cols: int) -> sp.csr_matrix:
    r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
    c = np.array([i for x in rows for i in x], np.int64)
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_cols))


@pytest.mark.parametrize(
    ("n_cols", "n"),
    [(400, 20), (30, 20)],  # large pool: rejection sampling; small pool: random keys
)
def test_negatives_are_distinct_allowed_and_uniform(n_cols: int, n: int) -> None:
    rng = np.random.default_rng(1)
    forbidden = [0, 1, 2, 3]
    n_rows = 3000
    neg = sample_negatives(_forbid([forbidden] * n_rows, n_cols), n, rng)
    assert neg.shape == (n_rows, n)
    assert (neg >= 0).all()
    assert not np.isin(neg, forbidden).any()
    assert all(len(set(row)) == n for row in neg.tolist())
    # every allowed column is drawn with probability n / pool
    counts = np.bincount(neg.ravel(), minlength=n_cols)[len(forbidden) :]
    expected = n_rows * n / (n_cols - len(forbidden))
    assert stats.chisquare(counts, np.full(len(counts), expected)).pvalue > 1e-4


def test_negatives_take_the_whole_pool_when_it_is_small() -> None:
    rng = np.random.default_rng(0)
    neg = sample_negatives(_forbid([[0, 2], [], [0, 1, 2, 3, 4]], 5), 4, rng)
    assert sorted(neg[0][neg[0] >= 0].tolist()) == [1, 3, 4]
    assert (neg[0] == -1).sum() == 1
    assert sorted(neg[1].tolist()) == [0, 1, 2, 3]
    assert (neg[2] == -1).all()


def test_negatives_with_varied_pools_in_one_call() -> None:
    # rows with very different forbidden sets take different paths in the same call
    rng = np.random.default_rng(3)
    n_cols, n = 200, 10
    rows = [list(range(0, 195)), [], list(range(0, 100, 2)), list(range(50))]
    neg = sample_negatives(_forbid(rows, n_cols), n, rng)
    for row, f in zip(neg.tolist(), rows, strict=True):
        got = [i for i in row if i >= 0]
        assert len(got) == min(n, n_cols - len(f))
        assert len(set(got)) == len(got)
        assert not set(got) & set(f)
