"""ScenarioFusion: per-scenario language-model interest vectors fused per target scenario.

- ``config``: ``ScenarioFusionConfig``.
- ``state``: the decayed per-scenario user state (O(dim) online updates).
- ``examples``: leave-item-out training examples and the typed batch.
- ``net``: the network, the fusion of scenarios, the loss, trained parameters as arrays.
- ``model``: ``ScenarioFusion`` (fit, scoring, online learning, persistence).
"""

from __future__ import annotations

from scenerec.models.fusion.config import ScenarioFusionConfig
from scenerec.models.fusion.model import ScenarioFusion

__all__ = ["ScenarioFusion", "ScenarioFusionConfig"]
