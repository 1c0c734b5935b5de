"""ScenarioFusion's learned weights: the fusion of per-scenario user vectors per target scenario,
and the softmax loss over the target's items they are learned with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from scenerec.schema import FloatMatrix


def fuse(
    u: torch.Tensor,
    feats: torch.Tensor,
    active: torch.Tensor,
    target: torch.Tensor | None,
    att: torch.Tensor,
    feat_w: torch.Tensor | None,
) -> torch.Tensor:
    """Weighted sum of per-scenario user vectors: ``sum_s softmax_s(a[s, t] + per-user terms) u_s``
    over the scenarios where the user has events.

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


@dataclass
class FusionBatch:
    """Label users of one target scenario (B users, S scenarios, M target items).

    Attributes:
        text: (B, S, d_text) unit interest vectors per scenario (zero where none).
        factors: (B, S, f) base-model user vectors per scenario (zero where none).
        feats: (B, S, 2) per-user weight features.
        active: (B, S) bool.
        target: the target scenario (``None``: no target; scenarios weigh alike).
        label: (B,) position of each user's held-out item among the target's items.
    """

    text: torch.Tensor
    factors: torch.Tensor
    feats: torch.Tensor
    active: torch.Tensor
    target: int | None
    label: torch.Tensor


class FusionWeights(nn.Module):
    """Scenario weights ``a[s, t]`` (+ per-user terms) and, per target scenario, the scale of
    the text part, of the factor part and of the item's log popularity in the target."""

    def __init__(self, n_scen: int, *, learned: bool, per_user: bool) -> None:
        super().__init__()
        self.att = nn.Parameter(torch.zeros(n_scen, n_scen), requires_grad=learned)
        self.feat = nn.Parameter(torch.zeros(2, n_scen, n_scen), requires_grad=learned and per_user)
        # text cosines live in [-1, 1]: a softmax over thousands of items needs a temperature
        self.scale = nn.Parameter(torch.tensor([[10.0], [1.0], [0.0]]).repeat(1, n_scen))
        # the scales of users cold in the target (no events there), once calibrated for ranking
        # apart from the warm ones (``fusion.learn.calibrate``); until then ``scale`` serves all
        self.cold_scale: torch.Tensor | None = None

    def scales(self, target: int | None) -> torch.Tensor:
        """(3,) the scales of the text, factor and popularity parts for a target scenario
        (their mean over scenarios without one)."""
        return self.scale.mean(dim=1) if target is None else self.scale[:, target]

    def parts(
        self,
        b: FusionBatch,
        item_text: torch.Tensor,
        item_factors: torch.Tensor,
        log_pop: torch.Tensor,
        per_user: bool,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """The unscaled parts of the scores: text (B, M), factors (B, M) (``None`` where the
        model has none) and log popularity (M,)."""
        target = None
        if b.target is not None:
            target = torch.full((len(b.label),), b.target, dtype=torch.long)
        feat = self.feat if per_user else None
        text = fac = None
        if b.text.shape[-1]:
            text = fuse(b.text, b.feats, b.active, target, self.att, feat) @ item_text.T
        if b.factors.shape[-1]:
            fac = fuse(b.factors, b.feats, b.active, target, self.att, feat) @ item_factors.T
        return text, fac, log_pop

    def logits(
        self,
        b: FusionBatch,
        item_text: torch.Tensor,
        item_factors: torch.Tensor,
        log_pop: torch.Tensor,
        per_user: bool,
    ) -> torch.Tensor:
        """(B, M) scores of the target's items."""
        text, fac, pop = self.parts(b, item_text, item_factors, log_pop, per_user)
        s_text, s_fac, s_pop = self.row_scales(b)
        out = s_pop * pop[None, :]
        if text is not None:
            out = out + s_text * text
        if fac is not None:
            out = out + s_fac * fac
        return out

    def row_scales(self, b: FusionBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The text, factor and popularity scales of each row, (B, 1) each (scalars when all
        rows share them): rows cold in the target take the cold scales once calibrated."""
        scale = self.scales(b.target)
        if self.cold_scale is None or b.target is None:
            return scale[0], scale[1], scale[2]
        cold = ~b.active[:, b.target]
        rows = torch.where(cold[:, None], self.cold_scale[:, b.target][None, :], scale[None, :])
        return rows[:, 0:1], rows[:, 1:2], rows[:, 2:3]

    def arrays(self) -> dict[str, FloatMatrix]:
        out = {
            "att": self.att.detach().numpy().copy(),
            "feat": self.feat.detach().numpy().copy(),
            "scale": self.scale.detach().numpy().copy(),
        }
        if self.cold_scale is not None:
            out["cold_scale"] = self.cold_scale.numpy().copy()
        return out

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Take these arrays' values where shapes overlap (a grown model keeps its new rows
        and columns at their defaults)."""
        with torch.no_grad():
            if "cold_scale" in arrays:
                self.cold_scale = self.scale.detach().clone()
            for name in ("att", "feat", "scale", "cold_scale"):
                if name not in arrays:
                    continue
                src = torch.from_numpy(np.asarray(arrays[name], np.float32))
                dst = getattr(self, name)
                block = tuple(
                    slice(0, min(a, b)) for a, b in zip(dst.shape, src.shape, strict=True)
                )
                dst[block] = src[block]


__all__ = ["FusionBatch", "FusionWeights", "fuse"]
