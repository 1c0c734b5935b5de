"""ScenarioFusion's learned parameters: the network, the fusion of per-scenario vectors, the
sampled-softmax loss, and the trained parameters as numpy arrays (what scoring, saving and
online growth use)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from scenerec.models.fusion.config import ScenarioFusionConfig
from scenerec.models.fusion.examples import FusionBatch
from scenerec.schema import FloatMatrix


def fuse(
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


class FusionNet(nn.Module):
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


@dataclass
class FusionParams:
    """Trained parameters as numpy arrays (what scoring, saving and online growth use)."""

    user_proj: FloatMatrix  # (dim, d_text)
    item_proj: FloatMatrix  # (dim, d_text)
    id_in: FloatMatrix  # (n_items, id_dim)
    id_out: FloatMatrix  # (n_items, id_dim)
    bias: FloatMatrix  # (n_items,)
    att: FloatMatrix  # (S, S)
    feat: FloatMatrix  # (2, S, S)

    @classmethod
    def of(cls, net: FusionNet) -> FusionParams:
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


def loss(
    module: nn.Module, b: FusionBatch, item_text: torch.Tensor, cfg: ScenarioFusionConfig
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy of a batch's examples (see ``examples``)."""
    if not isinstance(module, FusionNet):
        raise TypeError(f"expected the fusion network, got {type(module).__name__}")
    net = module
    n_ex, n_scen = b.active.shape
    uniq = b.uniq
    texts = item_text[uniq]
    pu = net.user_proj(texts)  # (n_uniq, dim): each batch item projected once per side
    own = b.own_w.unsqueeze(-1) * pu[b.pos_k].unsqueeze(1)
    text = net.user_proj(b.full)[b.owner] - own  # (E, S, dim)
    if len(b.q_rows):
        flat = text.reshape(n_ex * n_scen, -1)
        text = flat.index_add(0, b.q_rows, -net.user_proj(b.q_vec)).view(n_ex, n_scen, -1)
    parts = [text * b.inv_norm.unsqueeze(-1)]
    sparse = cfg.train.grad_clip is None  # see nn.optim.LazyAdam
    if cfg.id_dim:
        bags = functional.embedding_bag(
            b.hist_items,
            net.id_in,
            b.hist_offsets,
            mode="sum",
            per_sample_weights=b.hist_weights,
            sparse=sparse,
        )
        sums = bags.view(-1, n_scen, cfg.id_dim)[b.owner]
        own_ids = functional.embedding(b.item, net.id_in, sparse=sparse)
        sums = sums - b.own_w.unsqueeze(-1) * own_ids.unsqueeze(1)
        w = b.weight.unsqueeze(-1)
        parts.append(torch.where(w > 0, sums / w.clamp_min(1e-12), torch.zeros_like(sums)))
    u = torch.cat(parts, dim=-1)
    learned = cfg.fusion == "learned"
    v = fuse(
        u,
        b.feats,
        b.active,
        b.target if learned else None,
        net.att,
        net.feat if cfg.per_user else None,
    )
    out_ids = functional.embedding(uniq, net.id_out, sparse=sparse)
    z = torch.cat([net.item_proj(texts), out_ids], dim=1)
    bias = net.bias[uniq] if cfg.item_bias else torch.zeros(len(uniq))
    pk = b.pos_k
    pos = (v * z[pk]).sum(-1) + bias[pk]
    losses = []
    for t, nk in b.neg_k.items():
        rows = torch.nonzero(b.target == t).squeeze(1)
        logits = v[rows] @ z[nk].T + bias[nk]
        # The positive drawn as its own negative would be a contradiction, not a negative.
        logits = logits.masked_fill(nk.unsqueeze(0) == pk[rows].unsqueeze(1), -1e9)
        all_logits = torch.cat([pos[rows].unsqueeze(1), logits], dim=1)
        losses.append(torch.logsumexp(all_logits, dim=1) - pos[rows])
    return torch.cat(losses).mean()


__all__ = ["FusionNet", "FusionParams", "fuse", "loss"]
