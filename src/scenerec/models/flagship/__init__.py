"""CrossScenarioRanker, scenerec's flagship: candidate generators re-ranked per target scenario.

- ``config``: ``CrossScenarioRankerConfig``, ``GeneratorSpec``, ``RankerConfig``.
- ``generators``: fitting and scoring the generators (sub-models saved inside the run).
- ``text``: item text vectors and user interest vectors (language-model features).
- ``features``: candidates and their features.
- ``ranker``: LightGBM LambdaRank.
- ``model``: ``CrossScenarioRanker``.
"""

from __future__ import annotations

from scenerec.models.flagship.config import (
    CrossScenarioRankerConfig,
    GeneratorSpec,
    RankerConfig,
)
from scenerec.models.flagship.model import CrossScenarioRanker

__all__ = ["CrossScenarioRanker", "CrossScenarioRankerConfig", "GeneratorSpec", "RankerConfig"]
