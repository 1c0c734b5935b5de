"""Recommendation models. Every model is a ``BaseRecommender`` with its own config.

- ``query``: what callers ask (``RecQuery``, ``HistoryEvent``), get (``Ranked``) and how a fit
  runs (``FitOptions``).
- ``state``: what a model reads and keeps of its training data (``TrainState``, ``UserBatch``).
- ``base``: the ``Recommender`` protocol and ``BaseRecommender``.
- ``online``: the ``OnlineRecommender`` capability (``OnlineMixin``).
- ``nn``: the machinery of the neural models (``NeuralRecommender``, ``Trainer``...).
- ``registry``: model names -> classes, ``load_run``.
- one module (or package) per model.
"""

from __future__ import annotations

from scenerec.models.base import BaseRecommender, ModelConfig, Recommender
from scenerec.models.online import OnlineMixin, OnlineRecommender
from scenerec.models.query import FitOptions, HistoryEvent, Ranked, RecQuery
from scenerec.models.registry import MODELS, ModelSpec, build_model, load_run, model_class
from scenerec.models.state import TrainState, UserBatch

__all__ = [
    "MODELS",
    "BaseRecommender",
    "FitOptions",
    "HistoryEvent",
    "ModelConfig",
    "ModelSpec",
    "OnlineMixin",
    "OnlineRecommender",
    "Ranked",
    "RecQuery",
    "Recommender",
    "TrainState",
    "UserBatch",
    "build_model",
    "load_run",
    "model_class",
]
