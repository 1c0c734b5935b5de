"""ScenarioFusion: per-scenario language-model interest vectors fused per target scenario.

- ``config``: ``ScenarioFusionConfig``.
- ``state``: the decayed per-scenario text state (O(dim) online updates).
- ``net``: the learned scenario weights, the fusion, the typed batch.
- ``learn``: how the weights are learned (held-out newest events, full softmax).
- ``model``: ``ScenarioFusion`` (fit, per-scenario factor fold-ins, scoring, online, persistence).
"""

from __future__ import annotations

from scenerec.models.fusion.config import ScenarioFusionConfig
from scenerec.models.fusion.model import ScenarioFusion

__all__ = ["ScenarioFusion", "ScenarioFusionConfig"]
