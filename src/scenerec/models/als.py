"""ALS: implicit-feedback matrix factorisation by alternating least squares (Hu, Koren and
Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008), trained with the
``implicit`` library (CPU). Fast and strong on most data; the usual factor-model baseline.

All scenarios' events form one user x item matrix; the confidence of a (user, item) pair is
``alpha * w`` with ``w`` the summed behaviour weights of its events (a purchase says more than a
view). Known users are scored with their trained factors; an ad-hoc history gets factors from
one exact least-squares solve against the item factors (``implicit``'s ``recalculate_user``).
Since one user vector serves every scenario, a user cold in the target scenario is scored from
their other scenarios. Learns online: a user with new events is folded in again (the same exact
solve against the fixed item factors, O(user's events x factors^2 + factors^3)); a refit can
start from the current factors (``warm_start_from``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import polars as pl
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import Field
from threadpoolctl import threadpool_limits

from scenerec.data.histories import Histories
from scenerec.models.base import ModelConfig
from scenerec.models.online import OnlineMixin
from scenerec.models.recent import reserve
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import C, FloatMatrix, IdxArray


class ALSConfig(ModelConfig):
    """Attributes:
    factors: latent dimensions.
    regularization: L2 penalty on the factors.
    alpha: confidence per unit of behaviour weight (confidence = alpha * weight).
    iterations: ALS sweeps (each solves all users, then all items).
    use_cg: conjugate-gradient solver (fast, approximate) instead of exact Cholesky solves.

    The defaults are generic. Measured on MovieLens-1M (RecBole's split): these defaults give
    test NDCG@10 0.255; ``factors=128, regularization=50`` was best on validation and gives
    0.2837 (the regularisation is not scaled by data size, so retune it for other data).
    """

    factors: int = Field(default=64, gt=0)
    regularization: float = Field(default=0.05, ge=0.0)
    alpha: float = Field(default=1.0, gt=0.0)
    iterations: int = Field(default=15, gt=0)
    use_cg: bool = True


class ALS(OnlineMixin[ALSConfig]):
    """Weighted matrix factorisation ``score(u, i) = x_u . y_i`` with implicit's ALS solver."""

    config_class = ALSConfig
    name = "als"

    def _fit(self, data: TrainState) -> None:
        t0 = time.perf_counter()
        C = data.matrix(None).astype(np.float32)
        with _one_blas_thread():
            als = self._solver()
            if self.warm_weights:  # start from the previous factors; new rows as implicit would
                rng = np.random.default_rng(self.seed)
                for name, n in (("user_factors", data.n_users), ("item_factors", data.n_items)):
                    fresh = rng.random((n, self.config.factors), dtype=np.float32) * 0.01
                    old = self.warm_weights[name][:n]
                    fresh[: len(old)] = old
                    setattr(als, name, fresh)
            als.fit(C, show_progress=False)
        self._als = als
        self.fit_info["fit_seconds"] = time.perf_counter() - t0

    def _solver(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            use_cg=c.use_cg,
            num_threads=self.options.resolved_threads(),
            random_state=self.seed,
        )

    def _user_factors(self, users: UserBatch) -> FloatMatrix:
        """(len(users), factors) float32: trained factors, or a fresh solve for ad-hoc rows."""
        U = np.asarray(self._als.user_factors, dtype=np.float32)
        out = U[np.maximum(users.user_idx, 0)].copy()
        adhoc = np.array(sorted(users.adhoc), dtype=np.int64)
        if len(adhoc):
            rows = users.matrix(None)[adhoc]
            out[adhoc] = self._fold_in(adhoc, sp.csr_matrix(rows, dtype=np.float32))
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        V = np.asarray(self._als.item_factors, dtype=np.float32)
        U = self._user_factors(users)
        if len(users) < 64 and len(items) > len(V) // 4:
            # few users over most items (serving): score every item and pick, instead of
            # copying most of V (100k items x 64 factors: 25 MB per call, ~15 ms)
            out: FloatMatrix = (V @ U.T).T[:, items]
            return out
        return U @ V[items].T

    def _partial_fit(self, events: pl.DataFrame) -> None:
        """Fold the users of the new events in again against the fixed item factors (new items
        get zero factors: they score 0 until a refit)."""
        state, als = self.train_state, self._als
        als.user_factors = reserve(np.asarray(als.user_factors, np.float32), state.n_users)
        als.item_factors = reserve(np.asarray(als.item_factors, np.float32), state.n_items)
        users = np.unique(events[C.USER_IDX].to_numpy().astype(np.int64))
        rows = UserBatch(users, None, state).matrix(None).astype(np.float32)
        rows.resize((len(users), len(als.item_factors)))
        als.user_factors[users] = self._fold_in(users, sp.csr_matrix(rows))

    def fold_in(self, rows: sp.csr_matrix) -> FloatMatrix:
        """(n, factors) user vectors of interaction rows (n, n_items) against the fixed item
        factors: the exact least-squares solve a user with these events would get."""
        return self._fold_in(np.arange(rows.shape[0], dtype=np.int64), rows)

    @property
    def item_factors(self) -> FloatMatrix:
        """(n_items, factors) float32."""
        return np.asarray(self._als.item_factors, np.float32)

    def _on_rebase(self) -> None:
        """Fold every user in again against the fixed item factors (their histories changed)."""
        users = np.arange(self.train_state.n_users, dtype=np.int64)
        rows = self.train_state.matrix(None).astype(np.float32)
        self._als.user_factors = self._fold_in(users, sp.csr_matrix(rows))

    def _fold_in(self, users: IdxArray, rows: sp.csr_matrix) -> FloatMatrix:
        """(len(users), factors) exact least-squares factors of these interaction rows
        against the fixed item factors (implicit's ``recalculate_user``).

        A few small solves: one thread. Spreading them over implicit's thread pool costs ~10 ms
        per call on 2 busy cores (measured: 28 ms vs 1.2 ms per event); a BLAS thread limit
        is not needed either (building one costs ~5 ms, too much on the serving path).
        """
        als, threads = self._als, self._als.num_threads
        try:
            als.num_threads = 1
            solved = als.recalculate_user(users, rows)
        finally:
            als.num_threads = threads
        out: FloatMatrix = np.asarray(solved, np.float32).reshape(len(users), -1)
        return out

    def _forget_user(self, user_idx: int, events: Histories) -> None:
        if user_idx < len(self._als.user_factors):
            self._als.user_factors[user_idx] = 0.0

    def _warm_weights(self) -> dict[str, np.ndarray]:
        return self._arrays()

    def _arrays(self) -> dict[str, np.ndarray]:
        state = self.train_state  # the factor arrays may hold spare rows (online growth)
        return {
            "user_factors": np.asarray(self._als.user_factors[: state.n_users], np.float32),
            "item_factors": np.asarray(self._als.item_factors[: state.n_items], np.float32),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        with _one_blas_thread():
            als = self._solver()
        als.user_factors = arrays["user_factors"]
        als.item_factors = arrays["item_factors"]
        self._als = als


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """implicit runs its own thread pool; a multi-threaded BLAS underneath it oversubscribes the
    cores (implicit warns it can be 10x slower), so BLAS gets one thread while it works."""
    with threadpool_limits(1, "blas"):
        yield
