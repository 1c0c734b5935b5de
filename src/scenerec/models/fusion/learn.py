"""How ScenarioFusion learns its weights: a full softmax over each target scenario's items for
the held-out newest events of sampled users (``models.labels``), batched per target, with early
stopping on the log-likelihood of a share of the batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from scenerec.models.fusion.net import FusionBatch, FusionWeights
from scenerec.models.fusion.state import UserState
from scenerec.models.labels import Labels
from scenerec.models.nn import IndexBatches, Trainer, set_torch_threads
from scenerec.models.state import TrainState
from scenerec.schema import FloatMatrix, IdxArray

if TYPE_CHECKING:
    from scenerec.models.fusion.model import ScenarioFusion

VALID_SHARE = 0.15


def learn_weights(
    model: ScenarioFusion,
    part: TrainState,
    state: UserState,
    factors: FloatMatrix,
    labels: Labels,
    targets: list[int],
) -> dict[str, Any]:
    """Train ``model.weights_`` in place; returns the training record (``TrainResult``)."""
    cfg = model.config
    threads = set_torch_threads(model.options.resolved_threads())
    torch.manual_seed(model.seed)
    item_text = torch.from_numpy(model.item_text_)
    item_fac = torch.from_numpy(model.item_factors(part.n_items))
    items = {t: part.items_of_scenario(t) for t in targets}
    log_pop = {
        t: torch.from_numpy(np.log1p(part.popularity_of(t)[items[t]]).astype(np.float32))
        for t in targets
    }
    batches: list[tuple[int, IdxArray, IdxArray]] = []
    for t in targets:
        pos = np.searchsorted(items[t], labels.items[t])
        for start in range(0, len(labels.users[t]), cfg.train.batch_size):
            sl = slice(start, start + cfg.train.batch_size)
            batches.append((t, labels.users[t][sl], pos[sl]))
    rng = np.random.default_rng([model.seed, 7_004])
    valid = rng.random(len(batches)) < VALID_SHARE
    if valid.all() or not valid.any():
        valid[:] = False
    train_ids = np.flatnonzero(~valid)

    def make(i: int) -> FusionBatch:
        t, users, label = batches[i]
        text, feats, active = model.inputs(state, users)
        return FusionBatch(
            text=torch.from_numpy(text),
            factors=torch.from_numpy(factors[users]),
            feats=torch.from_numpy(feats),
            active=torch.from_numpy(active),
            target=t,
            label=torch.from_numpy(np.asarray(label, np.int64)),
        )

    def loss(module: nn.Module, b: FusionBatch) -> torch.Tensor:
        if not isinstance(module, FusionWeights) or b.target is None:
            raise TypeError("expected the fusion weights and a batch with a target")
        idx = torch.from_numpy(items[b.target])
        logits = module.logits(b, item_text[idx], item_fac[idx], log_pop[b.target], cfg.per_user)
        out: torch.Tensor = nn.functional.cross_entropy(logits, b.label)
        return out

    def validate(module: nn.Module) -> float:
        """Mean log-likelihood of the validation batches' held-out items (higher is better)."""
        total, n = 0.0, 0
        for i in np.flatnonzero(valid):
            b = make(int(i))
            total -= float(loss(module, b)) * len(b.label)
            n += len(b.label)
        return total / max(n, 1)

    trainer = Trainer(
        cfg.train,
        seed=model.seed,
        name=model.name,
        threads=threads,
        progress=model.options.progress,
        metric_name="log-likelihood",
    )
    loader = IndexBatches(
        len(train_ids), 1, lambda rows, _rng: make(int(train_ids[rows[0]])), seed=model.seed
    )
    result = trainer.fit(model.weights_, loader, loss, validate=validate if valid.any() else None)
    return result.to_dict()


__all__ = ["learn_weights"]
