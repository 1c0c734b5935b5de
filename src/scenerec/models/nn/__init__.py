"""The machinery of the neural models, one concept per module.

- ``model``: ``NeuralRecommender`` (the shared fit), ``NeuralConfig``, ``TrainingPlan``.
- ``trainer``: ``Trainer`` (the training loop), ``TrainConfig``, ``TrainResult``.
- ``checkpoint``: checkpoints as safetensors + JSON.
- ``batches``: ``IndexBatches`` and history windows.
- ``holdout``: the validation holdout behind early stopping.
- ``sequence``: what the sequence models share: ``SequenceConfig``, the windows that make every
  event a training target, negative sampling and the (sampled) softmax loss.
- ``layers``: ``CausalEncoder`` and module <-> array conversion.
"""

from __future__ import annotations

from scenerec.models.nn.batches import IndexBatches, batch_windows, last_windows, log_gap_buckets
from scenerec.models.nn.holdout import Holdout
from scenerec.models.nn.layers import BlockStyle, CausalEncoder, load_module_arrays, module_arrays
from scenerec.models.nn.model import NeuralConfig, NeuralRecommender, TrainingPlan
from scenerec.models.nn.sequence import (
    Candidates,
    NegativeSampler,
    SequenceConfig,
    Windows,
    history_windows,
    softmax_loss,
)
from scenerec.models.nn.trainer import (
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    TrainResult,
    Wrapper,
    config_fingerprint,
    epoch_seed,
    set_torch_threads,
)

__all__ = [
    "BlockStyle",
    "Candidates",
    "CausalEncoder",
    "Holdout",
    "IndexBatches",
    "NegativeSampler",
    "NeuralConfig",
    "NeuralRecommender",
    "SequenceConfig",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "TrainingPlan",
    "Windows",
    "Wrapper",
    "batch_windows",
    "config_fingerprint",
    "epoch_seed",
    "history_windows",
    "last_windows",
    "load_module_arrays",
    "log_gap_buckets",
    "module_arrays",
    "set_torch_threads",
    "softmax_loss",
]
