"""Recommendation models. Every model is a ``BaseRecommender`` with its own config."""

from __future__ import annotations

from scenerec.models.base import (
    BaseRecommender,
    HistoryEvent,
    ModelConfig,
    OnlineRecommender,
    Ranked,
    Recommender,
    RecQuery,
)
from scenerec.models.registry import MODELS, load_run, model_class

__all__ = [
    "MODELS",
    "BaseRecommender",
    "HistoryEvent",
    "ModelConfig",
    "OnlineRecommender",
    "Ranked",
    "RecQuery",
    "Recommender",
    "load_run",
    "model_class",
]
