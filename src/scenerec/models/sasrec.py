"""SASRec: next-item prediction with causal self-attention over item ids (Kang & McAuley, 2018).

The standard sequential baseline. A user's last ``max_len`` events (of one scenario, or of all
scenarios mixed) are item-id tokens plus learned positions, encoded by causal transformer blocks;
the output at the newest event, dotted with the (tied) item embeddings, scores the next item.
Training predicts the next item at every position of a sequence at once with a full softmax
(cross-entropy), one pass per user per epoch, not one sample per prefix. It knows ids only: items
without training events cannot be recommended on merit, and it ignores scenarios, behaviours and
time gaps (see ``CrossScenarioTransformer`` for all of these).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from scenerec.data.histories import Histories
from scenerec.models.nn import (
    CausalEncoder,
    Holdout,
    IndexBatches,
    NeuralConfig,
    NeuralRecommender,
    TrainConfig,
    TrainingPlan,
    batch_windows,
    last_windows,
    load_module_arrays,
    module_arrays,
)
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray


class SASRecConfig(NeuralConfig):
    """Attributes:
    dim: width of item embeddings and hidden states.
    layers: transformer blocks.
    heads: attention heads (``dim`` must be a multiple).
    max_len: events of each history that are read (the most recent ones).
    dropout: dropout on embeddings, attention and residual branches.
    scenario: read and train on this scenario's events only; ``None`` reads all scenarios as one
        mixed sequence.
    train: the training loop; ``batch_size`` counts users.
    """

    dim: int = Field(default=64, ge=2)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    max_len: int = Field(default=50, ge=2)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    scenario: str | None = None
    train: TrainConfig = TrainConfig(epochs=20, batch_size=128, lr=1e-3)


class _SASRecNet(nn.Module):
    """Item ids are shifted by one so that 0 is padding."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
        self.positions = nn.Embedding(cfg.max_len, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = CausalEncoder(cfg.dim, cfg.layers, cfg.heads, cfg.dropout)
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) shifted item ids (0 = padding, left-padded) -> (B, L, d) hidden states."""
        L = seq.shape[1]
        # Positions count back from the newest event, so the last column always has the same one.
        pos = self.positions.weight[-L:]
        x = self.drop(self.norm(self.items(seq) + pos[None]))
        out: torch.Tensor = self.encoder(x, seq > 0)
        return out

    def logits(self, hidden: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """(N, d) hidden states -> (N, n_items) scores, or over ``items`` (unshifted ids)."""
        w = self.items.weight[1:] if items is None else self.items.weight[items + 1]
        return hidden @ w.T


class SASRec(NeuralRecommender[SASRecConfig]):
    """Causal self-attention over the item ids of a user's recent events."""

    config_class = SASRecConfig
    name = "sasrec"

    def _scope_scenario(self) -> int | None:
        if self.config.scenario is None:
            return None
        return self.train_state.scenario_index(self.config.scenario)

    def _holdout_scope(self, data: TrainState) -> tuple[Histories, IdxArray | None]:
        return data.histories.in_scenario(self._scope_scenario()), None

    def _plan(self, data: TrainState, holdout: Holdout) -> TrainingPlan:
        cfg = self.config
        h = data.histories.in_scenario(self._scope_scenario()).filter(holdout.keep)
        # One training row per user with at least two events: its last max_len + 1 events give
        # max_len (input, next item) pairs, all trained in one pass.
        rows = np.flatnonzero(h.lengths() >= 2)
        win, _ = last_windows(h.indptr, rows, cfg.max_len + 1, {"item": h.item_idx + 1})
        seqs = win["item"]

        def collate(batch: IdxArray, _rng: np.random.Generator) -> torch.Tensor:
            s = seqs[batch]
            first = int(np.argmax((s > 0).any(axis=0)))  # drop columns that are all padding
            return torch.from_numpy(s[:, first:])

        net = _SASRecNet(data.n_items, cfg)

        def loss_fn(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            inputs, targets = batch[:, :-1], batch[:, 1:]
            hidden = module(inputs)
            mask = (inputs > 0) & (targets > 0)
            logits = net.logits(hidden[mask])
            out: torch.Tensor = nn.functional.cross_entropy(logits, targets[mask] - 1)
            return out

        def score(users: IdxArray, _s: int, items: IdxArray) -> np.ndarray:
            return self._score_batch(net, h, UserBatch(users, None, data), items)

        lengths = np.minimum(h.lengths()[rows], cfg.max_len + 1)
        return TrainingPlan(
            net=net,
            loader=IndexBatches(
                len(rows), cfg.train.batch_size, collate, seed=self.seed, lengths=lengths
            ),
            loss=loss_fn,
            score=score,
            info={"sequences": len(rows)},
        )

    def _keep(self, net: nn.Module) -> None:
        if not isinstance(net, _SASRecNet):
            raise TypeError(f"expected the SASRec network, got {type(net).__name__}")
        self.net_ = net
        self.scope_ = self.train_state.histories.in_scenario(self._scope_scenario())

    def _score_batch(
        self, net: _SASRecNet, h: Histories, users: UserBatch, items: IdxArray
    ) -> FloatMatrix:
        """Scores (len(users), len(items)) from the windows of ``h`` (and ad-hoc histories)."""
        scope = self._scope_scenario()

        def fields_of(adhoc: Histories) -> dict[str, np.ndarray]:
            return {"item": adhoc.in_scenario(scope).item_idx + 1}

        win, _ = batch_windows(
            users, self.config.max_len, h.indptr, {"item": h.item_idx + 1}, fields_of
        )
        net.eval()
        with torch.no_grad():
            hidden = net(torch.from_numpy(win["item"]))[:, -1]
            scores = net.logits(hidden, torch.from_numpy(np.asarray(items, np.int64)))
        out: FloatMatrix = scores.numpy().astype(np.float32, copy=False)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return self._score_batch(self.net_, self.scope_, users, items)

    def _arrays(self) -> dict[str, np.ndarray]:
        return module_arrays(self.net_)

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.net_ = _SASRecNet(self.train_state.n_items, self.config)
        load_module_arrays(self.net_, arrays)
        self.net_.eval()
        self.scope_ = self.train_state.histories.in_scenario(self._scope_scenario())
