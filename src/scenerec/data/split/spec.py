"""``SplitSpec``: one split method and its arguments, as plain data.

The same spec is the ``split:`` block of an experiment config and the options of
``scenerec data split``, so a split made on the command line and one made inside an experiment
are the same split for the same arguments.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import model_validator

from scenerec.config import FrozenConfig
from scenerec.data.split.cold import cold_in_scenario
from scenerec.data.split.core import Split, check_events
from scenerec.data.split.ratio import ratio_split
from scenerec.data.split.temporal import leave_last_out, temporal_cutoff
from scenerec.errors import ConfigError
from scenerec.schema import C

if TYPE_CHECKING:
    from scenerec.data.dataset import Dataset

SplitMethod = Literal["leave-last-out", "temporal", "ratio", "cold-in-scenario", "predefined"]
"""The split methods a ``SplitSpec`` can name."""

DEFAULT_CUTOFF_QUANTILE = 0.9
"""``temporal`` without a ``cutoff`` tests on the newest 10% of the events."""


class SplitSpec(FrozenConfig):
    """Which split to make; ``apply`` makes it.

    Attributes:
        method: ``leave-last-out`` (``leave_last_out``), ``temporal`` (``temporal_cutoff``),
            ``ratio`` (``ratio_split``), ``cold-in-scenario`` (``cold_in_scenario``) or
            ``predefined`` (the split a public data release ships).
        scenario: leave-last-out: the target scenario (None: every scenario);
            cold-in-scenario: the scenario held-out users are cold in (required).
        valid: leave-last-out: also hold out one validation event per user.
        cutoff: temporal: first second of the test period; None: the 90th percentile of the
            event timestamps.
        ratios: ratio: ``(train, valid, test)`` or ``(train, test)``.
        order: ratio: ``random`` (seeded shuffle) or ``time``.
        fraction: cold-in-scenario: share of eligible users held out.
        seed: ratio and cold-in-scenario: the seed of the draw.
    """

    method: SplitMethod = "leave-last-out"
    scenario: str | None = None
    valid: bool = False
    cutoff: int | None = None
    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    order: Literal["random", "time"] = "random"
    fraction: float = 0.2
    seed: int = 2020

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        r = self.ratios
        if len(r) not in (2, 3) or any(not math.isfinite(x) or x < 0 for x in r):
            raise ValueError(f"ratios must be 2 or 3 non-negative numbers, got {r}")
        if r[0] <= 0 or r[-1] <= 0:
            raise ValueError(f"the train and test ratios must be positive, got {r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        if self.method == "cold-in-scenario" and self.scenario is None:
            raise ValueError("cold-in-scenario needs a target scenario (CLI: --scenario NAME)")
        return self

    def apply(self, events: pl.DataFrame, predefined: Split | None = None) -> Split:
        """Split typed, cleaned events.

        Args:
            events: typed, cleaned events (``scenerec.schema.EVENT_SCHEMA``).
            predefined: the split the data release ships, for ``method="predefined"``.

        Raises:
            ConfigError: ``method="predefined"`` without a ``predefined`` split.
        """
        if self.method == "predefined":
            if predefined is None:
                raise ConfigError(
                    "split.method: predefined needs a dataset that ships its own split; "
                    "choose another method"
                )
            return predefined
        if self.method == "leave-last-out":
            return leave_last_out(events, scenario=self.scenario, n_valid=1 if self.valid else 0)
        if self.method == "temporal":
            cutoff = self.cutoff
            if cutoff is None:
                check_events(events)  # integer timestamps, before taking their quantile
                cutoff = int(events[C.TIMESTAMP].quantile(DEFAULT_CUTOFF_QUANTILE) or 0)
            return temporal_cutoff(events, cutoff=cutoff)
        if self.method == "ratio":
            return ratio_split(events, ratios=self.ratios, order=self.order, seed=self.seed)
        if self.scenario is None:  # the validator rejects this; a model_construct may not
            raise ConfigError("split.scenario: cold-in-scenario needs a target scenario")
        return cold_in_scenario(
            events, scenario=self.scenario, fraction=self.fraction, seed=self.seed
        )


def make_split(ds: Dataset, spec: SplitSpec, given: Split | None = None) -> Split:
    """``spec.apply`` on a Dataset's events; ``given`` is the split its release ships, if any."""
    return spec.apply(ds.raw_events(), given)
