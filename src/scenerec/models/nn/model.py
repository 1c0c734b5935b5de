"""``NeuralRecommender``: the fit every torch model shares.

A neural model builds its network, its batches and its loss (``_plan``) and keeps the trained
weights (``_keep``); this class does the rest once: the validation holdout (``train.valid_users``
events held out of training), seeding, threads, the shared ``Trainer`` (early stopping on the
holdout's NDCG@10, best-weight restore, checkpoints, time budget, progress) and ``fit_info``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from scenerec.data.histories import Histories
from scenerec.models.base import BaseRecommender, ModelConfig
from scenerec.models.nn.holdout import Holdout
from scenerec.models.nn.trainer import (
    LossFn,
    TrainConfig,
    Trainer,
    config_fingerprint,
    set_torch_threads,
)
from scenerec.models.state import TrainState
from scenerec.schema import IdxArray

#: ``(users, scenario_idx, items) -> (len(users), len(items))`` scores, for validation.
ValidationScorer = Callable[[IdxArray, int, IdxArray], np.ndarray]


class NeuralConfig(ModelConfig):
    """Base of the configs of models trained by the shared loop (their ``train`` section)."""

    train: TrainConfig = TrainConfig()


NeuralConfigT = TypeVar("NeuralConfigT", bound=NeuralConfig)


@dataclass
class TrainingPlan:
    """What a neural model hands the shared fit.

    Attributes:
        net: the module to train (in place).
        loader: re-iterable batches (usually ``IndexBatches``).
        loss: ``(net, batch) -> scalar`` mean loss.
        score: validation scorer over the holdout's users, or ``None`` to train without
            early stopping.
        seen: (n_users, n_items) interactions removed from validation rankings; default: the
            holdout scope's training events.
        optimizer: default Adam/AdamW from ``train``.
        info: extra ``fit_info`` entries (e.g. how many sequences or examples).
    """

    net: nn.Module
    loader: Iterable[Any]
    loss: LossFn
    score: ValidationScorer | None = None
    seen: sp.csr_matrix | None = None
    optimizer: torch.optim.Optimizer | None = None
    info: dict[str, Any] = field(default_factory=dict)


class NeuralRecommender(BaseRecommender[NeuralConfigT]):
    """A model trained by the shared loop; subclasses implement ``_plan`` and ``_keep``."""

    def _holdout_scope(self, data: TrainState) -> tuple[Histories, IdxArray | None]:
        """The histories the validation holdout draws from, and the scenarios its held-out
        events must lie in (``None``: any). Default: every event."""
        return data.histories, None

    def _plan(self, data: TrainState, holdout: Holdout) -> TrainingPlan:
        """Build network, loader and loss; ``holdout.keep`` marks the events to train on."""
        raise NotImplementedError

    def _keep(self, net: nn.Module) -> None:
        """Keep what scoring needs of the trained network (called once training ended)."""
        raise NotImplementedError

    def _fit(self, data: TrainState) -> None:
        cfg = self.config.train
        h, scenarios = self._holdout_scope(data)
        n_valid = h.n_users if cfg.valid_users == "all" else cfg.valid_users
        holdout = Holdout.draw(h, n_valid, seed=self.seed, scenarios=scenarios, pick=cfg.valid_pick)
        threads = set_torch_threads(self.options.resolved_threads())
        torch.manual_seed(self.seed)
        plan = self._plan(data, holdout)
        warm = getattr(self, "warm_weights", None)  # online fine-tuning (models.online)
        if warm:
            from scenerec.models.online import load_warm

            plan.info["warm_start"] = load_warm(plan.net, warm)
        validate = None
        scorer = plan.score
        if len(holdout) and scorer is not None:
            seen = plan.seen
            if seen is None:
                seen = h.filter(holdout.keep).matrix(data.n_items, binary=True)

            def validate(_module: nn.Module) -> float:
                return holdout.ndcg(scorer, data.scenario_items, seen)

        trainer = Trainer(
            cfg,
            seed=self.seed,
            fingerprint=config_fingerprint(
                self.config.model_copy(update={"seed": self.seed}), data.fingerprint
            ),
            name=self.name,
            threads=threads,
            progress=self.options.progress,
        )
        result = trainer.fit(
            plan.net, plan.loader, plan.loss, validate=validate, optimizer=plan.optimizer
        )
        self.fit_info = {"train": result.to_dict(), **plan.info}
        self._keep(plan.net)


__all__ = ["NeuralConfig", "NeuralRecommender", "TrainingPlan", "ValidationScorer"]
