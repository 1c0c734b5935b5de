"""CMF: collective matrix factorisation across scenarios (Singh and Gordon, "Relational Learning
via Collective Matrix Factorization", KDD 2008), the shared-user-factor baseline of the
cross-domain tables. Use it when users overlap between scenarios and one scenario is sparse.

Every scenario ``s`` has its own user x item matrix; a user has **one** factor vector shared by
all scenarios and every item has its own. The loss is a sum of per-scenario implicit-feedback
losses (Hu et al., 2008), each scaled by its scenario weight ``lambda_s``::

    sum_s lambda_s sum_{u, i in items(s)} c_ui^s (p_ui^s - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)

with ``p = 1`` where the user acted on the item in ``s`` (else 0) and confidence
``c = 1 + alpha * w`` (``w`` the summed behaviour weights there). It is minimised by weighted
alternating least squares with exact solves. A user cold in the target scenario is scored with
the factors learnt from their other scenarios; an ad-hoc history gets factors from one exact
solve against the item factors.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from threadpoolctl import threadpool_limits

from scenerec.errors import ConfigError
from scenerec.models.base import BaseRecommender, ModelConfig
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray

# Float64 entries per padded block in the batched exact normal-equation build (~32 MiB).
_BLOCK_ENTRIES = 2**22
# Observations per block of the conjugate-gradient solver (their gathered float32 factors:
# 2**18 x 64 factors ~ 64 MiB).
_CG_BLOCK_OBS = 2**18


class CMFConfig(ModelConfig):
    """Attributes:
    factors: latent dimensions (user factors are shared by every scenario).
    regularization: L2 penalty on user and item factors (must be > 0: it keeps every solve
        well posed, also for items without events).
    alpha: confidence per unit of behaviour weight (``c = 1 + alpha * w``).
    iterations: ALS sweeps (each solves all users, then all items).
    use_cg: solve each side approximately with ``cg_steps`` conjugate-gradient steps warm-started
        from the previous factors (as ``implicit`` does; cost per sweep ~ events x factors)
        instead of exactly (cost ~ events x factors^2). Ad-hoc histories are always solved exactly.
    cg_steps: conjugate-gradient steps per side and sweep.
    scenario_weights: scenario name -> loss weight ``lambda_s`` (unlisted scenarios weigh 1).
        Raise the target's weight to favour it, lower a noisy auxiliary scenario's.
    """

    factors: int = Field(default=64, gt=0)
    regularization: float = Field(default=0.1, gt=0.0)
    alpha: float = Field(default=1.0, ge=0.0)
    iterations: int = Field(default=15, gt=0)
    use_cg: bool = True
    cg_steps: int = Field(default=3, gt=0)
    scenario_weights: dict[str, float] = Field(default_factory=dict)


class CMF(BaseRecommender[CMFConfig]):
    """Shared user factors, per-item factors, per-scenario weighted implicit ALS losses."""

    config_class = CMFConfig
    name = "cmf"

    def _fit(self, data: TrainState) -> None:
        t0 = time.perf_counter()
        cfg = self.config
        self.lambda_ = self._scenario_lambdas(data.scenarios)
        # base weight of item i: sum of lambda_s over the scenarios that contain it
        beta = np.zeros(data.n_items, np.float64)
        for s in range(data.n_scenarios):
            beta[data.items_of_scenario(s)] += self.lambda_[s]
        self.beta_ = beta
        h = data.histories
        users = h.owners()
        ui = _observations(
            users, h.item_idx, h.scenario_idx, h.weight, self.lambda_, cfg.alpha, data.n_items
        )
        by_user = _csr(ui, data.n_users, by="row")
        by_item = _csr(ui, data.n_items, by="col")
        rng = np.random.default_rng(self.seed)
        X = rng.normal(0.0, 0.01, (data.n_users, cfg.factors))
        Y = rng.normal(0.0, 0.01, (data.n_items, cfg.factors))
        ones = np.ones(data.n_users)
        reg = cfg.regularization
        with threadpool_limits(self.options.resolved_threads(), "blas"):
            for _ in range(cfg.iterations):
                G_items = (Y * beta[:, None]).T @ Y
                if cfg.use_cg:
                    X = _solve_cg(*by_user, Y, G_items, ones, reg, X, cfg.cg_steps)
                    Y = _solve_cg(*by_item, X, X.T @ X, beta, reg, Y, cfg.cg_steps)
                else:
                    X = _solve(*by_user, Y, G_items, ones, reg)
                    Y = _solve(*by_item, X, X.T @ X, beta, reg)
        self.user_factors_ = X.astype(np.float32)
        self.item_factors_ = Y.astype(np.float32)
        self.fit_info["fit_seconds"] = time.perf_counter() - t0

    def _scenario_lambdas(self, scenarios: list[str]) -> np.ndarray:
        weights = self.config.scenario_weights
        unknown = sorted(set(weights) - set(scenarios))
        if unknown:
            raise ConfigError(
                f"CMFConfig.scenario_weights names unknown scenario(s) {unknown}; "
                f"the data has {scenarios}"
            )
        bad = {k: v for k, v in weights.items() if not v >= 0.0}
        if bad:
            raise ConfigError(f"CMFConfig.scenario_weights must be >= 0 (got {bad})")
        return np.array([weights.get(s, 1.0) for s in scenarios], dtype=np.float64)

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        X = self.user_factors_[np.maximum(users.user_idx, 0)].astype(np.float64)
        adhoc = sorted(users.adhoc)
        if adhoc:
            X[adhoc] = self._solve_adhoc(users, adhoc)
        return (X @ self.item_factors_[items].astype(np.float64).T).astype(np.float32)

    def _solve_adhoc(self, users: UserBatch, rows: list[int]) -> np.ndarray:
        """Exact user factors for ad-hoc histories given the item factors: (len(rows), factors)."""
        parts = [users.history(i) for i in rows]
        local = np.repeat(
            np.arange(len(rows), dtype=np.int64), [sl.stop - sl.start for _, sl in parts]
        )
        items = np.concatenate([h.item_idx[sl] for h, sl in parts])
        scen = np.concatenate([h.scenario_idx[sl] for h, sl in parts])
        weight = np.concatenate([h.weight[sl] for h, sl in parts])
        n_items = len(self.item_factors_)
        ui = _observations(local, items, scen, weight, self.lambda_, self.config.alpha, n_items)
        Y, G = self._item_side
        return _solve(
            *_csr(ui, len(rows), by="row"), Y, G, np.ones(len(rows)), self.config.regularization
        )

    @property
    def _item_side(self) -> tuple[np.ndarray, np.ndarray]:
        """Float64 item factors and their beta-weighted Gram matrix, built once per fit/load
        (an ad-hoc query would otherwise pay items x factors^2 for the Gram matrix)."""
        # keyed on the factor array itself (held by the cache), so a refit or load rebuilds it
        cached = self.__dict__.get("_item_side_cache")
        if cached is None or cached[0] is not self.item_factors_:
            Y = self.item_factors_.astype(np.float64)
            cached = (self.item_factors_, Y, (Y * self.beta_[:, None]).T @ Y)
            self.__dict__["_item_side_cache"] = cached
        return cached[1], cached[2]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "lambda": self.lambda_,
            "beta": self.beta_,
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.lambda_ = arrays["lambda"]
        self.beta_ = arrays["beta"]


_Obs = tuple[IdxArray, IdxArray, np.ndarray, np.ndarray]
_Csr = tuple[IdxArray, IdxArray, np.ndarray, np.ndarray]


def _observations(
    users: IdxArray,
    items: IdxArray,
    scenarios: IdxArray,
    weights: np.ndarray,
    lam: np.ndarray,
    alpha: float,
    n_items: int,
) -> _Obs:
    """Observed (user, item) pairs with their extra weight and target of the normal equations.

    Args:
        users, items, scenarios, weights: one entry per event (scenario -1: unknown).
        lam: (n_scenarios,) loss weight per scenario.
        alpha: confidence per unit of behaviour weight.
        n_items: number of items (to build pair keys).

    Returns:
        ``(rows, cols, d, t)``: unique pairs sorted by row then column; ``d`` (float64) is the
        weight above the base ``beta_i`` (``alpha * sum_s lambda_s w_s``) and ``t`` the target
        (``sum_s lambda_s c_s`` over the scenarios where the pair was observed).
    """
    # Events whose scenario is unknown (-1, ad-hoc histories) weigh 1: append it as a last slot.
    lam_ext = np.append(lam, 1.0)
    s = np.where(scenarios >= 0, scenarios, len(lam))
    ls = lam_ext[s]
    key = users * n_items + items
    uniq, inv = np.unique(key, return_inverse=True)
    d = np.bincount(inv, weights=alpha * ls * weights.astype(np.float64), minlength=len(uniq))
    # p_ui^s = 1 once per (user, item, scenario), whatever the number of events
    _, first = np.unique(key * (len(lam) + 1) + s, return_index=True)
    t = d + np.bincount(inv[first], weights=ls[first], minlength=len(uniq))
    return uniq // n_items, uniq % n_items, d, t


def _csr(obs: _Obs, n: int, *, by: str) -> _Csr:
    """(indptr, indices, d, t) of the pairs grouped by row (users) or by column (items)."""
    rows, cols, d, t = obs
    if by == "col":
        order = np.lexsort((rows, cols))
        rows, cols, d, t = cols[order], rows[order], d[order], t[order]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols, d, t


def _solve(
    indptr: IdxArray,
    indices: IdxArray,
    d: np.ndarray,
    t: np.ndarray,
    F: np.ndarray,
    G: np.ndarray,
    scale: np.ndarray,
    reg: float,
) -> np.ndarray:
    """Solve every row's normal equations ``(scale_r G + F_o^T D_r F_o + reg I) x_r = F_o^T t_r``.

    Rows are batched by similar length and padded, so the sums over observations are batched
    matrix products instead of a Python loop per row.

    Args:
        indptr, indices, d, t: the rows' observations (CSR layout): column, extra weight, target.
        F: (m, f) float64 factors of the other side.
        G: (f, f) base Gram matrix (weighted ``F^T F`` over every column).
        scale: (n,) multiplier of ``G`` per row.
        reg: L2 strength.

    Returns:
        (n, f) float64 factors.
    """
    n, f = len(indptr) - 1, F.shape[1]
    out = np.zeros((n, f), np.float64)
    lengths = np.diff(indptr)
    order = np.argsort(lengths, kind="stable")
    eye = reg * np.eye(f)
    pos = 0
    while pos < n:
        longest = int(lengths[order[min(n, pos + 1024) - 1]])
        r = max(1, min(1024, _BLOCK_ENTRIES // max(1, longest * f)))
        rows = order[pos : pos + r]
        width = int(lengths[rows].max()) if len(rows) else 0
        A = scale[rows, None, None] * G + eye
        if width:
            ar = np.arange(width)
            mask = ar[None, :] < lengths[rows, None]
            flat = np.where(mask, indptr[rows, None] + ar[None, :], 0)
            E = F[indices[flat]]  # (r, width, f)
            dw = np.where(mask, d[flat], 0.0)
            tw = np.where(mask, t[flat], 0.0)
            # contiguous operands let numpy hand each product to BLAS (a strided view does not)
            A += np.matmul(np.ascontiguousarray((E * dw[..., None]).transpose(0, 2, 1)), E)
            b = np.einsum("rl,rlf->rf", tw, E)
            out[rows] = np.linalg.solve(A, b[..., None])[..., 0]
        pos += len(rows)
    return out


def _solve_cg(
    indptr: IdxArray,
    indices: IdxArray,
    d: np.ndarray,
    t: np.ndarray,
    F: np.ndarray,
    G: np.ndarray,
    scale: np.ndarray,
    reg: float,
    X0: np.ndarray,
    steps: int,
) -> np.ndarray:
    """The normal equations of ``_solve``, approximately: ``steps`` conjugate-gradient steps
    started from ``X0``, for a block of rows at a time (rows are independent). Only products with
    the observations are needed, so the cost is ~ observations x factors instead of
    observations x factors^2, and each block gathers its observed factors once.

    Args:
        indptr, indices, d, t, F, G, scale, reg: as in ``_solve``.
        X0: (n, f) current factors (the warm start).
        steps: conjugate-gradient steps.

    Returns:
        (n, f) float64 factors.
    """
    n, f = len(indptr) - 1, F.shape[1]
    out = np.empty((n, f), np.float64)
    F32 = np.ascontiguousarray(F, dtype=np.float32)
    G32 = G.astype(np.float32)
    lengths = np.diff(indptr)
    start = 0
    while start < n:
        # rows [start, stop) holding about _CG_BLOCK_OBS observations
        stop = int(np.searchsorted(indptr, indptr[start] + _CG_BLOCK_OBS, side="right")) - 1
        stop = min(n, max(stop, start + 1))
        lo, hi = int(indptr[start]), int(indptr[stop])
        lens = lengths[start:stop]
        cols = indices[lo:hi]
        Fe = F32[cols]  # (nnz_b, f), gathered once for every CG step
        de = d[lo:hi].astype(np.float32)
        sc = scale[start:stop, None].astype(np.float32)
        local = np.zeros(stop - start + 1, np.int64)
        np.cumsum(lens, out=local[1:])
        # one sparse structure per block; each product only rewrites its values
        S = sp.csr_matrix((t[lo:hi].astype(np.float32), cols, local), shape=(stop - start, len(F)))
        b = S @ F32

        def matvec(
            P: np.ndarray,
            Fe: np.ndarray = Fe,
            de: np.ndarray = de,
            sc: np.ndarray = sc,
            lens: IdxArray = lens,
            S: sp.csr_matrix = S,
        ) -> np.ndarray:
            # sum over a row's observations e of d_e (F_e . P_row) F_e, as a sparse product
            S.data = np.einsum("ef,ef->e", np.repeat(P, lens, axis=0), Fe) * de
            res: np.ndarray = sc * (P @ G32) + np.float32(reg) * P
            res += S @ F32
            return res

        x = X0[start:stop].astype(np.float32)
        r = b - matvec(x)
        p = r.copy()
        rs = np.einsum("nf,nf->n", r, r)
        for _ in range(steps):
            live = rs > 1e-20
            if not live.any():
                break
            Ap = matvec(p)
            denom = np.einsum("nf,nf->n", p, Ap)
            alpha = np.where(live & (denom > 0), rs / np.where(denom > 0, denom, 1), 0)
            x += alpha[:, None] * p
            r -= alpha[:, None] * Ap
            rs_new = np.einsum("nf,nf->n", r, r)
            p = r + np.where(live, rs_new / np.where(live, rs, 1), 0)[:, None] * p
            rs = rs_new
        out[start:stop] = x
        start = stop
    return out
