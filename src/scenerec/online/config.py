"""The online layer's configuration: fine-tuning, exploration and drift detection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from scenerec.config import FrozenConfig

Arm = Literal["model", "fresh", "trending"]


class FineTuneConfig(FrozenConfig):
    """Background fine-tuning: a warm-started refit on every event so far, swapped in only if
    it is not worse than the serving model on the most recent events.

    Attributes:
        enabled: fine-tune at all (on the triggers below, or when asked).
        every_events: also fine-tune after this many events since the last fine-tune
            (``None``: only on drift, a new scenario, or ``fine_tune()``).
        min_events: never fine-tune with fewer new events than this since the last one.
        holdout_events: the newest events, held out of the candidate's training; both models
            rank each of them from the user's events before it (the gate).
        tolerance: the candidate passes if its NDCG@k on the holdout is at least the serving
            model's minus this.
        train: overrides of the model's ``train`` section for the refit (neural models), e.g.
            ``{epochs: 2}``; the refit starts from the serving model's weights.
        background: run in a background thread (``False``: synchronously, e.g. in a replay).
        new_scenario_events: a scenario the serving model was not fitted on triggers a
            fine-tune once it has this many events (until then it is served from the users'
            other scenarios and item text).
    """

    enabled: bool = True
    every_events: int | None = Field(default=None, ge=1)
    min_events: int = Field(default=200, ge=1)
    holdout_events: int = Field(default=500, ge=10)
    tolerance: float = Field(default=0.0, ge=0.0)
    train: dict[str, Any] = Field(default_factory=lambda: {"epochs": 2})
    background: bool = True
    new_scenario_events: int = Field(default=100, ge=1)


class ExplorationConfig(FrozenConfig):
    """Thompson sampling per scenario between serving strategies (arms), clicks as reward.

    Arms: ``model`` (the model's ranking), ``fresh`` (the model's ranking with its last
    ``fresh_slots`` places given to the best-scored fresh items: added or first seen within
    ``fresh_days``), ``trending`` (decayed popularity in the scenario, half-life
    ``trending_half_life_hours``). A recommendation whose arm is not the one with the best
    posterior mean is exploration; its share of the recommendations is kept at most
    ``max_share``.

    Attributes:
        enabled: explore at all (otherwise every recommendation uses ``model``).
        arms: the strategies to choose between (``model`` first: it is the default).
        max_share: bound on the share of recommendations that explore.
        fresh_slots: places the ``fresh`` arm gives to fresh items.
        fresh_days: how long an item counts as fresh.
        trending_half_life_hours: decay of the ``trending`` arm's counts.
        seed: the sampler's seed.
    """

    enabled: bool = False
    arms: tuple[Arm, ...] = ("model", "fresh", "trending")
    max_share: float = Field(default=0.1, ge=0.0, le=1.0)
    fresh_slots: int = Field(default=2, ge=1)
    fresh_days: float = Field(default=7.0, gt=0)
    trending_half_life_hours: float = Field(default=24.0, gt=0)
    seed: int = 0


class DriftConfig(FrozenConfig):
    """Drift detection on each scenario's hit rate of served recommendations (``river``).

    Attributes:
        enabled: watch for drift at all.
        detector: ``adwin`` (ADWIN, adaptive windowing: changes either way) or
            ``page_hinkley`` (Page-Hinkley on drops of the hit rate).
        delta: ADWIN's confidence (smaller: fewer false alarms).
        threshold: Page-Hinkley's alarm threshold (larger: fewer false alarms, later alarms).
        min_samples: outcomes a scenario needs before a drift counts.
        cooldown_events: events after a drift before the same scenario may report another.
        fine_tune: a drift triggers fine-tuning.
    """

    enabled: bool = True
    detector: Literal["adwin", "page_hinkley"] = "adwin"
    delta: float = Field(default=0.002, gt=0)
    threshold: float = Field(default=50.0, gt=0)
    min_samples: int = Field(default=200, ge=1)
    cooldown_events: int = Field(default=2_000, ge=0)
    fine_tune: bool = True


class OnlineConfig(FrozenConfig):
    """Attributes:
    k: the list length whose hits count as clicks for exploration and drift.
    compact_every: merge the recent events into the stored histories after this many
        (O(total) each time; ``None``: only when a whole-data view needs it).
    fine_tune, exploration, drift: see their classes.
    """

    k: int = Field(default=10, ge=1)
    compact_every: int | None = Field(default=None, ge=1)
    fine_tune: FineTuneConfig = FineTuneConfig()
    exploration: ExplorationConfig = ExplorationConfig()
    drift: DriftConfig = DriftConfig()


__all__ = ["Arm", "DriftConfig", "ExplorationConfig", "FineTuneConfig", "OnlineConfig"]
