"""SASRec: next-item prediction with causal self-attention over item ids (Kang & McAuley, 2018).

The standard sequential baseline. A user's last ``max_len`` events (of one scenario, or of all
scenarios mixed) are item-id tokens plus learned positions, encoded by causal transformer blocks;
the output at the newest event, dotted with the (tied) item embeddings, scores the next item.
Training predicts the next item at every position of a window at once, and cuts every history
into windows so that each event is a training target once per epoch (``windows="all"``; see
``scenerec.models.nn.sequence``), with a full softmax over the items (cross-entropy, as in
Klenitskiy & Vasilev, RecSys 2023) or, for a catalogue above ``softmax_max_items``, a sampled
softmax with the log-q correction.

With ``scenario`` the model reads, trains on and scores that scenario only: its item table holds
that scenario's items, every other item scores -inf, and users without an event in the scenario
get the fallback (its popularity). It knows ids only: items without training events cannot be
recommended on merit, and it ignores behaviours and time gaps (see ``CrossScenarioTransformer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from scenerec.data.histories import Histories
from scenerec.models.nn import (
    BlockStyle,
    Candidates,
    CausalEncoder,
    Holdout,
    IndexBatches,
    NegativeSampler,
    NeuralRecommender,
    SequenceConfig,
    TrainConfig,
    TrainingPlan,
    batch_windows,
    history_windows,
    load_module_arrays,
    module_arrays,
    softmax_loss,
)
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray

BoolArray = npt.NDArray[np.bool_]


class SASRecConfig(SequenceConfig):
    """Attributes:
    scenario: read, train on and score this scenario only; ``None`` reads all scenarios as one
        mixed sequence and scores every item.
    block: ``pre_norm`` (the default: the sum of item and position embeddings is
        layer-normalised, then pre-LayerNorm blocks with GELU) or ``original``, the block of
        SASRec's public implementations (item embeddings scaled by sqrt(dim) plus positions, no
        input normalisation; see ``scenerec.models.nn.CausalEncoder``).
    train: the training loop; ``batch_size`` counts windows.
    (``dim``, ``layers``, ``heads``, ``ffn_mult``, ``dropout``, ``max_len``, the windows and
    the softmax: ``SequenceConfig``.)
    """

    scenario: str | None = None
    block: BlockStyle = "pre_norm"
    train: TrainConfig = TrainConfig(epochs=20, batch_size=128, lr=1e-3)


@dataclass
class _Batch:
    seq: torch.Tensor  # (B, L + 1) tokens of the windows
    target: torch.Tensor  # (B, L) bool: the output at column c predicts seq[:, c + 1]
    cands: Candidates


class _SASRecNet(nn.Module):
    """Token 0 is padding; token ``j + 1`` is the model's item ``j`` (its scope's j-th item)."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
        self.positions = nn.Embedding(cfg.max_len, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = CausalEncoder(
            cfg.dim,
            cfg.layers,
            cfg.heads,
            cfg.dropout,
            cfg.ffn_mult,
            cfg.attention_dropout,
            style=cfg.block,
        )
        self.scale = math.sqrt(cfg.dim) if cfg.block == "original" else None
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) tokens (0 = padding, left-padded) -> (B, L, d) hidden states."""
        L = seq.shape[1]
        # Positions count back from the newest event, so the last column always has the same one.
        pos = self.positions.weight[-L:]
        if self.scale is None:
            x = self.drop(self.norm(self.items(seq) + pos[None]))
        else:
            x = self.drop(self.items(seq) * self.scale + pos[None])
        out: torch.Tensor = self.encoder(x, seq > 0)
        return out

    def vectors(self) -> torch.Tensor:
        """(n_items, d) output item vectors (the tied input embeddings, without padding)."""
        return self.items.weight[1:]


class SASRec(NeuralRecommender[SASRecConfig]):
    """Causal self-attention over the item ids of a user's recent events."""

    config_class = SASRecConfig
    name = "sasrec"

    # ------------------------------------------------------------------ scope
    def _scope_scenario(self) -> int | None:
        if self.config.scenario is None:
            return None
        return self.train_state.scenario_index(self.config.scenario)

    def _scope_items(self) -> IdxArray:
        """Sorted global indices of the items the model knows (its scenario's, or all)."""
        return self.train_state.items_of_scenario(self._scope_scenario())

    def _tokens(self, h: Histories) -> IdxArray:
        """Token of each event of scope histories (0 for an item outside the scope)."""
        scope = self._scope_items()
        pos = np.minimum(np.searchsorted(scope, h.item_idx), max(len(scope) - 1, 0))
        inside = len(scope) > 0 and scope[pos] == h.item_idx
        return np.where(inside, pos + 1, 0).astype(np.int64)

    def _scoped(self, h: Histories) -> tuple[Histories, IdxArray]:
        """The events of ``h`` the model reads (its scenario's, of items it knows) and their
        tokens."""
        h = h.in_scenario(self._scope_scenario())
        tokens = self._tokens(h)
        return h.filter(tokens > 0), tokens[tokens > 0]

    def _view(self) -> tuple[Histories, IdxArray]:
        """The training histories the model scores from, as ``_scoped``: the one place scoring
        reads them (recomputed when the state's histories change, e.g. after new events)."""
        source = self.train_state.histories
        if getattr(self, "_view_of", None) is not source:
            self._view_cache = self._scoped(source)
            self._view_of = source
        return self._view_cache

    def _holdout_scope(self, data: TrainState) -> tuple[Histories, IdxArray | None]:
        return data.histories.in_scenario(self._scope_scenario()), None

    # ------------------------------------------------------------------ fit
    def _plan(self, data: TrainState, holdout: Holdout) -> TrainingPlan:
        cfg = self.config
        h, tokens = self._scoped(self._holdout_scope(data)[0].filter(holdout.keep))
        win = history_windows(h.indptr, cfg.max_len, windows=cfg.windows, stride=cfg.window_stride)
        n_scope = len(self._scope_items())
        counts = np.bincount(tokens - 1, minlength=n_scope).astype(np.float32)
        sampler = NegativeSampler({0: np.arange(n_scope)}, counts, cfg)

        def collate(rows: IdxArray, rng: np.random.Generator) -> _Batch:
            src, valid, target = win.take(rows)
            seq = np.where(valid, tokens[np.maximum(src, 0)], 0)
            return _Batch(torch.from_numpy(seq), torch.from_numpy(target), sampler.draw(0, rng))

        net = _SASRecNet(n_scope, cfg)

        def loss_fn(module: nn.Module, batch: _Batch) -> torch.Tensor:
            hidden = module(batch.seq[:, :-1])[batch.target]
            targets = batch.seq[:, 1:][batch.target] - 1
            table, cands = net.vectors(), batch.cands
            if cands.sampled:
                log_q = torch.from_numpy(sampler.log_q(0, targets.numpy()))
                cand_vecs = table[torch.from_numpy(cands.items)]
                loss = softmax_loss(hidden, cand_vecs, cands, targets, table[targets], log_q)
            else:
                loss = softmax_loss(hidden, table, cands, targets)
            return loss / max(len(targets), 1)

        def score(users: IdxArray, _s: int, items: IdxArray) -> np.ndarray:
            return self._score_with(net, h, tokens, UserBatch(users, None, data), items)

        return TrainingPlan(
            net=net,
            loader=IndexBatches(
                len(win), cfg.train.batch_size, collate, seed=self.seed, lengths=win.lengths
            ),
            loss=loss_fn,
            score=score,
            info={"windows": len(win), "targets": win.n_targets, "items": n_scope},
        )

    def _keep(self, net: nn.Module) -> None:
        if not isinstance(net, _SASRecNet):
            raise TypeError(f"expected the SASRec network, got {type(net).__name__}")
        self.net_ = net

    # ------------------------------------------------------------------ score
    def _has_signal(self, users: UserBatch) -> BoolArray:
        """Rows with at least one event the model reads (in its scenario, of its items)."""
        lengths = self._view()[0].lengths()
        out: BoolArray = (users.user_idx >= 0) & (lengths[np.maximum(users.user_idx, 0)] > 0)
        for i, adhoc in users.adhoc.items():
            out[i] = self._scoped(adhoc)[0].n_events > 0
        return out

    def _fallback_scores(self, scenario_idx: int | None, items: IdxArray) -> FloatMatrix:
        """A single-scenario model falls back to its scenario's popularity, over its items."""
        scope = self._scope_scenario()
        if scope is None:
            return super()._fallback_scores(scenario_idx, items)
        pop = self.train_state.popularity_of(scope)[items].astype(np.float32)
        out: FloatMatrix = np.where(np.isin(items, self._scope_items()), pop, -np.inf)
        return out.astype(np.float32)

    def _score_with(
        self, net: _SASRecNet, h: Histories, tokens: IdxArray, users: UserBatch, items: IdxArray
    ) -> FloatMatrix:
        """Scores (len(users), len(items)) from the windows of ``h`` (and ad-hoc histories);
        items outside the scope score -inf."""

        def fields_of(adhoc: Histories) -> dict[str, np.ndarray]:
            return {"item": self._scoped(adhoc)[1]}

        win, _ = batch_windows(users, self.config.max_len, h.indptr, {"item": tokens}, fields_of)
        scope_items = self._scope_items()
        items = np.asarray(items, np.int64)
        pos = np.minimum(np.searchsorted(scope_items, items), max(len(scope_items) - 1, 0))
        inside = (scope_items[pos] == items) if len(scope_items) else np.zeros(len(items), bool)
        net.eval()
        with torch.no_grad():
            hidden = net(torch.from_numpy(win["item"]))[:, -1]
            vecs = net.vectors()[torch.from_numpy(pos[inside])]
            part = (hidden @ vecs.T).numpy()
        out = np.full((len(users), len(items)), -np.inf, np.float32)
        out[:, inside] = part
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return self._score_with(self.net_, *self._view(), users, items)

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        return module_arrays(self.net_)

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.net_ = _SASRecNet(len(self._scope_items()), self.config)
        load_module_arrays(self.net_, arrays)
        self.net_.eval()
