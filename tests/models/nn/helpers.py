"""Test helpers for the neural machinery: a tiny regression task and small histories."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scenerec.data.histories import Histories
from scenerec.models.nn import IndexBatches

# A tiny linear regression: y = X w_true + noise.
RNG = np.random.default_rng(0)
X = torch.from_numpy(RNG.normal(size=(256, 4)).astype(np.float32))
W = torch.tensor([1.0, -2.0, 0.5, 3.0])
Y = X @ W + 0.01 * torch.from_numpy(RNG.normal(size=256).astype(np.float32))


def tiny_loader(seed: int = 0) -> IndexBatches:
    def collate(rows: np.ndarray, _rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(rows)
        return X[idx], Y[idx]

    return IndexBatches(len(X), 32, collate, seed=seed)


def mse_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    out: torch.Tensor = nn.functional.mse_loss(model(x).squeeze(-1), y)
    return out


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def mse_on_all(model: nn.Module) -> float:
    model.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(X).squeeze(-1), Y))


def histories(lengths: list[int]) -> Histories:
    n = sum(lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ar = np.arange(n, dtype=np.int64)
    return Histories(
        indptr,
        ar + 100,
        ar % 2,
        np.zeros(n, np.int64),
        ar * 10,
        np.ones(n, np.float32),
        np.full(n, -1, np.int64),
    )
