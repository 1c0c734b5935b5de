"""ScenarioFusion: per-scenario interest vectors from language-model item text, fused per target.

Each user gets one interest vector per scenario, built from the language-model embeddings of the
items (and search queries) they touched there, weighted by behaviour and time decay: the same
quantity as ``scenerec.text.users.user_interest_vectors``, kept as un-normalised decayed sums
with a reference time, so a new event updates it in O(dim). A target scenario ``t`` fuses them as
``v = sum_s softmax_s(a[s, t] + per-user feature terms) * u_s`` over the scenarios where the user
has events (``fusion="uniform"`` gives the fixed ``1/C`` average instead), where ``u_s`` is the
text vector through a learned projection, next to the decayed mean of learned id embeddings of
the same events. Items are scored as ``v . [W e_i, q_i] + b_i``: their text embedding through a
learned projection, plus an optional id embedding and bias, so items without text fall back to
ids and new items with text only are scored through ``W e_i``. Use it when scenarios share users
and items have text; it serves users cold in the target scenario from their other scenarios and
learns online (``partial_fit``). No single paper: items are represented through their text as
in UniSRec (Hou et al., KDD 2022), and the fixed 1/C average of per-scenario profiles becomes a
learned, target-dependent attention over scenarios.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError, EncoderError, SchemaError
from scenerec.models.base import BaseRecommender, ModelConfig, UserBatch
from scenerec.models.training import (
    Holdout,
    IndexBatches,
    TrainConfig,
    Trainer,
    config_fingerprint,
    set_torch_threads,
)
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.text.embeddings import encode_items, encode_queries, normalize_query
from scenerec.text.encoder import EncoderConfig, TextEncoder, make_encoder
from scenerec.text.templates import ItemTextTemplate, render_items

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
_SECONDS_PER_DAY = 86_400.0
# A leave-item-out text sum whose norm is below this share of the full sum's norm is rounding
# noise (the item was the only text evidence there), not a direction.
_NOISE = 1e-4


class ScenarioFusionConfig(ModelConfig):
    """Attributes:
    encoder: the text encoder of item titles and queries (``sentence`` = all-MiniLM-L6-v2 by
        default; ``hashing`` needs no model and suits tests).
    template: how catalog fields become an item's text.
    text_cache: keep embeddings in the on-disk cache (``SCENEREC_CACHE_DIR``), so refits and
        other models with the same encoder do not encode again.
    half_life_days: an event this many days older than the user's newest event counts half;
        ``None`` disables decay.
    query_weight: weight of an event's search query vector relative to its item's vector.
    fusion: ``learned`` attention over scenarios per target scenario, or ``uniform`` (1/C over
        the scenarios where the user has events).
    per_user: add per-user terms to the attention logits from the user's log event count and
        log decayed weight in each scenario (``learned`` only).
    dim: size of the projected text space.
    id_dim: size of the id embeddings (item input and output); 0 turns them off (pure text).
    item_bias: learn a bias per item (absorbs popularity).
    examples_per_user: target events sampled per user and epoch (each user is one row of a
        batch; ``train.batch_size`` counts users).
    negatives: items sampled uniformly from the target scenario per batch (shared by the
        batch's examples with that target) for the sampled softmax.
    train: the training loop (epochs, users per batch, learning rate, early stopping...).
        Without ``grad_clip`` (the default) the id tables get sparse gradients and a lazy Adam
        (fast on large catalogues); with it, dense gradients and Adam.
    """

    encoder: EncoderConfig = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    text_cache: bool = True
    half_life_days: float | None = Field(default=30.0, gt=0)
    query_weight: float = Field(default=1.0, ge=0)
    fusion: Literal["learned", "uniform"] = "learned"
    per_user: bool = True
    dim: int = Field(default=64, ge=1)
    id_dim: int = Field(default=128, ge=0)
    item_bias: bool = True
    examples_per_user: int = Field(default=16, ge=1)
    negatives: int = Field(default=256, ge=1)
    train: TrainConfig = TrainConfig(epochs=10, batch_size=128, lr=2e-3, grad_clip=None, patience=2)


# ---------------------------------------------------------------------- user state
@dataclass
class _State:
    """Every user's decayed evidence per scenario, un-normalised so that updates are O(dim).

    Attributes:
        text: float32 (n_users, n_scenarios, d_text) sum of w * decay * (item vector +
            query_weight * query vector); its direction is ``user_interest_vectors``.
        ids: float32 (n_users, n_scenarios, id_dim) sum of w * decay * input id embedding.
        weight: float64 (n_users, n_scenarios) sum of w * decay.
        count: float64 (n_users, n_scenarios) number of events.
        ref: int64 (n_users,) the reference time of the decay (the user's newest event).
    """

    text: FloatMatrix
    ids: FloatMatrix
    weight: F64
    count: F64
    ref: IdxArray


def _decay(age: F64 | IdxArray, half_life_s: float) -> F64:
    if math.isinf(half_life_s):
        return np.ones(np.shape(age))
    out: F64 = np.exp2(-np.asarray(age, np.float64) / half_life_s)
    return out


def _accumulate(
    ev: Mapping[str, np.ndarray],
    n_users: int,
    n_scen: int,
    item_text: FloatMatrix,
    query_text: FloatMatrix,
    id_in: FloatMatrix,
    half_life_s: float,
    query_weight: float,
) -> _State:
    """Build the state of ``n_users`` users from events (refit path).

    Args:
        ev: arrays ``user``, ``scenario``, ``item``, ``query`` (-1: none), ``timestamp``,
            ``weight``, all (n_events,).
        item_text: float32 (n_items, d_text) item vectors (zero rows without text).
        query_text: float32 (n_queries, d_text) vectors indexed by ``ev["query"]``.
        id_in: float32 (n_items, id_dim) input id embeddings.
    """
    users, scen, items = ev["user"], ev["scenario"], ev["item"]
    n_items, d = item_text.shape
    ref = np.full(n_users, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(ref, users, ev["timestamp"])
    ref[ref == np.iinfo(np.int64).min] = 0
    dw = ev["weight"].astype(np.float64) * _decay(ref[users] - ev["timestamp"], half_life_s)
    rows = users * n_scen + scen
    n_rows = n_users * n_scen
    x = sp.csr_matrix((dw, (rows, items)), shape=(n_rows, n_items))
    text = np.asarray(x @ item_text.astype(np.float64))
    q = ev["query"]
    ok = q >= 0
    if ok.any() and query_weight > 0:
        xq = sp.csr_matrix(
            (dw[ok] * query_weight, (rows[ok], q[ok])), shape=(n_rows, len(query_text))
        )
        text += np.asarray(xq @ query_text.astype(np.float64))
    ids = np.asarray(x @ id_in.astype(np.float64)) if id_in.shape[1] else np.zeros((n_rows, 0))
    return _State(
        text=text.astype(np.float32).reshape(n_users, n_scen, d),
        ids=ids.astype(np.float32).reshape(n_users, n_scen, -1),
        weight=np.bincount(rows, dw, minlength=n_rows).astype(np.float64).reshape(n_users, n_scen),
        count=np.bincount(rows, minlength=n_rows).astype(np.float64).reshape(n_users, n_scen),
        ref=ref,
    )


def _unit(text: np.ndarray) -> FloatMatrix:
    """Rows of ``text`` (..., d) scaled to unit norm (zero rows stay zero), float32."""
    norm = np.linalg.norm(text, axis=-1, keepdims=True)
    ok = norm > 0
    out: FloatMatrix = np.divide(text, norm, out=np.zeros(text.shape, np.float32), where=ok)
    return out


def _reserve(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for at least ``n`` rows: itself if it has them, else a copy grown by
    half (new rows zero), so that adding rows one by one costs amortised O(row)."""
    if len(a) >= n:
        return a
    out = np.zeros((max(n, len(a) + len(a) // 2 + 16), *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out


# ---------------------------------------------------------------------- torch pieces
def _fuse(
    u: torch.Tensor,
    feats: torch.Tensor,
    active: torch.Tensor,
    target: torch.Tensor | None,
    att: torch.Tensor,
    feat_w: torch.Tensor | None,
) -> torch.Tensor:
    """Attention-weighted sum of per-scenario user vectors.

    Args:
        u: (B, S, D) per-scenario vectors.
        feats: (B, S, 2) per-user features (log1p count, log1p decayed weight).
        active: (B, S) bool, scenarios where the user has events.
        target: (B,) int64 target scenario of each row; ``None`` averages uniformly.
        att: (S, S) logits ``a[s, t]``.
        feat_w: (2, S, S) per-user coefficients, or ``None`` without per-user terms.

    Returns:
        (B, D) fused vectors; zero for rows with no active scenario.
    """
    if target is None:
        logits = torch.zeros(active.shape, dtype=u.dtype)
    else:
        logits = att.t()[target]
        if feat_w is not None:
            logits = logits + (feats * feat_w.permute(2, 1, 0)[target]).sum(-1)
    # A large negative instead of -inf: rows without any active scenario then give weights that
    # are multiplied away below, never NaN.
    alpha = torch.softmax(logits.masked_fill(~active, -1e9), dim=1) * active
    return (alpha.unsqueeze(-1) * u).sum(1)


class _Net(nn.Module):
    """The learned parameters (see the module docstring)."""

    def __init__(self, n_items: int, n_scen: int, d_text: int, cfg: ScenarioFusionConfig) -> None:
        super().__init__()
        self.user_proj = nn.Linear(d_text, cfg.dim, bias=False)
        self.item_proj = nn.Linear(d_text, cfg.dim, bias=False)
        # Both projections start as the same random map with E[(Rx).(Ry)] = x.y, so the untrained
        # model already scores by text cosine similarity; training then makes them differ.
        with torch.no_grad():
            nn.init.normal_(self.user_proj.weight, std=1.0 / math.sqrt(cfg.dim))
            self.item_proj.weight.copy_(self.user_proj.weight)
        self.id_in = nn.Parameter(torch.randn(n_items, cfg.id_dim) * 0.1)
        # Output ids start at zero: items never seen in training keep no id signal (text only).
        self.id_out = nn.Parameter(torch.zeros(n_items, cfg.id_dim))
        self.bias = nn.Parameter(torch.zeros(n_items), requires_grad=cfg.item_bias)
        self.att = nn.Parameter(torch.zeros(n_scen, n_scen), requires_grad=cfg.fusion == "learned")
        self.feat = nn.Parameter(
            torch.zeros(2, n_scen, n_scen), requires_grad=cfg.fusion == "learned" and cfg.per_user
        )


class _LazyAdam(torch.optim.Optimizer):
    """Adam (AdamW with weight decay) that updates only the rows a batch touched of parameters
    with sparse gradients, like TensorFlow's LazyAdam; dense gradients get plain Adam.

    With large catalogues the id tables dominate the parameters while a batch touches a few
    thousand rows: a dense Adam step over them cost more than the rest of the batch. Sparse
    gradients cannot be clipped by the shared loop, so this is used when ``train.grad_clip`` is
    ``None`` (the default here); with clipping the model trains with dense gradients and Adam.
    """

    def __init__(self, net: nn.Module, cfg: TrainConfig) -> None:
        params = [p for p in net.parameters() if p.requires_grad]
        super().__init__(params, {"lr": cfg.lr, "weight_decay": cfg.weight_decay})
        self.betas, self.eps = (0.9, 0.999), 1e-8

    @torch.no_grad()  # type: ignore[untyped-decorator, unused-ignore]
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        b1, b2 = self.betas
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = torch.zeros(())
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                t = float(st["step"])
                scale = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                m, v = st["exp_avg"], st["exp_avg_sq"]
                if p.grad.is_sparse:
                    g = p.grad.coalesce()
                    rows, vals = g.indices()[0], g.values()
                    m_r = m[rows].mul_(b1).add_(vals, alpha=1 - b1)
                    v_r = v[rows].mul_(b2).addcmul_(vals, vals, value=1 - b2)
                    m[rows], v[rows] = m_r, v_r
                    p_r = p[rows]
                    if wd:
                        p_r.mul_(1 - lr * wd)
                    p[rows] = p_r.addcdiv_(m_r, v_r.sqrt().add_(self.eps), value=-scale)
                else:
                    m.mul_(b1).add_(p.grad, alpha=1 - b1)
                    v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    if wd:
                        p.mul_(1 - lr * wd)
                    p.addcdiv_(m, v.sqrt().add_(self.eps), value=-scale)


@dataclass
class _Params:
    """Trained parameters as numpy arrays (what scoring, saving and online growth use)."""

    user_proj: FloatMatrix  # (dim, d_text)
    item_proj: FloatMatrix  # (dim, d_text)
    id_in: FloatMatrix  # (n_items, id_dim)
    id_out: FloatMatrix  # (n_items, id_dim)
    bias: FloatMatrix  # (n_items,)
    att: FloatMatrix  # (S, S)
    feat: FloatMatrix  # (2, S, S)

    @classmethod
    def of(cls, net: _Net) -> _Params:
        def arr(t: torch.Tensor) -> FloatMatrix:
            out: FloatMatrix = t.detach().numpy().astype(np.float32, copy=True)
            return out

        return cls(
            arr(net.user_proj.weight),
            arr(net.item_proj.weight),
            arr(net.id_in),
            arr(net.id_out),
            arr(net.bias),
            arr(net.att),
            arr(net.feat),
        )


# ---------------------------------------------------------------------- the model
class ScenarioFusion(BaseRecommender[ScenarioFusionConfig]):
    """Per-scenario language-model interest vectors fused per target; see the module docstring.

    Learns online: ``partial_fit`` updates the decayed per-scenario sums of the users in the
    new events (O(dim) per event, the learned parameters fixed), which gives exactly the state a
    refit of the user vectors on all events would give. Unseen users and items grow the arrays;
    an unseen item takes its text from catalog columns (``title``, ``category``...) of the new
    events when they have them (else it has no text and no id signal until the next fit), and
    search queries of new events are encoded on the fly.
    """

    config_class = ScenarioFusionConfig
    name = "fusion"

    # ------------------------------------------------------------------ fit
    def _fit(self, data: Dataset) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        encoder = self._get_encoder()
        items = encode_items(data, encoder, cfg.template)
        queries = encode_queries(data, encoder)
        self.encoder_fingerprint_ = encoder.fingerprint
        self.item_text_ = np.ascontiguousarray(items.vectors, dtype=np.float32)
        self.has_text_ = items.has_text.copy()
        self.n_items_ = data.n_items
        encode_s = time.perf_counter() - t0
        n_scen = len(data.scenario_vocab)
        ev = _event_arrays(data, queries.indices)
        h = data.histories
        holdout = Holdout.draw(h, cfg.train.valid_users, seed=cfg.seed, pick=cfg.train.valid_pick)
        torch.manual_seed(cfg.seed)
        set_torch_threads()
        net = _Net(data.n_items, n_scen, self.item_text_.shape[1], cfg)
        result = self._learn(data, net, ev, queries.vectors, holdout)
        self.params_ = _Params.of(net)
        # Input ids of items without training events were never trained: random noise that
        # would leak into users who meet those items online. They carry nothing instead.
        self.params_.id_in[np.bincount(ev["item"], minlength=data.n_items) == 0] = 0.0
        self.state_ = _accumulate(
            ev,
            data.n_users,
            n_scen,
            self.item_text_,
            queries.vectors,
            self.params_.id_in,
            self._half_life_s,
            cfg.query_weight,
        )
        self._refresh_items()
        self.fit_info = {
            "train": result,
            "encode_seconds": round(encode_s, 3),
            "fit_seconds": round(time.perf_counter() - t0, 3),
            "items_with_text": int(self.has_text_.sum()),
            "queries": len(queries.queries),
        }

    @property
    def _half_life_s(self) -> float:
        hl = self.config.half_life_days
        return math.inf if hl is None else hl * _SECONDS_PER_DAY

    def _get_encoder(self) -> TextEncoder:
        enc: TextEncoder | None = getattr(self, "_encoder", None)
        if enc is None:
            enc = make_encoder(self.config.encoder, cache=self.config.text_cache)
            self._encoder = enc
        return enc

    def _learn(
        self,
        data: Dataset,
        net: _Net,
        ev: dict[str, np.ndarray],
        query_text: FloatMatrix,
        holdout: Holdout,
    ) -> dict[str, Any]:
        """Train ``net`` in place with a sampled softmax over leave-item-out examples.

        An example is a distinct (user, item, target scenario) of the training events. The user
        is represented by their state over all their events *except those on the item*
        (leave-item-out: the item never explains itself); the item is scored against
        ``negatives`` items of the target scenario. This uses every event of the final state
        instead of rebuilding the state before each event, which would need one state per event
        (n_events x scenarios x d_text floats); the decay still favours recent evidence.
        """
        cfg = self.config
        n_users, n_items, n_scen = data.n_users, data.n_items, len(data.scenario_vocab)
        keep = holdout.keep
        kept = {k: v[keep] for k, v in ev.items()}
        hl, qw = self._half_life_s, cfg.query_weight
        no_ids = np.zeros((n_items, 0), np.float32)
        state = _accumulate(kept, n_users, n_scen, self.item_text_, query_text, no_ids, hl, qw)
        dw = kept["weight"] * _decay(state.ref[kept["user"]] - kept["timestamp"], hl)
        ex = _Examples.build(kept, dw, state, n_items, n_scen, query_text, qw)
        if ex.n_users == 0:
            raise SchemaError(
                "ScenarioFusion found no training example: every user has a single item",
                fix="fit on users with at least two distinct items",
            )
        rows = kept["user"] * n_scen + kept["scenario"]
        R = sp.csr_matrix((dw, (rows, kept["item"])), shape=(n_users * n_scen, n_items))
        # Validation ranks the held-out events: only the kept ones count as already seen.
        seen = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (kept["user"], kept["item"])), shape=(n_users, n_items)
        )
        R.sum_duplicates()
        R = R.astype(np.float32)
        item_text_t = torch.from_numpy(self.item_text_)
        pools = {s: self.train_state.items_of_scenario(s) for s in range(n_scen)}
        per_user, negatives = cfg.examples_per_user, cfg.negatives

        def collate(users_rows: IdxArray, rng: np.random.Generator) -> dict[str, Any]:
            return ex.batch(
                users_rows, rng, state, self.item_text_, R, pools, n_scen, per_user, negatives
            )

        def loss_fn(module: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            return _loss(module, batch, item_text_t, cfg)

        def validate(_module: nn.Module) -> float:
            params = _Params.of(net)
            st = _State(
                state.text,
                np.asarray(R @ params.id_in).reshape(n_users, n_scen, -1),
                state.weight,
                state.count,
                state.ref,
            )
            vecs = self._item_vectors(params)
            return holdout.ndcg(
                lambda us, s, it: self._fused_scores(
                    *self._known_inputs(st, us, params), s, it, params, vecs
                ),
                self.train_state.scenario_items,
                seen,
            )

        loader = IndexBatches(ex.n_users, cfg.train.batch_size, collate, seed=cfg.seed)
        trainer = Trainer(
            cfg.train,
            seed=cfg.seed,
            fingerprint=config_fingerprint(cfg, data.fingerprint),
            name=self.name,
        )
        optimizer = None if cfg.train.grad_clip is not None else _LazyAdam(net, cfg.train)
        result = trainer.fit(
            net, loader, loss_fn, validate=validate if len(holdout) else None, optimizer=optimizer
        )
        out = result.to_dict()
        out["examples"] = ex.n_examples
        out["users"] = ex.n_users
        return out

    # ------------------------------------------------------------------ scoring
    def _item_vectors(self, params: _Params) -> FloatMatrix:
        proj = self.item_text_ @ params.item_proj.T
        out: FloatMatrix = np.ascontiguousarray(
            np.concatenate([proj, params.id_out], axis=1), dtype=np.float32
        )
        return out

    def _refresh_items(self) -> None:
        self.item_vecs_ = self._item_vectors(self.params_)

    def _known_inputs(
        self, state: _State, users: IdxArray, params: _Params
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray]:
        """Per-scenario vectors (B, S, dim + id_dim), features (B, S, 2), active (B, S)."""
        text = _unit(state.text[users])
        weight = state.weight[users]
        ids = np.divide(
            state.ids[users],
            weight[..., None],
            out=np.zeros(state.ids[users].shape, np.float32),
            where=weight[..., None] > 0,
        ).astype(np.float32)
        u = np.concatenate([text @ params.user_proj.T, ids], axis=-1).astype(np.float32)
        feats = np.stack([np.log1p(state.count[users]), np.log1p(weight)], -1).astype(np.float32)
        # Evidence decayed to exactly zero (underflow after many half-lives) is no evidence.
        return u, feats, (state.count[users] > 0) & (weight > 0)

    def _fused_scores(
        self,
        u: FloatMatrix,
        feats: FloatMatrix,
        active: np.ndarray,
        target: int | None,
        items: IdxArray,
        params: _Params,
        item_vecs: FloatMatrix,
    ) -> FloatMatrix:
        cfg = self.config
        rows_target = None
        if cfg.fusion == "learned" and target is not None:
            rows_target = torch.full((len(u),), target, dtype=torch.long)
        with torch.no_grad():
            v = _fuse(
                torch.from_numpy(u),
                torch.from_numpy(feats),
                torch.from_numpy(active),
                rows_target,
                torch.from_numpy(params.att),
                torch.from_numpy(params.feat) if cfg.per_user else None,
            ).numpy()
        scores = v @ item_vecs[items].T
        if cfg.item_bias:
            scores += params.bias[items]
        out: FloatMatrix = scores.astype(np.float32)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        params = self.params_
        u, feats, active = self._known_inputs(self.state_, np.maximum(users.user_idx, 0), params)
        for i in users.adhoc:
            u[i], feats[i], active[i] = self._adhoc_inputs(users, i)
        return self._fused_scores(
            u, feats, active, users.scenario_idx, items, params, self.item_vecs_
        )

    def _adhoc_inputs(
        self, users: UserBatch, i: int
    ) -> tuple[FloatMatrix, FloatMatrix, np.ndarray]:
        """The inputs of one ad-hoc history (no queries: ``HistoryEvent`` carries none)."""
        h, sl = users.history(i)
        n_scen = self.state_.text.shape[1]
        scen = h.scenario_idx[sl].copy()
        # An event whose scenario the model does not know is taken as one in the target
        # scenario (the context the request comes from).
        scen[(scen < 0) | (scen >= n_scen)] = users.scenario_idx or 0
        ev = {
            "user": np.zeros(len(scen), np.int64),
            "scenario": scen,
            "item": h.item_idx[sl],
            "query": np.full(len(scen), -1, np.int64),
            "timestamp": h.timestamp[sl],
            "weight": h.weight[sl],
        }
        st = _accumulate(
            ev,
            1,
            n_scen,
            self.item_text_,
            np.zeros((0, self.item_text_.shape[1]), np.float32),
            self.params_.id_in,
            self._half_life_s,
            self.config.query_weight,
        )
        u, feats, active = self._known_inputs(st, np.zeros(1, np.int64), self.params_)
        return u[0], feats[0], active[0]

    # ------------------------------------------------------------------ online
    def _partial_fit(self, events: pl.DataFrame) -> None:
        ts = self.train_state
        n_users, n_items, n_scen = ts.n_users, ts.n_items, len(ts.vocabularies["scenarios"])
        cfg = self.config
        # Encode first: if the encoder fails, nothing of the model has changed yet.
        new_text = self._new_item_text(events, self.n_items_, n_items)
        query_idx = np.full(events.height, -1, np.int64)
        query_text = np.zeros((0, self.item_text_.shape[1]), np.float32)
        if C.QUERY in events.columns and cfg.query_weight > 0:
            raw = events[C.QUERY].to_list()
            normed = [normalize_query(q) if q else "" for q in raw]
            distinct = sorted({q for q in normed if q})
            if distinct:
                query_text = self._encode(distinct, kind="query")
                pos = {q: j for j, q in enumerate(distinct)}
                query_idx = np.array([pos.get(q, -1) for q in normed], np.int64)
        ev = {
            "user": events[C.USER_IDX].to_numpy().astype(np.int64),
            "scenario": events[C.SCENARIO_IDX].to_numpy().astype(np.int64),
            "item": events[C.ITEM_IDX].to_numpy().astype(np.int64),
            "query": query_idx,
            "timestamp": events[C.TIMESTAMP].to_numpy().astype(np.int64),
            "weight": events[C.WEIGHT].to_numpy().astype(np.float64),
        }
        self._grow(n_users, n_items, n_scen, new_text)
        self._update_state(ev, query_text)

    def _update_state(self, ev: dict[str, np.ndarray], query_text: FloatMatrix) -> None:
        """Add events to the decayed sums: O(dim) per event, plus O(S * dim) per touched user
        to move the user's reference time forward."""
        st, hl = self.state_, self._half_life_s
        n_scen = st.text.shape[1]
        users = ev["user"]
        touched, inv = np.unique(users, return_inverse=True)
        newest = np.full(len(touched), np.iinfo(np.int64).min, np.int64)
        np.maximum.at(newest, inv, ev["timestamp"])
        had = st.count[touched].sum(axis=1) > 0
        ref = np.where(had, np.maximum(st.ref[touched], newest), newest)
        scale = np.where(had, _decay(ref - st.ref[touched], hl), 1.0)
        st.text[touched] *= scale[:, None, None].astype(np.float32)
        st.ids[touched] *= scale[:, None, None].astype(np.float32)
        st.weight[touched] *= scale[:, None]
        st.ref[touched] = ref
        dw = ev["weight"] * _decay(ref[inv] - ev["timestamp"], hl)
        rows = users * n_scen + ev["scenario"]
        uniq, r_inv = np.unique(rows, return_inverse=True)
        n_items = len(self.item_text_)
        x = sp.csr_matrix((dw, (r_inv, ev["item"])), shape=(len(uniq), n_items))
        add_text = np.asarray(x @ self.item_text_.astype(np.float64))
        ok = ev["query"] >= 0
        if ok.any():
            xq = sp.csr_matrix(
                (dw[ok] * self.config.query_weight, (r_inv[ok], ev["query"][ok])),
                shape=(len(uniq), len(query_text)),
            )
            add_text += np.asarray(xq @ query_text.astype(np.float64))
        flat_text = st.text.reshape(-1, st.text.shape[2])
        flat_text[uniq] += add_text.astype(np.float32)
        if st.ids.shape[2]:
            flat_ids = st.ids.reshape(-1, st.ids.shape[2])
            flat_ids[uniq] += np.asarray(x @ self.params_.id_in.astype(np.float64)).astype(
                np.float32
            )
        st.weight.reshape(-1)[uniq] += np.bincount(r_inv, dw, minlength=len(uniq))
        st.count.reshape(-1)[uniq] += np.bincount(r_inv, minlength=len(uniq))

    def _grow(
        self, n_users: int, n_items: int, n_scen: int, new_text: tuple[FloatMatrix, np.ndarray]
    ) -> None:
        """Make room for the users, items and scenarios the new events bring.

        Arrays keep spare rows (``_reserve``), so a stream of events from new users or items
        costs amortised O(dim) per new row instead of a copy of every array each time.
        """
        st, p = self.state_, self.params_
        old_s = st.text.shape[1]
        if n_scen > old_s:
            # An unseen scenario starts with neutral attention logits (0): uniform weight.
            att = np.zeros((n_scen, n_scen), np.float32)
            att[:old_s, :old_s] = p.att
            feat = np.zeros((2, n_scen, n_scen), np.float32)
            feat[:, :old_s, :old_s] = p.feat
            p.att, p.feat = att, feat

            def widen(a: np.ndarray) -> np.ndarray:
                out = np.zeros((a.shape[0], n_scen, *a.shape[2:]), a.dtype)
                out[:, :old_s] = a
                return out

            st.text, st.ids = widen(st.text), widen(st.ids)
            st.weight, st.count = widen(st.weight), widen(st.count)
        st.text, st.ids = _reserve(st.text, n_users), _reserve(st.ids, n_users)
        st.weight, st.count = _reserve(st.weight, n_users), _reserve(st.count, n_users)
        st.ref = _reserve(st.ref, n_users)
        old_i = self.n_items_
        if n_items > old_i:
            self.item_text_ = _reserve(self.item_text_, n_items)
            self.has_text_ = _reserve(self.has_text_, n_items)
            p.id_in, p.id_out = _reserve(p.id_in, n_items), _reserve(p.id_out, n_items)
            p.bias = _reserve(p.bias, n_items)
            self.item_vecs_ = _reserve(self.item_vecs_, n_items)
            # New items have no trained id rows (zero) and are scored through their text only.
            text, has = new_text
            self.item_text_[old_i:n_items] = text
            self.has_text_[old_i:n_items] = has
            self.item_vecs_[old_i:n_items, : p.item_proj.shape[0]] = text @ p.item_proj.T
            self.n_items_ = n_items

    def _new_item_text(
        self, events: pl.DataFrame, old_i: int, n_items: int
    ) -> tuple[FloatMatrix, np.ndarray]:
        """Text vectors of items ``old_i..n_items-1`` from catalog columns of the events."""
        d = self.item_text_.shape[1]
        vecs = np.zeros((n_items - old_i, d), np.float32)
        has = np.zeros(n_items - old_i, bool)
        cols = [c for c in self.config.template.columns if c in events.columns]
        if not cols or n_items <= old_i:
            return vecs, has
        cat = (
            events.filter(pl.col(C.ITEM_IDX) >= old_i)
            .group_by(C.ITEM_IDX, maintain_order=True)
            .agg([pl.col(c).cast(pl.String).drop_nulls().first() for c in cols])
            .with_columns(pl.col(C.ITEM_IDX).cast(pl.String).alias(C.ITEM_ID))
        )
        texts, ok = render_items(cat, self.config.template)
        if ok.any():
            pos = cat[C.ITEM_IDX].to_numpy().astype(np.int64)[ok] - old_i
            vecs[pos] = self._encode([t for t, k in zip(texts, ok, strict=True) if k])
            has[pos] = True
        return vecs, has

    def _encode(
        self, texts: list[str], *, kind: Literal["passage", "query"] = "passage"
    ) -> FloatMatrix:
        enc = self._get_encoder()
        if enc.fingerprint != self.encoder_fingerprint_:
            raise EncoderError(
                f"the text encoder now has fingerprint {enc.fingerprint!r} but the model was "
                f"fitted with {self.encoder_fingerprint_!r}; its vectors would not match. Fix: "
                "make the same model files available (config.encoder) or refit"
            )
        return enc.encode(texts, kind=kind)

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        p, st = self.params_, self.state_
        n_u, n_i = self.train_state.n_users, self.n_items_  # without the spare rows
        return {
            "item_text": self.item_text_[:n_i],
            "has_text": self.has_text_[:n_i],
            "user_proj": p.user_proj,
            "item_proj": p.item_proj,
            "id_in": p.id_in[:n_i],
            "id_out": p.id_out[:n_i],
            "bias": p.bias[:n_i],
            "att": p.att,
            "feat": p.feat,
            "state.text": st.text[:n_u],
            "state.ids": st.ids[:n_u],
            "state.weight": st.weight[:n_u],
            "state.count": st.count[:n_u],
            "state.ref": st.ref[:n_u],
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        # Copies: the loaded buffers may be read-only, and partial_fit updates in place.
        a = {k: np.array(v) for k, v in arrays.items()}
        self.item_text_ = a["item_text"]
        self.has_text_ = a["has_text"].astype(bool)
        self.n_items_ = len(self.item_text_)
        self.params_ = _Params(
            a["user_proj"], a["item_proj"], a["id_in"], a["id_out"], a["bias"], a["att"], a["feat"]
        )
        self.state_ = _State(
            a["state.text"], a["state.ids"], a["state.weight"], a["state.count"], a["state.ref"]
        )
        self._refresh_items()

    def _manifest_extra(self) -> dict[str, Any]:
        return {"encoder_fingerprint": self.encoder_fingerprint_}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        fp = extra.get("encoder_fingerprint")
        if not isinstance(fp, str):
            raise ConfigError("run directory lacks the encoder fingerprint of a fusion model")
        self.encoder_fingerprint_ = fp


# ---------------------------------------------------------------------- training data
def _event_arrays(
    data: Dataset, query_indices: Callable[[Sequence[str | None]], IdxArray]
) -> dict[str, np.ndarray]:
    """The dataset's events as arrays in the order of ``data.histories`` (user, time, input
    order), with each event's query row from ``query_indices`` (-1 when it has none)."""
    h = data.histories
    n = len(h.item_idx)
    query = np.full(n, -1, np.int64)
    if C.QUERY in data.events.columns:
        # The same sort as Dataset.histories, so that query rows line up with its arrays.
        ordered = (
            data.events.select(C.USER_IDX, C.TIMESTAMP, C.QUERY)
            .with_row_index("_order")
            .sort([C.USER_IDX, C.TIMESTAMP, "_order"])
        )
        query = np.asarray(query_indices(ordered[C.QUERY].to_list()), np.int64)
    users = np.repeat(np.arange(data.n_users, dtype=np.int64), np.diff(h.indptr))
    return {
        "user": users,
        "scenario": h.scenario_idx.astype(np.int64),
        "item": h.item_idx.astype(np.int64),
        "query": query,
        "timestamp": h.timestamp.astype(np.int64),
        "weight": h.weight.astype(np.float64),
    }


@dataclass
class _Examples:
    """Leave-item-out training examples, grouped by user.

    Attributes:
        user, item, target, pair: (n_examples,) example arrays; ``pair`` indexes the distinct
            (user, item) pairs.
        indptr: (n_users_total + 1,) CSR offsets of each user's examples.
        users: (n_users,) users with at least one example (the rows of the loader).
        own_w, own_n: (n_pairs, S) decayed weight and count of each pair's events per scenario.
        own_q: sparse (n_pairs * S, n_queries) decayed query weights of each pair's events.
        query_text: float32 (n_queries, d_text) query vectors, the columns of ``own_q``.
    """

    user: IdxArray
    item: IdxArray
    target: IdxArray
    pair: IdxArray
    indptr: IdxArray
    users: IdxArray
    own_w: F64
    own_n: F64
    own_q: sp.csr_matrix
    query_text: FloatMatrix

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_examples(self) -> int:
        return len(self.user)

    @classmethod
    def build(
        cls,
        ev: Mapping[str, np.ndarray],
        dw: F64,
        state: _State,
        n_items: int,
        n_scen: int,
        query_text: FloatMatrix,
        query_weight: float,
    ) -> _Examples:
        users, items, scen = ev["user"], ev["item"], ev["scenario"]
        pair_keys, pair_of = np.unique(users * n_items + items, return_inverse=True)
        n_pairs = len(pair_keys)
        flat = pair_of * n_scen + scen
        own_w = np.bincount(flat, dw, minlength=n_pairs * n_scen).astype(np.float64)
        own_w = own_w.reshape(n_pairs, n_scen)
        own_n = np.bincount(flat, minlength=n_pairs * n_scen).astype(np.float64)
        own_n = own_n.reshape(n_pairs, n_scen)
        q = ev["query"]
        ok = q >= 0
        own_q = sp.csr_matrix(
            (dw[ok] * query_weight, (flat[ok], q[ok])), shape=(n_pairs * n_scen, len(query_text))
        )
        own_q.sum_duplicates()
        ex_keys = np.unique(flat)
        pair, target = ex_keys // n_scen, ex_keys % n_scen
        ex_user = pair_keys[pair] // n_items
        # Users need evidence left once the item is taken out, else there is nothing to learn.
        # (the same test as in ``batch``).
        full_w = state.weight[ex_user]
        left = (
            (state.count[ex_user] - own_n[pair] > 0.5) & (full_w - own_w[pair] > _NOISE * full_w)
        ).any(axis=1)
        pair, target, ex_user = pair[left], target[left], ex_user[left]
        n_users = state.count.shape[0]
        indptr = np.zeros(n_users + 1, np.int64)
        np.cumsum(np.bincount(ex_user, minlength=n_users), out=indptr[1:])
        return cls(
            user=ex_user,  # already sorted by user: pair keys sort by user first
            item=pair_keys[pair] % n_items,
            target=target,
            pair=pair,
            indptr=indptr,
            users=np.flatnonzero(np.diff(indptr) > 0),
            own_w=own_w,
            own_n=own_n,
            own_q=own_q,
            query_text=query_text.astype(np.float32),
        )

    def batch(
        self,
        rows: IdxArray,
        rng: np.random.Generator,
        state: _State,
        item_text: FloatMatrix,
        R: sp.csr_matrix,
        pools: Mapping[int, IdxArray],
        n_scen: int,
        per_user: int,
        negatives: int,
    ) -> dict[str, Any]:
        """One batch: up to ``per_user`` random examples of each user in ``rows``.

        The leave-item-out text vector of an example is ``(full - own) / ||full - own||``: the
        projection is linear, so the loss projects each user's full sums and each item's vector
        once and never materialises (examples, scenarios, d_text) arrays; the norms come from
        dot products in text space.
        """
        users = self.users[rows]
        starts = self.indptr[users]
        lens = self.indptr[users + 1] - starts
        first = np.cumsum(lens) - lens
        owner = np.repeat(np.arange(len(users)), lens)
        cand = starts[owner] + np.arange(int(lens.sum())) - first[owner]
        if (lens > per_user).any():
            # owner is sorted, so sorting by (owner, random) keeps each user's block in place
            order = np.lexsort((rng.random(len(cand)), owner))
            rank = np.empty(len(cand), np.int64)
            rank[order] = np.arange(len(cand)) - first[owner]
            take = rank < per_user
            cand, owner = cand[take], owner[take]
        ei, et, ep = self.item[cand], self.target[cand], self.pair[cand]
        eu = users[owner]
        own_w, own_n = self.own_w[ep], self.own_n[ep]
        full = state.text[users].astype(np.float64)  # (n_users, S, d)
        e = item_text[ei].astype(np.float64)  # (E, d)
        full_e = np.einsum("esd,ed->es", full[owner], e)
        sq = (full**2).sum(-1)[owner] - 2 * own_w * full_e + own_w**2 * (e**2).sum(-1)[:, None]
        q_rows = np.zeros(0, np.int64)
        q_vec = np.zeros((0, item_text.shape[1]), np.float32)
        if self.own_q.nnz:
            flat = (ep[:, None] * n_scen + np.arange(n_scen)).ravel()
            sub = self.own_q[flat]
            q_rows = np.flatnonzero(np.diff(sub.indptr) > 0)
            if len(q_rows):
                qv = np.asarray(sub[q_rows] @ self.query_text, np.float64)
                ex_r, s_r = q_rows // n_scen, q_rows % n_scen
                f = full[owner[ex_r], s_r]
                sq[ex_r, s_r] += (
                    -2 * (f * qv).sum(-1)
                    + 2 * own_w[ex_r, s_r] * (e[ex_r] * qv).sum(-1)
                    + (qv**2).sum(-1)
                )
                q_vec = qv.astype(np.float32)
        count = state.count[eu] - own_n
        weight = state.weight[eu] - own_w
        # What is left once the item is taken out must stand above the rounding error of the
        # subtraction (float32 sums), else the id mean and the text direction would be noise
        # blown up by a tiny divisor (strong decay makes old evidence tiny next to a new item).
        active = (count > 0.5) & (weight > _NOISE * state.weight[eu])
        weight = np.where(active, weight, 0.0)
        norm = np.sqrt(np.maximum(sq, 0.0))
        ok = active & (norm > _NOISE * np.linalg.norm(full, axis=-1)[owner])
        inv_norm = np.divide(1.0, norm, out=np.zeros_like(norm), where=ok)
        feats = np.stack([np.log1p(np.maximum(count, 0)), np.log1p(weight)], -1)
        r_rows = (users[:, None] * n_scen + np.arange(n_scen)).ravel()
        rb = R[r_rows]  # each (user, scenario) row is one bag of weighted item ids
        neg = {
            int(t): pools[int(t)][rng.integers(0, len(pools[int(t)]), negatives)]
            for t in np.unique(et)
        }
        uniq, inv = np.unique(np.concatenate([ei, *neg.values()]), return_inverse=True)
        cuts = np.cumsum([len(ei), *(len(v) for v in neg.values())])
        parts = np.split(inv, cuts[:-1])
        return {
            "full": torch.from_numpy(state.text[users]),
            "inv_norm": torch.from_numpy(inv_norm.astype(np.float32)),
            "q_rows": torch.from_numpy(q_rows),
            "q_vec": torch.from_numpy(q_vec),
            "active": torch.from_numpy(active),
            "feats": torch.from_numpy(feats.astype(np.float32)),
            "weight": torch.from_numpy(weight.astype(np.float32)),
            "own_w": torch.from_numpy(own_w.astype(np.float32)),
            "owner": torch.from_numpy(owner.astype(np.int64)),
            "item": torch.from_numpy(ei),
            "target": torch.from_numpy(et),
            "uniq": torch.from_numpy(uniq),
            "pos_k": torch.from_numpy(parts[0]),
            "neg_k": {t: torch.from_numpy(k) for t, k in zip(neg, parts[1:], strict=True)},
            "hist_items": torch.from_numpy(rb.indices.astype(np.int64)),
            "hist_offsets": torch.from_numpy(rb.indptr[:-1].astype(np.int64)),
            "hist_weights": torch.from_numpy(rb.data.astype(np.float32)),
        }


def _loss(
    module: nn.Module, b: dict[str, Any], item_text: torch.Tensor, cfg: ScenarioFusionConfig
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy of a batch's examples (``ScenarioFusion._learn``)."""
    if not isinstance(module, _Net):
        raise TypeError(f"expected the fusion network, got {type(module).__name__}")
    net = module
    n_ex, n_scen = b["active"].shape
    uniq = b["uniq"]
    texts = item_text[uniq]
    pu = net.user_proj(texts)  # (n_uniq, dim): each batch item projected once per side
    own = b["own_w"].unsqueeze(-1) * pu[b["pos_k"]].unsqueeze(1)
    text = net.user_proj(b["full"])[b["owner"]] - own  # (E, S, dim)
    if len(b["q_rows"]):
        flat = text.reshape(n_ex * n_scen, -1)
        text = flat.index_add(0, b["q_rows"], -net.user_proj(b["q_vec"])).view(n_ex, n_scen, -1)
    parts = [text * b["inv_norm"].unsqueeze(-1)]
    sparse = cfg.train.grad_clip is None  # see _LazyAdam
    if cfg.id_dim:
        bags = functional.embedding_bag(
            b["hist_items"],
            net.id_in,
            b["hist_offsets"],
            mode="sum",
            per_sample_weights=b["hist_weights"],
            sparse=sparse,
        )
        sums = bags.view(-1, n_scen, cfg.id_dim)[b["owner"]]
        own_ids = functional.embedding(b["item"], net.id_in, sparse=sparse)
        sums = sums - b["own_w"].unsqueeze(-1) * own_ids.unsqueeze(1)
        w = b["weight"].unsqueeze(-1)
        parts.append(torch.where(w > 0, sums / w.clamp_min(1e-12), torch.zeros_like(sums)))
    u = torch.cat(parts, dim=-1)
    learned = cfg.fusion == "learned"
    v = _fuse(
        u,
        b["feats"],
        b["active"],
        b["target"] if learned else None,
        net.att,
        net.feat if cfg.per_user else None,
    )
    out_ids = functional.embedding(uniq, net.id_out, sparse=sparse)
    z = torch.cat([net.item_proj(texts), out_ids], dim=1)
    bias = net.bias[uniq] if cfg.item_bias else torch.zeros(len(uniq))
    pk = b["pos_k"]
    pos = (v * z[pk]).sum(-1) + bias[pk]
    losses = []
    for t, nk in b["neg_k"].items():
        rows = torch.nonzero(b["target"] == t).squeeze(1)
        logits = v[rows] @ z[nk].T + bias[nk]
        # The positive drawn as its own negative would be a contradiction, not a negative.
        logits = logits.masked_fill(nk.unsqueeze(0) == pk[rows].unsqueeze(1), -1e9)
        all_logits = torch.cat([pos[rows].unsqueeze(1), logits], dim=1)
        losses.append(torch.logsumexp(all_logits, dim=1) - pos[rows])
    return torch.cat(losses).mean()


__all__ = ["ScenarioFusion", "ScenarioFusionConfig"]
