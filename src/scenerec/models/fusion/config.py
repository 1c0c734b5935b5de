"""ScenarioFusion's configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scenerec.models.nn import NeuralConfig, TrainConfig
from scenerec.text.encoder import EncoderConfig
from scenerec.text.templates import ItemTextTemplate


class ScenarioFusionConfig(NeuralConfig):
    """Attributes:
    encoder: the text encoder of item titles and queries (``sentence`` = all-MiniLM-L6-v2 by
        default; ``hashing`` needs no model and suits tests).
    template: how catalog fields become an item's text.
    text_cache: keep embeddings in the on-disk cache (``SCENEREC_CACHE_DIR``), so refits and
        other models with the same encoder do not encode again.
    half_life_days: an event this many days older than the user's newest event counts half;
        ``None`` disables decay.
    query_weight: weight of an event's search query vector relative to its item's vector.
    fusion: ``learned`` attention over scenarios per target scenario, or ``uniform`` (1/C over
        the scenarios where the user has events).
    per_user: add per-user terms to the attention logits from the user's log event count and
        log decayed weight in each scenario (``learned`` only).
    dim: size of the projected text space.
    id_dim: size of the id embeddings (item input and output); 0 turns them off (pure text).
    item_bias: learn a bias per item (absorbs popularity).
    examples_per_user: target events sampled per user and epoch (each user is one row of a
        batch; ``train.batch_size`` counts users).
    negatives: items sampled uniformly from the target scenario per batch (shared by the
        batch's examples with that target) for the sampled softmax.
    train: the training loop (epochs, users per batch, learning rate, early stopping...).
        Without ``grad_clip`` (the default) the id tables get sparse gradients and a lazy Adam
        (fast on large catalogues); with it, dense gradients and Adam.
    """

    encoder: EncoderConfig = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    text_cache: bool = True
    half_life_days: float | None = Field(default=30.0, gt=0)
    query_weight: float = Field(default=1.0, ge=0)
    fusion: Literal["learned", "uniform"] = "learned"
    per_user: bool = True
    dim: int = Field(default=64, ge=1)
    id_dim: int = Field(default=128, ge=0)
    item_bias: bool = True
    examples_per_user: int = Field(default=16, ge=1)
    negatives: int = Field(default=256, ge=1)
    train: TrainConfig = TrainConfig(epochs=10, batch_size=128, lr=2e-3, grad_clip=None, patience=2)


__all__ = ["ScenarioFusionConfig"]
