"""The CrossScenarioTransformer's configuration."""

from __future__ import annotations

from pydantic import Field

from scenerec.models.nn import SequenceConfig, TrainConfig
from scenerec.text import EncoderConfig, ItemTextTemplate


class CrossScenarioTransformerConfig(SequenceConfig):
    """Attributes:
    id_dropout: probability that an item's id embedding is left out in a training step, so the
        text path learns to stand alone (items without text always keep their id).
    use_ids: add learned id embeddings to item vectors.
    use_text: use item text vectors (``encoder`` or ``set_item_embeddings``).
    whiten_dim: text vectors are whitened (PCA on the training catalogue) to this many
        dimensions before the experts.
    whiten_shrinkage: each principal direction is scaled by
        ``1 / sqrt(variance + whiten_shrinkage * mean variance)`` (0: full whitening, which
        amplifies noise on small catalogues; large: plain centring).
    experts: projection experts mixed by a softmax gate per item.
    scenario_adapters: STAR-style expert weights, shared x specific to the item's scenario.
    time_buckets: log2 time-gap buckets (bucket 0 marks a user's first event).
    target_scenarios: scenarios whose next events are training targets; ``None`` for all.
    encoder: the language model ``fit`` embeds item text with when no embeddings were set;
        ``None`` uses ids only unless ``set_item_embeddings`` is called.
    template: how catalog fields become item text.
    train: the training loop; ``batch_size`` counts windows.
    (``dim``, ``layers``, ``heads``, ``ffn_mult``, ``dropout``, ``max_len``, the windows and
    the softmax: ``SequenceConfig``.)
    """

    id_dropout: float = Field(default=0.3, ge=0, le=1)
    use_ids: bool = True
    use_text: bool = True
    whiten_dim: int = Field(default=128, ge=1)
    # On Food-Kitchen (MiniLM titles) 1.0 beat 10.0 (near-plain centring) and ids alone on the
    # validation users; tiny catalogues (tests) need more shrinkage.
    whiten_shrinkage: float = Field(default=1.0, ge=0)
    experts: int = Field(default=4, ge=1)
    scenario_adapters: bool = False
    time_buckets: int = Field(default=32, ge=2)
    target_scenarios: tuple[str, ...] | None = None
    encoder: EncoderConfig | None = EncoderConfig()
    template: ItemTextTemplate = ItemTextTemplate()
    train: TrainConfig = TrainConfig(epochs=20, batch_size=256, lr=1e-3)


__all__ = ["CrossScenarioTransformerConfig"]
