"""EASE: a closed-form item-item model (Steck, "Embarrassingly Shallow Autoencoders for Sparse
Data", WWW 2019). The strongest simple baseline on dense implicit data such as MovieLens; use it
first when the item count allows a dense item x item matrix (memory grows with items squared).

The weights are exactly those of the paper and of RecBole's implementation: with ``X`` the binary
user x item training matrix, ``P = (X^T X + reg I)^-1`` (float64), ``B = I - P / diag(P)``
(column ``j`` divided by ``P_jj``) and ``diag(B) = 0``; a user's scores are ``x_u B``.

Cross-scenario choice (``scope``): by default one Gram matrix over **all** scenarios' items, so
that co-occurrence across scenarios carries over and a user cold in the target scenario is
scored from their other scenarios. ``scope="scenario"`` fits one smaller ``B`` per scenario on
that scenario's events only (memory: the largest scenario's items squared instead of all
items squared); users without history in the target then get the target's popularity.

Learns online without changing ``B``: a user's scores are ``x_u B`` over their current history, so
a new event changes the next recommendation at once. Items new since the fit are outside ``B``
(no co-occurrence yet) until a refit.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from scenerec.errors import ConfigError
from scenerec.models.base import ModelConfig
from scenerec.models.online import OnlineMixin
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray

log = logging.getLogger(__name__)


class EASEConfig(ModelConfig):
    """Attributes:
    reg: L2 strength added to the diagonal of the Gram matrix (RecBole tunes it in
        [1, 10, 100, 500, 1000, 2000]; 1000 is its best on MovieLens-1M).
    scope: one Gram matrix over all scenarios' items (``all``) or one per scenario.
    max_items: refuse to build a Gram matrix over more items than this, because its float64
        inverse needs about ``24 * items**2`` bytes (20,000 items: ~10 GB).
    """

    reg: float = Field(default=500.0, gt=0.0)
    scope: Literal["all", "scenario"] = "all"
    max_items: int = Field(default=20_000, gt=0)


class EASE(OnlineMixin[EASEConfig]):
    """Item-item weights ``B`` solving ``min ||X - XB||^2 + reg ||B||^2`` with ``diag(B) = 0``."""

    config_class = EASEConfig
    name = "ease"

    def _fit(self, data: TrainState) -> None:
        t0 = time.perf_counter()
        X = data.matrix(None, binary=True)
        self.blocks_: dict[int, tuple[IdxArray, FloatMatrix]] = {}
        if self.config.scope == "all":
            # -1 keys the single block that covers every item
            items = np.arange(data.n_items, dtype=np.int64)
            self.blocks_[-1] = (items, self._solve(X, items, "all scenarios"))
        else:
            for s, scen in enumerate(data.scenarios):
                items = data.items_of_scenario(s)
                Xs = data.matrix(s, binary=True)
                if Xs.nnz == 0:  # a scenario known from the catalog only: nothing to learn
                    continue
                self.blocks_[s] = (items, self._solve(Xs, items, f"scenario {scen!r}"))
        self.fit_info["fit_seconds"] = time.perf_counter() - t0

    def _solve(self, X: sp.csr_matrix, items: IdxArray, what: str) -> FloatMatrix:
        """``B`` for the columns ``items`` of ``X``: (len(items), len(items)) float32."""
        n = len(items)
        if n > self.config.max_items:
            fix = "use scope='scenario', filter" if self.config.scope == "all" else "filter"
            raise ConfigError(
                f"EASE over {what} needs a {n} x {n} Gram matrix (~{24 * n * n / 2**30:.1f} GiB); "
                f"max_items is {self.config.max_items}. Fix: {fix} rare items, or raise "
                "EASEConfig.max_items"
            )
        Xi = X[:, items].astype(np.float64)
        G = (Xi.T @ Xi).toarray()
        G[np.diag_indices(n)] += self.config.reg
        P = np.linalg.inv(G)
        B = P / (-np.diag(P))  # B_ij = -P_ij / P_jj, i.e. I - P / diag(P) off the diagonal
        B[np.diag_indices(n)] = 0.0
        log.debug("EASE: solved %d items for %s", n, what)
        out: FloatMatrix = B.astype(np.float32)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        out = np.zeros((len(users), len(items)), dtype=np.float32)
        blocks: list[tuple[int | None, IdxArray, FloatMatrix]]
        if self.config.scope == "all":
            blocks = [(None, *self.blocks_[-1])]
        elif users.scenario_idx is None:
            blocks = [(s, *b) for s, b in self.blocks_.items()]
        else:
            blocks = [(users.scenario_idx, *self.blocks_.get(users.scenario_idx, _EMPTY))]
        for s, block_items, B in blocks:
            if len(block_items) == 0:
                continue
            X = users.matrix(s, binary=True)
            # positions of the requested items inside this block (-1: not in it)
            pos = np.full(self.train_state.n_items, -1, np.int64)
            pos[block_items] = np.arange(len(block_items))
            cols = pos[items]
            inside = cols >= 0
            Xb = X[:, block_items]
            # Only rows of B for items the users touched matter: keeps the product small.
            used = np.unique(Xb.indices)
            if len(used) == 0 or not inside.any():
                continue
            sub = B[np.ix_(used, cols[inside])]
            out[:, inside] += np.asarray(Xb[:, used] @ sub, dtype=np.float32)
        # a user with no history the blocks can read (cold in the target) has no signal
        out[~out.any(axis=1)] = np.nan
        return out

    def _partial_fit(self, events: pl.DataFrame) -> None:
        """Nothing to update: the user's history (in the training state) is EASE's user state."""
        return None

    def _arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s, (items, B) in self.blocks_.items():
            out[f"items.{s}"] = items
            out[f"B.{s}"] = B
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        keys = sorted(int(k.split(".", 1)[1]) for k in arrays if k.startswith("items."))
        self.blocks_ = {s: (arrays[f"items.{s}"], arrays[f"B.{s}"]) for s in keys}


_EMPTY: tuple[IdxArray, FloatMatrix] = (
    np.zeros(0, np.int64),
    np.zeros((0, 0), np.float32),
)
