"""Optimizers the shared ``Trainer`` does not build itself."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from scenerec.models.nn.trainer import TrainConfig


class LazyAdam(torch.optim.Optimizer):
    """Adam (AdamW with weight decay) that updates only the rows a batch touched of parameters
    with sparse gradients, like TensorFlow's LazyAdam; dense gradients get plain Adam.

    With large catalogues the id tables dominate the parameters while a batch touches a few
    thousand rows: a dense Adam step over them cost more than the rest of the batch. Sparse
    gradients cannot be clipped by the shared loop, so a model uses it when ``train.grad_clip``
    is ``None``; with clipping it trains with dense gradients and Adam.
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


__all__ = ["LazyAdam"]
