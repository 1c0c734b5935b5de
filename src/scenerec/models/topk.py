"""Row-wise top-k: the ranking kernel of every model (``BaseRecommender._rank``)."""

from __future__ import annotations

import numpy as np

from scenerec.schema import FloatMatrix, IdxArray


def topk(scores: FloatMatrix, k: int) -> tuple[IdxArray, FloatMatrix]:
    """Row-wise top-k, best first; equal scores are ordered by lower column index, also at
    the k-th place (so the result does not depend on the partition algorithm). Entries that
    are -inf become -1 with score -inf.
    """
    n, m = scores.shape
    kk = min(k, m)
    out_i = np.full((n, k), -1, np.int64)
    out_s = np.full((n, k), -np.inf, np.float32)
    if kk == 0 or n == 0:
        return out_i, out_s
    # the k-th best score of each row, then everything strictly better plus the first ties
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]
    better = scores > kth
    tied = scores == kth
    need = kk - better.sum(axis=1, keepdims=True)
    chosen = better | (tied & (np.cumsum(tied, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(n, kk)  # row-major: ascending column per row
    vals = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top = np.take_along_axis(cols, order, axis=1)
    top_s = np.take_along_axis(vals, order, axis=1)
    valid = np.isfinite(top_s)
    out_i[:, :kk] = np.where(valid, top, -1)
    out_s[:, :kk] = np.where(valid, top_s, -np.inf)
    return out_i, out_s


__all__ = ["topk"]
