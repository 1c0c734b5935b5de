"""Adaptive recommendation: real-time updates from new events, transfer to new scenarios,
exploration, drift detection, background fine-tuning, and the replay that measures them.

- ``adaptive``: ``AdaptiveRecommender`` (apply events, add items, forget users, recommend with
  the serving version, per-item explanations, atomic swap of a fine-tuned model).
- ``finetune``: the warm-started refit, its gate on the newest events, the swap.
- ``explore``: Thompson sampling between serving strategies per scenario; trending counts.
- ``drift``: ADWIN / Page-Hinkley (``river``) on each scenario's hit rate.
- ``events``: validation of incoming events; a training state's events as a table.
- ``replay``: train on the first part of a time-ordered data set, replay the rest.
- ``config``: ``OnlineConfig`` and its sections.
"""

from __future__ import annotations

from scenerec.online.adaptive import AdaptiveRecommender, ApplyResult, Recommendation
from scenerec.online.config import DriftConfig, ExplorationConfig, FineTuneConfig, OnlineConfig
from scenerec.online.finetune import FineTuneResult

__all__ = [
    "AdaptiveRecommender",
    "ApplyResult",
    "DriftConfig",
    "ExplorationConfig",
    "FineTuneConfig",
    "FineTuneResult",
    "OnlineConfig",
    "Recommendation",
]
