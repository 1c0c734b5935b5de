"""CrossScenarioTransformer: one causal transformer over a user's mixed history in every scenario,
with items represented by their language-model text embedding. scenerec's flagship model.

Items are their text vector (whitened, then projected by a mixture of experts, as in UniSRec,
Hou et al., 2022) plus an id embedding. The id embedding is dropped at random in training so
that text alone still ranks well: items with no interactions (new items) are recommended from
their text, items without text fall back to their id. With ``scenario_adapters`` each expert's
weights are the product of shared and per-scenario weights (STAR, Sheng et al., 2021). A user's
whole history across scenarios is one sequence; each event's token adds embeddings of its
scenario, behaviour, recency position and bucketised log time gap to the previous event. The
output at the newest event, plus the embedding of the *target* scenario (the query), reads out
the user's interest for that scenario, so users with no history in the target scenario still get
recommendations from what they did elsewhere. Training predicts, at every position whose next
event lies in a target scenario, that next item against the scenario's items (full softmax, or a
sampled softmax for large catalogues). Use it when users act in several scenarios, when items
have text, or when new items must be recommended before anyone has used them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import torch
from pydantic import Field
from torch import nn

from scenerec.data.dataset import Dataset, Histories
from scenerec.errors import ConfigError
from scenerec.models.base import BaseRecommender, ModelConfig, UserBatch
from scenerec.models.training import (
    CausalEncoder,
    Holdout,
    IndexBatches,
    TrainConfig,
    Trainer,
    batch_windows,
    config_fingerprint,
    filter_histories,
    histories_matrix,
    last_windows,
    load_module_arrays,
    log_gap_buckets,
    module_arrays,
    set_torch_threads,
)
from scenerec.schema import FloatMatrix, IdxArray
from scenerec.text import EncoderConfig, ItemEmbeddings, ItemTextTemplate

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


class CrossScenarioTransformerConfig(ModelConfig):
    """Attributes:
    dim: width of item vectors and hidden states.
    layers: transformer blocks.
    heads: attention heads (``dim`` must be a multiple).
    max_len: most recent events read per user (all scenarios together).
    dropout: dropout on token embeddings, attention and residual branches.
    id_dropout: probability that an item's id embedding is left out in a training step, so the
        text path learns to stand alone (items without text always keep their id).
    use_ids: add learned id embeddings to item vectors.
    use_text: use item text vectors (``text`` encoder or ``set_item_embeddings``).
    whiten_dim: text vectors are whitened (PCA on the training catalogue) to this many
        dimensions before the experts.
    whiten_shrinkage: each principal direction is scaled by
        ``1 / sqrt(variance + whiten_shrinkage * mean variance)`` (0: full whitening, which
        amplifies noise on small catalogues; large: plain centring).
    experts: projection experts mixed by a softmax gate per item.
    scenario_adapters: STAR-style expert weights, shared x specific to the item's scenario.
    time_buckets: log2 time-gap buckets (bucket 0 marks a user's first event).
    target_scenarios: scenarios whose next events are training targets; ``None`` for all.
    n_negatives: softmax negatives per target scenario and batch. A scenario with at most this
        many items (or any scenario, with 0) trains with a full softmax over its items; a larger
        one with a sampled softmax against this many uniform draws from its items (the
        log-probability correction is a constant for uniform draws and drops out).
    text: encoder used by ``fit`` to embed item text when no embeddings were set; ``None``
        uses ids only unless ``set_item_embeddings`` is called.
    template: how catalog fields become item text.
    train: the training loop; ``batch_size`` counts users.
    """

    dim: int = Field(default=64, ge=2)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    max_len: int = Field(default=50, ge=2)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    id_dropout: float = Field(default=0.3, ge=0, le=1)
    use_ids: bool = True
    use_text: bool = True
    whiten_dim: int = Field(default=128, ge=1)
    # On Food-Kitchen (MiniLM titles) 1.0 beat 10.0 (near-plain centring) and ids alone on the
    # validation users; tiny catalogues (tests) need more shrinkage.
    whiten_shrinkage: float = Field(default=1.0, ge=0)
    experts: int = Field(default=4, ge=1)
    scenario_adapters: bool = False
    time_buckets: int = Field(default=32, ge=2)
    target_scenarios: tuple[str, ...] | None = None
    n_negatives: int = Field(default=1024, ge=0)
    text: EncoderConfig | None = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    train: TrainConfig = TrainConfig(epochs=20, batch_size=256, lr=1e-3)


@dataclass
class _Batch:
    """One training batch (B users, L positions, N predicted positions, M distinct items)."""

    items: torch.Tensor  # (B, L) int64 local row into ``unique`` (0 where padding)
    scen: torch.Tensor  # (B, L) int64 scenario token ids
    beh: torch.Tensor  # (B, L) int64
    gap: torch.Tensor  # (B, L) int64
    valid: torch.Tensor  # (B, L) bool
    rows: torch.Tensor  # (N,) batch row of each predicted position
    cols: torch.Tensor  # (N,) column of each predicted position
    target: torch.Tensor  # (N,) local row into ``unique`` of the next item
    target_scen: torch.Tensor  # (N,) scenario of the next item
    unique: torch.Tensor  # (M,) global item indices whose vectors this batch needs
    candidates: dict[int, torch.Tensor]  # scenario -> local rows of its candidate items
    sampled: frozenset[int]  # scenarios whose candidates are sampled negatives, not all items


class _Net(nn.Module):
    """The model; ``text`` and the item masks are non-persistent buffers (saved separately)."""

    text: torch.Tensor  # (n_items, whiten_dim) float32 whitened text vectors (0 without text)
    has_text: torch.Tensor  # (n_items,) bool
    has_events: torch.Tensor  # (n_items,) bool: the id embedding was trained
    home: torch.Tensor  # (n_items,) int64 scenario whose adapter the item uses

    def __init__(
        self,
        cfg: CrossScenarioTransformerConfig,
        n_items: int,
        n_scenarios: int,
        n_behaviors: int,
        text: torch.Tensor,
        has_text: torch.Tensor,
        has_events: torch.Tensor,
        home: torch.Tensor,
    ) -> None:
        super().__init__()
        d, k, e = cfg.dim, cfg.whiten_dim, cfg.experts
        self.cfg = cfg
        self.n_scenarios = n_scenarios
        self.register_buffer("text", text, persistent=False)
        self.register_buffer("has_text", has_text, persistent=False)
        self.register_buffer("has_events", has_events, persistent=False)
        self.register_buffer("home", home, persistent=False)
        # Mixture-of-experts adapter: expert e maps (z - bias_e) @ weight_e; STAR multiplies the
        # shared weights by per-scenario ones (index n_scenarios: items of no known scenario).
        self.gate = nn.Linear(k, e)
        self.expert_w = nn.Parameter(torch.randn(e, k, d) * (1.0 / k) ** 0.5)
        self.expert_b = nn.Parameter(torch.zeros(e, k))
        if cfg.scenario_adapters:
            self.spec_w = nn.Parameter(torch.ones(n_scenarios + 1, e, k, d))
            self.spec_b = nn.Parameter(torch.zeros(n_scenarios + 1, e, k))
        self.ids = nn.Embedding(n_items, d)
        # A residual on the text vector, so it starts neutral for items with text; items
        # without text (all of them with use_text=False) start random like any id embedding:
        # all-zero item vectors would leave the model with nothing to tell items apart.
        nn.init.normal_(self.ids.weight, std=0.02)
        with torch.no_grad():
            if cfg.use_text:
                self.ids.weight[has_text] = 0.0
        self.scenario = nn.Embedding(n_scenarios + 1, d)  # last row: unknown scenario
        self.behavior = nn.Embedding(max(n_behaviors, 1), d)
        self.gaps = nn.Embedding(cfg.time_buckets, d)
        self.positions = nn.Embedding(cfg.max_len, d)
        self.query = nn.Embedding(n_scenarios + 1, d)
        for emb in (self.scenario, self.behavior, self.gaps, self.positions, self.query):
            nn.init.normal_(emb.weight, std=0.02)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = CausalEncoder(d, cfg.layers, cfg.heads, cfg.dropout)
        self.out_norm = nn.LayerNorm(d)
        self.out_ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    # ------------------------------------------------------------------ pieces
    def item_vectors(self, idx: torch.Tensor) -> torch.Tensor:
        """(M,) global item indices -> (M, d) item vectors (id dropout in training mode)."""
        cfg = self.cfg
        out = torch.zeros(len(idx), cfg.dim, device=idx.device)
        if cfg.use_text:
            z = self.text[idx]
            gate = torch.softmax(self.gate(z), dim=-1)  # (M, E)
            if cfg.scenario_adapters:
                home = self.home[idx]
                proj = torch.zeros_like(out)
                for s in torch.unique(home).tolist():
                    rows = home == s
                    w = self.expert_w * self.spec_w[s]
                    b = self.expert_b + self.spec_b[s]
                    proj[rows] = _experts(z[rows], gate[rows], w, b)
            else:
                proj = _experts(z, gate, self.expert_w, self.expert_b)
            out = out + proj * self.has_text[idx, None]
        if cfg.use_ids:
            keep = self.has_events[idx]
            if self.training and cfg.id_dropout > 0:
                dropped = torch.rand(len(idx), device=idx.device) < cfg.id_dropout
                # Items without text always keep their id: it is all they have.
                keep = keep & (~dropped | ~self.has_text[idx])
            out = out + self.ids(idx) * keep[:, None]
        return out

    def encode(
        self,
        vectors: torch.Tensor,
        scen: torch.Tensor,
        beh: torch.Tensor,
        gap: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """(B, L, d) item vectors of the history plus event features -> (B, L, d) states."""
        L = vectors.shape[1]
        x = vectors + self.scenario(scen) + self.behavior(beh) + self.gaps(gap)
        x = x + self.positions.weight[-L:][None]
        x = self.drop(self.norm(x)) * valid[..., None]
        out: torch.Tensor = self.encoder(x, valid)
        return out

    def readout(self, hidden: torch.Tensor, target_scen: torch.Tensor) -> torch.Tensor:
        """(N, d) states + the target scenario's query -> (N, d) interest vectors."""
        r = self.out_norm(hidden + self.query(target_scen))
        out: torch.Tensor = r + self.out_ffn(r)
        return out

    def forward(self, batch: _Batch) -> torch.Tensor:
        """Mean cross-entropy of the next items of ``batch``."""
        vecs = self.item_vectors(batch.unique)
        hidden = self.encode(vecs[batch.items], batch.scen, batch.beh, batch.gap, batch.valid)
        user = self.readout(hidden[batch.rows, batch.cols], batch.target_scen)
        total = user.new_zeros(())
        for s, cand in batch.candidates.items():
            sel = batch.target_scen == s
            if not bool(sel.any()):
                continue
            u, tgt = user[sel], batch.target[sel]
            if s in batch.sampled:
                pos = (u * vecs[tgt]).sum(-1, keepdim=True)
                neg = u @ vecs[cand].T
                neg = neg.masked_fill(cand[None, :] == tgt[:, None], float("-inf"))
                logits = torch.cat([pos, neg], dim=1)
                labels = torch.zeros(len(u), dtype=torch.long, device=u.device)
            else:
                logits = u @ vecs[cand].T
                labels = torch.searchsorted(cand, tgt)  # candidates are sorted local rows
            total = total + nn.functional.cross_entropy(logits, labels, reduction="sum")
        return total / max(len(batch.rows), 1)


def _experts(z: torch.Tensor, gate: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_e gate[:, e] * (z - b[e]) @ w[e]; z (M, k), gate (M, E), w (E, k, d), b (E, k)."""
    proj = torch.einsum("mk,ekd->med", z, w) - torch.einsum("ek,ekd->ed", b, w)[None]
    return torch.einsum("me,med->md", gate, proj)


class CrossScenarioTransformer(BaseRecommender[CrossScenarioTransformerConfig]):
    """Text-and-id item vectors, a causal transformer over the mixed history, a scenario query.

    Item text comes from ``set_item_embeddings`` (precomputed ``ItemEmbeddings``, e.g. from
    ``scenerec.text.encode_items``) or, when none were set, from ``config.text`` at ``fit``.
    """

    config_class = CrossScenarioTransformerConfig
    name = "cross_scenario_transformer"

    def __init__(self, config: CrossScenarioTransformerConfig | None = None) -> None:
        super().__init__(config)
        self._embeddings: ItemEmbeddings | None = None
        self.encoder_fingerprint: str | None = None

    def set_item_embeddings(self, embeddings: ItemEmbeddings) -> Self:
        """Use these text vectors at the next ``fit`` instead of encoding the catalogue.

        Rows are matched by item id; items absent from ``embeddings`` (or with
        ``has_text=False``) have no text and use their id embedding only.
        """
        self._embeddings = embeddings
        return self

    # ------------------------------------------------------------------ features
    def _text_features(self, data: Dataset) -> tuple[FloatMatrix, BoolArray]:
        """Raw text vectors (n_items, dim) and the has-text mask, aligned with the item vocab."""
        cfg = self.config
        if not cfg.use_text:
            return np.zeros((data.n_items, 1), np.float32), np.zeros(data.n_items, bool)
        emb = self._embeddings
        if emb is None and cfg.text is not None:
            from scenerec.text import encode_items, make_encoder

            emb = encode_items(data, make_encoder(cfg.text), cfg.template)
        if emb is None:
            logger.info("%s: no item text (text=None and no embeddings set): ids only", self.name)
            return np.zeros((data.n_items, 1), np.float32), np.zeros(data.n_items, bool)
        self.encoder_fingerprint = emb.fingerprint
        vectors, has_text = emb.aligned(data.item_vocab.to_list())
        return vectors, has_text

    def _whiten(self, vectors: FloatMatrix, has_text: BoolArray) -> None:
        """Fit the PCA whitening (mean, projection) on the items that have text."""
        k = self.config.whiten_dim
        dim = vectors.shape[1]
        self.text_mean_ = np.zeros(dim, np.float32)
        self.text_proj_ = np.zeros((dim, k), np.float32)
        x = vectors[has_text].astype(np.float64)
        if len(x) < 2:
            return
        self.text_mean_ = x.mean(axis=0).astype(np.float32)
        xc = x - x.mean(axis=0)
        cov = xc.T @ xc / len(x)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][:k]
        vals, vecs = vals[order], vecs[:, order]
        # Shrunk whitening: dividing by sqrt(var + shrink * mean var) evens out the strong
        # directions without blowing the weak ones (noise, on a small catalogue) up to unit scale.
        mean_var = max(float(vals.clip(min=0).mean()), 1e-12)
        scale = np.sqrt(mean_var / (vals.clip(min=0) + self.config.whiten_shrinkage * mean_var))
        proj = np.zeros((dim, k))
        proj[:, : len(vals)] = vecs * scale
        self.text_proj_ = proj.astype(np.float32)

    def _whitened(self, vectors: FloatMatrix, has_text: BoolArray) -> FloatMatrix:
        z = ((vectors - self.text_mean_) @ self.text_proj_).astype(np.float32)
        z[~has_text] = 0.0
        return z

    def _event_fields(self, h: Histories) -> dict[str, np.ndarray]:
        """Per-event token features of histories (unknown scenario -1 -> its own id)."""
        n_s = len(self.train_state.vocabularies["scenarios"])
        scen = np.where(h.scenario_idx < 0, n_s, h.scenario_idx)
        n_b = max(len(self.train_state.vocabularies["behaviors"]), 1)
        return {
            "item": h.item_idx,
            "scen": scen,
            "beh": np.clip(h.behavior_idx, 0, n_b - 1),
            "gap": log_gap_buckets(h.timestamp, h.indptr, self.config.time_buckets),
        }

    def _build(
        self, text: FloatMatrix, has_text: BoolArray, has_events: BoolArray, home: IdxArray
    ) -> _Net:
        v = self.train_state.vocabularies
        return _Net(
            self.config,
            len(v["items"]),
            len(v["scenarios"]),
            len(v["behaviors"]),
            torch.from_numpy(text),
            torch.from_numpy(has_text),
            torch.from_numpy(has_events),
            torch.from_numpy(home),
        )

    # ------------------------------------------------------------------ fit
    def _fit(self, data: Dataset) -> None:
        cfg = self.config
        state = self.train_state
        h_all = state.histories
        n_s = len(data.scenario_vocab)
        targets = self._target_scenarios()
        raw, has_text = self._text_features(data)
        self._whiten(raw, has_text)
        text = self._whitened(raw, has_text)
        has_events = np.bincount(h_all.item_idx, minlength=data.n_items) > 0
        home = _home_scenarios(h_all, state.scenario_items, data.n_items, n_s)
        if not cfg.use_ids and not has_text.any():
            raise ConfigError(
                "CrossScenarioTransformer has neither ids (use_ids=false) nor item text. "
                "Fix: set use_ids=true, or give text via config.text or set_item_embeddings"
            )

        holdout = Holdout.draw(
            h_all,
            cfg.train.valid_users,
            seed=cfg.seed,
            scenarios=targets,
            pick=cfg.train.valid_pick,
        )
        h = filter_histories(h_all, holdout.keep)
        fields = self._event_fields(h)
        rows = np.flatnonzero(np.diff(h.indptr) >= 2)
        win, valid = last_windows(h.indptr, rows, cfg.max_len + 1, fields)
        is_target = np.zeros(n_s + 1, bool)
        is_target[targets] = True
        cand_items = {
            int(s): state.scenario_items[int(s)]
            for s in targets
            if len(state.scenario_items.get(int(s), ())) > 0
        }

        def collate(batch: IdxArray, rng: np.random.Generator) -> _Batch:
            w = {k: v[batch] for k, v in win.items()}
            ok = valid[batch]
            first = int(np.argmax(ok.any(axis=0)))
            w = {k: v[:, first:] for k, v in w.items()}
            ok = ok[:, first:]
            inp_ok, tgt_ok = ok[:, :-1], ok[:, 1:]
            tgt_scen = w["scen"][:, 1:]
            pred = inp_ok & tgt_ok & is_target[tgt_scen]
            r, c = np.nonzero(pred)
            tgt_items = w["item"][:, 1:][r, c]
            tgt_s = tgt_scen[r, c]
            cands: dict[int, IdxArray] = {}
            sampled: set[int] = set()
            for s in np.unique(tgt_s).tolist():
                pool = cand_items.get(int(s))
                if pool is None:
                    continue
                if 0 < cfg.n_negatives < len(pool):
                    cands[int(s)] = pool[rng.integers(0, len(pool), cfg.n_negatives)]
                    sampled.add(int(s))
                else:
                    cands[int(s)] = pool
            hist = w["item"][:, :-1]
            parts = [hist[inp_ok], tgt_items, *cands.values()]
            unique, inv = np.unique(np.concatenate(parts), return_inverse=True)
            n_hist = int(inp_ok.sum())
            local_hist = np.zeros(hist.shape, np.int64)
            local_hist[inp_ok] = inv[:n_hist]
            local_tgt = inv[n_hist : n_hist + len(tgt_items)]
            local_c: dict[int, torch.Tensor] = {}
            at = n_hist + len(tgt_items)
            for s, pool in cands.items():
                local_c[s] = torch.from_numpy(inv[at : at + len(pool)].astype(np.int64))
                at += len(pool)
            return _Batch(
                items=torch.from_numpy(local_hist),
                scen=torch.from_numpy(w["scen"][:, :-1].astype(np.int64)),
                beh=torch.from_numpy(w["beh"][:, :-1].astype(np.int64)),
                gap=torch.from_numpy(w["gap"][:, :-1].astype(np.int64)),
                valid=torch.from_numpy(inp_ok),
                rows=torch.from_numpy(r.astype(np.int64)),
                cols=torch.from_numpy(c.astype(np.int64)),
                target=torch.from_numpy(local_tgt.astype(np.int64)),
                target_scen=torch.from_numpy(tgt_s.astype(np.int64)),
                unique=torch.from_numpy(unique.astype(np.int64)),
                candidates=local_c,
                sampled=frozenset(sampled),
            )

        torch.manual_seed(cfg.seed)
        set_torch_threads()
        net = self._build(text, has_text, has_events, home)
        seen = histories_matrix(h, data.n_items)

        def validate(_module: nn.Module) -> float:
            vecs = net.item_vectors(torch.arange(data.n_items))

            def score(users: IdxArray, s: int, items: IdxArray) -> np.ndarray:
                return self._score_with(net, vecs, h, UserBatch(users, s, state), items, fields)

            return holdout.ndcg(score, state.scenario_items, seen)

        def loss_fn(module: nn.Module, batch: _Batch) -> torch.Tensor:
            out: torch.Tensor = module(batch)
            return out

        trainer = Trainer(
            cfg.train,
            seed=cfg.seed,
            fingerprint=config_fingerprint(cfg, data.fingerprint),
            name=self.name,
        )
        lengths = np.minimum(np.diff(h.indptr)[rows], cfg.max_len + 1)
        loader = IndexBatches(
            len(rows), cfg.train.batch_size, collate, seed=cfg.seed, lengths=lengths
        )
        result = trainer.fit(net, loader, loss_fn, validate=validate if len(holdout) else None)
        self.fit_info = {
            "train": result.to_dict(),
            "sequences": len(rows),
            "items_with_text": int(has_text.sum()),
            "items_with_events": int(has_events.sum()),
        }
        self._set_net(net, text, has_text, has_events, home)

    def _target_scenarios(self) -> IdxArray:
        v = self.train_state.vocabularies["scenarios"]
        names = self.config.target_scenarios
        if names is None:
            return np.arange(len(v), dtype=np.int64)
        return np.array([v.index(n) for n in names], dtype=np.int64)

    def _set_net(
        self,
        net: _Net,
        text: FloatMatrix,
        has_text: BoolArray,
        has_events: BoolArray,
        home: IdxArray,
    ) -> None:
        net.eval()
        self.net_ = net
        self.text_ = text
        self.has_text_ = has_text
        self.has_events_ = has_events
        self.home_ = home
        with torch.no_grad():
            self.item_vectors_ = net.item_vectors(torch.arange(len(has_text)))
        self.fields_ = self._event_fields(self.train_state.histories)

    # ------------------------------------------------------------------ score
    def _score_with(
        self,
        net: _Net,
        vecs: torch.Tensor,
        h: Histories,
        users: UserBatch,
        items: IdxArray,
        fields: dict[str, np.ndarray] | None = None,
    ) -> FloatMatrix:
        """Scores of ``items`` for ``users`` whose training histories are ``h``."""
        known = fields if fields is not None else self._event_fields(h)
        win, valid = batch_windows(users, self.config.max_len, h.indptr, known, self._event_fields)
        n_s = len(self.train_state.vocabularies["scenarios"])
        if users.scenario_idx is not None:
            query = np.full(len(users), users.scenario_idx, np.int64)
        else:  # no target scenario: read out for the scenario of the newest event
            query = np.where(valid[:, -1], win["scen"][:, -1], n_s).astype(np.int64)
        set_torch_threads()
        net.eval()
        with torch.no_grad():
            t = {k: torch.from_numpy(v.astype(np.int64)) for k, v in win.items()}
            ok = torch.from_numpy(valid)
            hidden = net.encode(vecs[t["item"]], t["scen"], t["beh"], t["gap"], ok)
            user = net.readout(hidden[:, -1], torch.from_numpy(query))
            scores = user @ vecs[torch.from_numpy(np.asarray(items, np.int64))].T
        out: FloatMatrix = scores.numpy().astype(np.float32, copy=False)
        return out

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return self._score_with(
            self.net_, self.item_vectors_, self.train_state.histories, users, items, self.fields_
        )

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        out = module_arrays(self.net_)
        out.update(
            {
                "text": self.text_,
                "has_text": self.has_text_,
                "has_events": self.has_events_,
                "home": self.home_,
                "text_mean": self.text_mean_,
                "text_proj": self.text_proj_,
            }
        )
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.text_mean_ = arrays["text_mean"]
        self.text_proj_ = arrays["text_proj"]
        text, has_text = arrays["text"], arrays["has_text"].astype(bool)
        has_events, home = arrays["has_events"].astype(bool), arrays["home"].astype(np.int64)
        net = self._build(text, has_text, has_events, home)
        load_module_arrays(net, arrays)
        self._set_net(net, text, has_text, has_events, home)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"encoder_fingerprint": self.encoder_fingerprint}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        self.encoder_fingerprint = extra.get("encoder_fingerprint")


def _home_scenarios(
    h: Histories, scenario_items: dict[int, IdxArray], n_items: int, n_scenarios: int
) -> IdxArray:
    """Each item's most frequent scenario in the events; for items without events, the first
    scenario whose catalogue lists it; ``n_scenarios`` when neither is known."""
    home = np.full(n_items, n_scenarios, np.int64)
    for s in sorted(scenario_items, reverse=True):  # lowest scenario wins among catalogue ones
        home[scenario_items[s]] = s
    if len(h.item_idx):
        counts = np.zeros((n_items, n_scenarios), np.int64)
        np.add.at(counts, (h.item_idx, h.scenario_idx), 1)
        has = counts.sum(axis=1) > 0
        home[has] = counts[has].argmax(axis=1)
    return home
