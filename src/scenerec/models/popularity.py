"""Popularity: rank items by how often they were used, globally or in the target scenario.

The baseline every other model must beat, and the fallback for users with no history. With a
half-life, recent events count more (exponential time decay from the newest training event).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from scenerec.data.histories import DAY_SECONDS, Histories, decay
from scenerec.models.base import ModelConfig
from scenerec.models.online import OnlineMixin
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import C, FloatMatrix, IdxArray


class PopularityConfig(ModelConfig):
    """Attributes:
    scope: count events in the target scenario only (``scenario``) or everywhere (``global``).
    weighted: count behaviour weights instead of events.
    half_life_days: exponential time decay; ``None`` counts every event alike.
    """

    scope: Literal["scenario", "global"] = "scenario"
    weighted: bool = False
    half_life_days: float | None = None


class Popularity(OnlineMixin[PopularityConfig]):
    """Same ranking for every user: item counts, optionally weighted and time-decayed.

    Learns online: ``partial_fit`` adds new events to the counts (exactly what a refit on all
    events gives, decay included).
    """

    config_class = PopularityConfig
    name = "popularity"

    def _fit(self, data: TrainState) -> None:
        h = data.histories
        self.now_ = int(h.timestamp.max()) if len(h.timestamp) else 0
        self.counts_ = np.zeros((data.n_scenarios + 1, data.n_items), np.float32)
        self._add(h.scenario_idx, h.item_idx, h.weight, h.timestamp)

    def _add(
        self, scen: IdxArray, items: IdxArray, weight: np.ndarray, ts: IdxArray, sign: float = 1.0
    ) -> None:
        """Add events to the counts (``sign=-1`` removes them); with decay, everything is aged
        to the newest event."""
        w = weight.astype(np.float64) if self.config.weighted else np.ones(len(items))
        w = sign * w
        if self.config.half_life_days is not None and len(ts):
            half_life = self.config.half_life_days * DAY_SECONDS
            newest = max(self.now_, int(ts.max()))
            self.counts_ *= np.float32(decay(newest - self.now_, half_life))
            self.now_ = newest
            w = w * decay(newest - ts, half_life)
        per_scenario = np.zeros(self.counts_[:-1].shape, np.float64)
        np.add.at(per_scenario, (scen, items), w)
        self.counts_[:-1] += per_scenario.astype(np.float32)
        self.counts_[-1] += per_scenario.sum(axis=0).astype(np.float32)

    def _partial_fit(self, events: pl.DataFrame) -> None:
        state = self.train_state
        n_s, n_i = state.n_scenarios, state.n_items
        grown = np.zeros((n_s + 1, n_i), np.float32)
        old = self.counts_
        grown[: old.shape[0] - 1, : old.shape[1]] = old[:-1]
        grown[-1, : old.shape[1]] = old[-1]
        self.counts_ = grown
        self._add(
            events[C.SCENARIO_IDX].to_numpy().astype(np.int64),
            events[C.ITEM_IDX].to_numpy().astype(np.int64),
            events[C.WEIGHT].to_numpy(),
            events[C.TIMESTAMP].to_numpy().astype(np.int64),
        )

    def _forget_user(self, user_idx: int, events: Histories) -> None:
        self._add(events.scenario_idx, events.item_idx, events.weight, events.timestamp, -1.0)

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        s = users.scenario_idx
        row = self.counts_[-1] if (s is None or self.config.scope == "global") else self.counts_[s]
        return np.broadcast_to(row[items], (len(users), len(items))).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_, "now": np.array([self.now_], np.int64)}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts_ = arrays["counts"]
        self.now_ = int(arrays["now"][0])
