"""CrossScenarioTransformer, scenerec's sequence model over the mixed history (see ``model``)."""

from __future__ import annotations

from scenerec.models.transformer.config import CrossScenarioTransformerConfig
from scenerec.models.transformer.model import CrossScenarioTransformer

__all__ = ["CrossScenarioTransformer", "CrossScenarioTransformerConfig"]
