"""The ``scenerec replay`` YAML (imported only when the command runs: it pulls in the data and
model layers)."""

from __future__ import annotations

from scenerec.config import FrozenConfig
from scenerec.data.clean import CleaningConfig
from scenerec.experiment import DataSpec
from scenerec.models.registry import ModelSpec
from scenerec.online.replay import ReplaySettings
from scenerec.text.encoder import EncoderConfig


class ReplayConfig(FrozenConfig):
    """Attributes:
    name: shown in tables and the figure.
    data, cleaning, encoder: as in an experiment YAML.
    model: the model to train and replay (one that learns online, for the online strategies).
    replay: train fraction, events, windows, launched scenario, online settings.
    """

    name: str = "replay"
    data: DataSpec = DataSpec()
    cleaning: CleaningConfig = CleaningConfig()
    encoder: EncoderConfig | None = None
    model: ModelSpec = ModelSpec(name="fusion")
    replay: ReplaySettings = ReplaySettings()


__all__ = ["ReplayConfig"]
