"""EMCDR: embedding and mapping for cross-domain recommendation (Man, Shen, Jin and Cheng,
"Cross-Domain Recommendation: An Embedding and Mapping Approach", IJCAI 2017). The classic
baseline for users who are cold in the target scenario but active in another one.

Step 1 factorises each scenario on its own (implicit-feedback ALS through ``implicit``: user and
item factors per scenario). Step 2 learns, for every ordered pair of scenarios (source, target)
with enough overlapping users, a mapping (an MLP with one tanh hidden layer, as in the paper, or
a linear map) from a user's source factors to their target factors, trained with mean squared
error on the users active in both. At recommendation time a user with history in the target
scenario is scored with their own target factors; a user cold in the target gets the mean of the
mapped factors from every source scenario they are active in; a user with neither gets the
target scenario's popularity (the base class's fallback). Ad-hoc histories get per-scenario
factors from one exact solve.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import Field
from threadpoolctl import threadpool_limits

from scenerec.models.base import BaseRecommender, ModelConfig
from scenerec.models.nn import IndexBatches, TrainConfig, Trainer
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray


class EMCDRConfig(ModelConfig):
    """Attributes:
    factors: latent dimensions of every scenario's factorisation.
    regularization: L2 penalty of the per-scenario ALS.
    alpha: ALS confidence per unit of behaviour weight (confidence = alpha * weight).
    iterations: ALS sweeps per scenario.
    mapping: ``mlp`` (one tanh hidden layer, the paper's best) or ``linear``.
    hidden: hidden units of the MLP; ``None`` means ``2 * factors`` (the paper's choice).
    min_overlap: least number of users active in both scenarios to learn a mapping between them.
    train: how each mapping is trained by the shared loop (``batch_size`` counts users;
        ``weight_decay`` is an L2 penalty inside Adam, as in the paper's setup, not AdamW's
        decoupled decay; no validation: a mapping trains for ``epochs``).
    """

    factors: int = Field(default=32, gt=0)
    regularization: float = Field(default=0.05, ge=0.0)
    alpha: float = Field(default=1.0, gt=0.0)
    iterations: int = Field(default=15, gt=0)
    mapping: Literal["mlp", "linear"] = "mlp"
    hidden: int | None = Field(default=None, gt=0)
    min_overlap: int = Field(default=5, gt=0)
    train: TrainConfig = TrainConfig(
        epochs=100, batch_size=256, lr=0.005, weight_decay=1e-4, grad_clip=None
    )


class EMCDR(BaseRecommender[EMCDRConfig]):
    """Per-scenario factors plus learnt source -> target factor mappings for cold users."""

    config_class = EMCDRConfig
    name = "emcdr"

    def _fit(self, data: TrainState) -> None:
        t0 = time.perf_counter()
        self.items_: dict[int, IdxArray] = {}
        self.active_: dict[int, np.ndarray] = {}
        self._als: dict[int, AlternatingLeastSquares] = {}
        for s in range(data.n_scenarios):
            items = data.items_of_scenario(s)
            R = data.matrix(s)[:, items].tocsr().astype(np.float32)
            with threadpool_limits(1, "blas"):  # implicit runs its own pool (see models.als)
                als = self._solver()
                als.fit(R, show_progress=False)
            self.items_[s] = items
            self.active_[s] = np.diff(R.indptr) > 0
            self._als[s] = als
        self.maps_: dict[tuple[int, int], list[np.ndarray]] = {}
        for src in self.items_:
            for tgt in self.items_:
                both = self.active_[src] & self.active_[tgt]
                if src == tgt or int(both.sum()) < self.config.min_overlap:
                    continue
                U_src = np.asarray(self._als[src].user_factors, np.float32)[both]
                U_tgt = np.asarray(self._als[tgt].user_factors, np.float32)[both]
                self.maps_[(src, tgt)] = self._train_mapping(U_src, U_tgt, src * 1000 + tgt)
        self.fit_info["fit_seconds"] = time.perf_counter() - t0
        self.fit_info["mappings"] = [
            f"{data.scenarios[a]}->{data.scenarios[b]}" for a, b in sorted(self.maps_)
        ]

    def _solver(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            num_threads=self.options.resolved_threads(),
            random_state=self.seed,
        )

    def _train_mapping(self, U_src: FloatMatrix, U_tgt: FloatMatrix, salt: int) -> list[np.ndarray]:
        """Fit f(U_src) ~ U_tgt by MSE; returns the layer weights as numpy arrays.

        Args:
            U_src: (n_overlap, factors) float32 source factors.
            U_tgt: (n_overlap, factors) float32 target factors.
            salt: makes each scenario pair's initialisation differ under one seed.
        """
        cfg = self.config
        seed = self.seed * 100_003 + salt
        torch.manual_seed(seed)
        f = U_src.shape[1]
        net: torch.nn.Module
        if cfg.mapping == "mlp":
            hidden = cfg.hidden or 2 * f
            net = torch.nn.Sequential(
                torch.nn.Linear(f, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, f)
            )
        else:
            net = torch.nn.Linear(f, f)
        x, y = torch.from_numpy(U_src), torch.from_numpy(U_tgt)
        loader = IndexBatches(
            len(x), cfg.train.batch_size, lambda rows, _rng: (x[rows], y[rows]), seed=seed
        )

        def loss(module: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            out: torch.Tensor = torch.nn.functional.mse_loss(module(batch[0]), batch[1])
            return out

        # The mapping's matrices are tiny (batch x factors x 2 factors): intra-op threads cost
        # more than they save (measured 100x slower with 2 threads on a busy 2-core machine).
        previous = torch.get_num_threads()
        opt = torch.optim.Adam(
            net.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
        )
        try:
            Trainer(cfg.train, seed=seed, name=f"{self.name} mapping", threads=1).fit(
                net, loader, loss, optimizer=opt
            )
        finally:
            torch.set_num_threads(previous)
        # Plain arrays, applied with numpy at scoring time: no module to pickle or rebuild.
        return [p.detach().numpy().astype(np.float32).copy() for p in net.parameters()]

    # ------------------------------------------------------------------ scoring
    def _factors(self, users: UserBatch, s: int) -> tuple[FloatMatrix, np.ndarray]:
        """Users' own factors in scenario ``s`` and whether they have history there."""
        U = np.asarray(self._als[s].user_factors, np.float32)
        own = U[np.maximum(users.user_idx, 0)].copy()
        active = self.active_[s][np.maximum(users.user_idx, 0)].copy()
        adhoc = np.array(sorted(users.adhoc), dtype=np.int64)
        if len(adhoc):
            items = self.items_[s]
            pos = np.full(self.train_state.n_items, -1, np.int64)
            pos[items] = np.arange(len(items))
            rows, cols, vals = [], [], []
            for r, i in enumerate(adhoc):
                h, sl = users.history(int(i))
                keep = (h.scenario_idx[sl] == s) & (pos[h.item_idx[sl]] >= 0)
                cols.append(pos[h.item_idx[sl][keep]])
                vals.append(h.weight[sl][keep])
                rows.append(np.full(int(keep.sum()), r))
            R = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(len(adhoc), len(items)),
                dtype=np.float32,
            )
            R.sum_duplicates()
            # small per-user solves: no BLAS thread limit needed on this serving path
            solved = self._als[s].recalculate_user(np.arange(len(adhoc)), R)
            own[adhoc] = np.asarray(solved, np.float32).reshape(len(adhoc), -1)
            active[adhoc] = np.diff(R.indptr) > 0
        return own, active

    def _target_factors(self, users: UserBatch, t: int) -> tuple[FloatMatrix, np.ndarray]:
        """Factors to score scenario ``t`` with: own where active, else mapped; and a mask of
        rows that got any (the rest have no usable history)."""
        own, active = self._factors(users, t)
        out = np.where(active[:, None], own, 0.0).astype(np.float32)
        mapped_sum = np.zeros_like(out)
        n_maps = np.zeros(len(users), np.int64)
        for (src, tgt), weights in sorted(self.maps_.items()):
            if tgt != t:
                continue
            f_src, a_src = self._factors(users, src)
            use = a_src & ~active
            if use.any():
                mapped_sum[use] += _apply(weights, f_src[use])
                n_maps[use] += 1
        cold = n_maps > 0
        out[cold] = mapped_sum[cold] / n_maps[cold, None]
        return out, active | cold

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        scores = np.zeros((len(users), len(items)), np.float32)
        covered = np.zeros(len(items), bool)
        target = users.scenario_idx
        # each requested item is scored in the first scenario holding it: the target first
        order = ([target] if target is not None else []) + [
            s for s in sorted(self.items_) if s != target
        ]
        has_signal = np.zeros(len(users), bool)
        for s in order:
            items_s = self.items_.get(s)
            if items_s is None:
                continue
            pos = np.full(self.train_state.n_items, -1, np.int64)
            pos[items_s] = np.arange(len(items_s))
            local = pos[items]
            sel = (local >= 0) & ~covered
            if not sel.any():
                continue
            U, ok = self._target_factors(users, s)
            V = np.asarray(self._als[s].item_factors, np.float32)
            scores[:, sel] = U @ V[local[sel]].T
            covered |= sel
            if s == target or target is None:
                has_signal |= ok
        scores[~has_signal] = np.nan  # neither own nor mapped factors: the fallback ranks
        return scores

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s in self.items_:
            out[f"items.{s}"] = self.items_[s]
            out[f"active.{s}"] = self.active_[s].astype(np.uint8)
            out[f"U.{s}"] = np.asarray(self._als[s].user_factors, np.float32)
            out[f"V.{s}"] = np.asarray(self._als[s].item_factors, np.float32)
        for (src, tgt), weights in self.maps_.items():
            for j, w in enumerate(weights):
                out[f"map.{src}.{tgt}.{j}"] = w
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.items_, self.active_, self._als, self.maps_ = {}, {}, {}, {}
        for key in sorted(k for k in arrays if k.startswith("items.")):
            s = int(key.split(".")[1])
            self.items_[s] = arrays[key]
            self.active_[s] = arrays[f"active.{s}"].astype(bool)
            with threadpool_limits(1, "blas"):
                als = self._solver()
            als.user_factors = arrays[f"U.{s}"]
            als.item_factors = arrays[f"V.{s}"]
            self._als[s] = als
        maps: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        for key, w in arrays.items():
            if key.startswith("map."):
                _, src, tgt, j = key.split(".")
                maps.setdefault((int(src), int(tgt)), {})[int(j)] = w
        self.maps_ = {k: [v[j] for j in sorted(v)] for k, v in maps.items()}


def _apply(weights: list[np.ndarray], x: FloatMatrix) -> FloatMatrix:
    """Run a stored mapping: ``[W, b]`` (linear) or ``[W1, b1, W2, b2]`` (tanh MLP).

    torch's Linear stores ``W`` as (out, in), hence the transposes.
    """
    out: FloatMatrix
    if len(weights) == 2:
        W, b = weights
        out = (x @ W.T + b).astype(np.float32)
    else:
        W1, b1, W2, b2 = weights
        out = (np.tanh(x @ W1.T + b1) @ W2.T + b2).astype(np.float32)
    return out
