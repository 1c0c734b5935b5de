"""The CrossScenarioTransformer's network: item vectors from text (whitened, mixture of experts,
optional STAR adapters) plus ids, event tokens, the causal encoder and the scenario readout.
``TransformerBatch`` is one training batch; ``fit_whitening`` prepares the text vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from scenerec.models.nn import Candidates, CausalEncoder, softmax_loss
from scenerec.models.transformer.config import CrossScenarioTransformerConfig
from scenerec.schema import FloatMatrix

BoolArray = npt.NDArray[np.bool_]


@dataclass
class TransformerBatch:
    """One training batch (B windows, L positions, N predicted positions, M distinct items)."""

    items: torch.Tensor  # (B, L) int64 local row into ``unique`` (0 where padding)
    scen: torch.Tensor  # (B, L) int64 scenario token ids
    beh: torch.Tensor  # (B, L) int64
    gap: torch.Tensor  # (B, L) int64
    valid: torch.Tensor  # (B, L) bool
    rows: torch.Tensor  # (N,) batch row of each predicted position
    cols: torch.Tensor  # (N,) column of each predicted position
    target: torch.Tensor  # (N,) local row into ``unique`` of the next item
    target_item: torch.Tensor  # (N,) global index of the next item
    target_scen: torch.Tensor  # (N,) scenario of the next item
    target_log_q: torch.Tensor  # (N,) the targets' log-q correction (sampled scenarios)
    unique: torch.Tensor  # (M,) global item indices whose vectors this batch needs
    # scenario -> its candidates (global keys) and their local rows into ``unique``
    candidates: dict[int, tuple[Candidates, torch.Tensor]]


class TransformerNet(nn.Module):
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
        self.encoder = CausalEncoder(
            d, cfg.layers, cfg.heads, cfg.dropout, cfg.ffn_mult, cfg.attention_dropout
        )
        self.out_norm = nn.LayerNorm(d)
        self.out_ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    # ------------------------------------------------------------------ pieces
    def text_vectors(self, z: torch.Tensor, home: torch.Tensor) -> torch.Tensor:
        """(M, w) whitened text vectors of items whose home scenarios are ``home`` -> (M, d):
        the text part of an item's vector (also for items added after the fit)."""
        gate = torch.softmax(self.gate(z), dim=-1)  # (M, E)
        if not self.cfg.scenario_adapters:
            return _experts(z, gate, self.expert_w, self.expert_b)
        proj = torch.zeros(len(z), self.cfg.dim, device=z.device)
        for s in torch.unique(home).tolist():
            rows = home == s
            w = self.expert_w * self.spec_w[s]
            b = self.expert_b + self.spec_b[s]
            proj[rows] = _experts(z[rows], gate[rows], w, b)
        return proj

    def item_vectors(self, idx: torch.Tensor) -> torch.Tensor:
        """(M,) global item indices -> (M, d) item vectors (id dropout in training mode)."""
        cfg = self.cfg
        out = torch.zeros(len(idx), cfg.dim, device=idx.device)
        if cfg.use_text:
            proj = self.text_vectors(self.text[idx], self.home[idx])
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

    def forward(self, batch: TransformerBatch) -> torch.Tensor:
        """Mean cross-entropy of the next items of ``batch``."""
        vecs = self.item_vectors(batch.unique)
        hidden = self.encode(vecs[batch.items], batch.scen, batch.beh, batch.gap, batch.valid)
        user = self.readout(hidden[batch.rows, batch.cols], batch.target_scen)
        total = user.new_zeros(())
        for s, (cands, rows) in batch.candidates.items():
            sel = batch.target_scen == s
            if not bool(sel.any()):
                continue
            total = total + softmax_loss(
                user[sel],
                vecs[rows],
                cands,
                batch.target_item[sel],
                vecs[batch.target[sel]],
                batch.target_log_q[sel],
            )
        return total / max(len(batch.rows), 1)


def _experts(z: torch.Tensor, gate: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_e gate[:, e] * (z - b[e]) @ w[e]; z (M, k), gate (M, E), w (E, k, d), b (E, k)."""
    proj = torch.einsum("mk,ekd->med", z, w) - torch.einsum("ek,ekd->ed", b, w)[None]
    return torch.einsum("me,med->md", gate, proj)


def fit_whitening(
    vectors: FloatMatrix, has_text: BoolArray, k: int, shrinkage: float
) -> tuple[FloatMatrix, FloatMatrix]:
    """Shrunk PCA whitening fitted on the items that have text.

    Each principal direction is scaled by ``1 / sqrt(variance + shrinkage * mean variance)``:
    this evens out the strong directions without blowing the weak ones (noise, on a small
    catalogue) up to unit scale.

    Returns:
        ``(mean (dim,), projection (dim, k))`` float32; zeros when fewer than two items have
        text.
    """
    dim = vectors.shape[1]
    mean = np.zeros(dim, np.float32)
    proj = np.zeros((dim, k), np.float32)
    x = vectors[has_text].astype(np.float64)
    if len(x) < 2:
        return mean, proj
    xc = x - x.mean(axis=0)
    vals, vecs = np.linalg.eigh(xc.T @ xc / len(x))
    order = np.argsort(vals)[::-1][:k]
    vals, vecs = vals[order], vecs[:, order]
    mean_var = max(float(vals.clip(min=0).mean()), 1e-12)
    scale = np.sqrt(mean_var / (vals.clip(min=0) + shrinkage * mean_var))
    full = np.zeros((dim, k))
    full[:, : len(vals)] = vecs * scale
    return x.mean(axis=0).astype(np.float32), full.astype(np.float32)


def whiten(
    vectors: FloatMatrix, has_text: BoolArray, mean: FloatMatrix, proj: FloatMatrix
) -> FloatMatrix:
    """Whitened text vectors (zero rows for items without text)."""
    z = ((vectors - mean) @ proj).astype(np.float32)
    z[~has_text] = 0.0
    return z


__all__ = ["TransformerBatch", "TransformerNet", "fit_whitening", "whiten"]
