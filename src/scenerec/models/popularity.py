"""Popularity: rank items by how often they were used, globally or in the target scenario.

The baseline every other model must beat, and the fallback for users with no history. With a
half-life, recent events count more (exponential time decay from the newest training event).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scenerec.data.dataset import Dataset
from scenerec.models.base import BaseRecommender, ModelConfig, UserBatch
from scenerec.schema import FloatMatrix, IdxArray


class PopularityConfig(ModelConfig):
    """Attributes:
    scope: count events in the target scenario only (``scenario``) or everywhere (``global``).
    weighted: count behaviour weights instead of events.
    half_life_days: exponential time decay; ``None`` counts every event alike.
    """

    scope: Literal["scenario", "global"] = "scenario"
    weighted: bool = False
    half_life_days: float | None = None


class Popularity(BaseRecommender[PopularityConfig]):
    """Same ranking for every user: item counts, optionally weighted and time-decayed."""

    config_class = PopularityConfig
    name = "popularity"

    def _fit(self, data: Dataset) -> None:
        h = data.histories
        w = h.weight.astype(np.float64) if self.config.weighted else np.ones(len(h.item_idx))
        if self.config.half_life_days is not None and len(h.timestamp):
            age = (h.timestamp.max() - h.timestamp).astype(np.float64)
            w = w * np.exp2(-age / (self.config.half_life_days * 86400.0))
        n_s = len(data.scenario_vocab)
        counts = np.zeros((n_s + 1, data.n_items), np.float64)
        np.add.at(counts, (h.scenario_idx, h.item_idx), w)
        counts[n_s] = counts[:n_s].sum(axis=0)
        self.counts_ = counts.astype(np.float32)

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        s = users.scenario_idx
        row = self.counts_[-1] if (s is None or self.config.scope == "global") else self.counts_[s]
        return np.broadcast_to(row[items], (len(users), len(items))).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts_ = arrays["counts"]
