"""ItemKNN: item-based nearest neighbours with shrunk cosine similarity (Sarwar et al., WWW 2001;
the variant of RecBole's ``ItemKNN`` with its ``k`` and ``shrink``). Sparse and fast; a sound
first baseline on any data, and usable where EASE's dense item x item matrix does not fit.

The similarity of items ``i`` and ``j`` is ``x_i . x_j / (|x_i| |x_j| + shrink + 1e-6)`` over the
columns of the user x item training matrix (binary by default, as in RecBole), with
``sim(j, j) = 0``. For each target item ``j`` only its ``k`` most similar items are kept; a user's
score for ``j`` is the sum of the kept similarities to the items in the user's history. The
similarity spans all scenarios' items, so co-occurrence across scenarios lets a user cold in the
target scenario be scored from their other scenarios.
"""

from __future__ import annotations

import time
import numpy as np
import scipy.sparse as sp
from pydantic import Field

from scenerec.data.dataset import Dataset
from scenerec.models.base import BaseRecommender, ModelConfig, UserBatch
from scenerec.schema import FloatMatrix, IdxArray

# Dense similarity block budget (float32 entries) while building the neighbour lists.
_BLOCK_ENTRIES = 2**24


class ItemKNNConfig(ModelConfig):
    """Attributes:
    k: neighbours kept per target item (RecBole's ``k``; its default is 100).
    shrink: added to the cosine denominator; damps similarities built on few users.
    binary: count each (user, item) pair once (RecBole); ``False`` uses summed behaviour weights.
    """

    k: int = Field(default=100, gt=0)
    shrink: float = Field(default=0.0, ge=0.0)
    binary: bool = True


class ItemKNN(BaseRecommender[ItemKNNConfig]):
    """Scores ``x_u W`` with ``W`` the top-``k`` (per column) shrunk cosine item similarities."""

    config_class = ItemKNNConfig
    name = "itemknn"

    def _fit(self, data: Dataset) -> None:
        t0 = time.perf_counter()
        X = data.matrix(None, binary=self.config.binary).astype(np.float32)
        self.W_ = _topk_cosine(X.tocsc(), self.config.k, self.config.shrink)
        self.fit_info["fit_seconds"] = time.perf_counter() - t0

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        X = users.matrix(None, binary=self.config.binary)
        scores = np.asarray((X @ self.W_[:, items]).toarray(), dtype=np.float32)
        empty = ~scores.any(axis=1)
        if empty.any():
            # no neighbour of any target item in the history: rank like the fallback would
            pop = self.train_state.popularity
            s = users.scenario_idx
            scores[empty] = pop.get(-1 if s is None else s, pop[-1])[items]
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        W = self.W_
        return {
            "W.data": W.data,
            "W.indices": W.indices.astype(np.int64),
            "W.indptr": W.indptr.astype(np.int64),
            "W.shape": np.array(W.shape, np.int64),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        shape = tuple(int(v) for v in arrays["W.shape"])
        self.W_ = sp.csc_matrix(
            (arrays["W.data"], arrays["W.indices"], arrays["W.indptr"]), shape=shape
        )


def _topk_cosine(X: sp.csc_matrix, k: int, shrink: float) -> sp.csc_matrix:
    """Top-``k`` shrunk cosine neighbours of every item.

    Args:
        X: (n_users, n_items) float32 CSC interactions.
        k: neighbours kept per column.
        shrink: cosine shrinkage.

    Returns:
        (n_items, n_items) float32 CSC ``W``; column ``j`` holds the kept similarities
        ``W[i, j] = sim(i, j)`` of target item ``j`` (zeros are not stored).
    """
    n = X.shape[1]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel())
    kk = min(k, n)
    Xt = X.T.tocsr()
    block = max(1, min(n, _BLOCK_ENTRIES // max(1, n)))
    rows: list[IdxArray] = []
    cols: list[IdxArray] = []
    vals: list[np.ndarray] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        # (n, b) co-occurrence of every item with the block's target items
        co = np.asarray((Xt @ X[:, start:stop]).toarray(), dtype=np.float64)
        co[np.arange(start, stop), np.arange(stop - start)] = 0.0
        denom = norms[:, None] * norms[None, start:stop] + shrink + 1e-6
        sim = (co / denom).astype(np.float32)
        if kk < n:
            top = np.argpartition(-sim, kk - 1, axis=0)[:kk]
        else:
            top = np.broadcast_to(np.arange(n)[:, None], sim.shape)
        v = np.take_along_axis(sim, top, axis=0)
        keep = v != 0.0
        rows.append(top[keep].astype(np.int64))
        cols.append(np.broadcast_to(np.arange(start, stop)[None, :], v.shape)[keep].astype(np.int64))
        vals.append(v[keep])
    W = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    W.sort_indices()
    return W

