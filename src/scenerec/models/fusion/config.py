"""ScenarioFusion's configuration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from scenerec.models.base import ModelConfig
from scenerec.models.nn import TrainConfig
from scenerec.text.encoder import EncoderConfig
from scenerec.text.templates import ItemTextTemplate


class ScenarioFusionConfig(ModelConfig):
    """Attributes:
    vectors: which per-scenario user vectors are fused: ``factors`` (the base factor model's
        user vector from the user's events in that scenario), ``text`` (the language-model
        interest vector of those events) or ``both``.
    base: the base factor model's parameters (ALS; ``scenerec.models.als.ALSConfig``).
    encoder: the language model of item titles and queries (``sentence`` = all-MiniLM-L6-v2
        by default; ``hashing`` needs no model and suits tests); ``None`` uses factors only.
    template: how catalog fields become an item's text.
    text_cache: keep embeddings in the on-disk cache (``SCENEREC_CACHE_DIR``).
    half_life_days: in the text interest vectors, an event this many days older than the
        user's newest event counts half; ``None`` disables decay.
    query_weight: weight of an event's search query vector relative to its item's vector.
    fusion: ``learned`` weights per target scenario (and per user, see ``per_user``), or
        ``uniform`` (1/C over the scenarios where the user has events).
    per_user: add per-user terms to the weights from the user's log event count and log decayed
        weight in each scenario (``learned`` only).
    label_users: most users per target scenario whose newest event there is held out to learn
        the weights (``scenerec.models.labels``).
    cold_share: share of them whose whole target history is held out (users cold in the
        target), so the weights also learn to rely on other scenarios.
    calibration_users: fewest label users of a group (warm or cold in a target) whose held-out
        items may change the learned text and popularity scales for that group
        (``fusion.learn.calibrate``); with fewer, the learned scales stay (a choice among 20
        pairs made on a few users is noise).
    train: how the weights are learned (a full softmax over the target's items; ``batch_size``
        counts label users; early stopping on a share of them).
    """

    vectors: Literal["factors", "text", "both"] = "both"
    base: dict[str, Any] = Field(
        default_factory=lambda: {"factors": 64, "regularization": 1.0, "iterations": 15}
    )
    encoder: EncoderConfig | None = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    text_cache: bool = True
    half_life_days: float | None = Field(default=30.0, gt=0)
    query_weight: float = Field(default=1.0, ge=0)
    fusion: Literal["learned", "uniform"] = "learned"
    per_user: bool = True
    label_users: int | None = Field(default=20_000, ge=10)
    cold_share: float = Field(default=0.2, ge=0, lt=1)
    calibration_users: int = Field(default=200, ge=1)
    train: TrainConfig = TrainConfig(
        epochs=40, batch_size=512, lr=0.05, grad_clip=None, valid_users=0, patience=4
    )


__all__ = ["ScenarioFusionConfig"]
