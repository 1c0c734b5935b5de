"""``cold_in_scenario``: users held out of one scenario entirely, known from the others."""

from __future__ import annotations

import numpy as np
import polars as pl

from scenerec.data.split.core import TEST, TRAIN, Split, check_events, check_scenario, finish
from scenerec.errors import ConfigError
from scenerec.schema import C


def cold_in_scenario(
    events: pl.DataFrame, *, scenario: str, fraction: float = 0.2, seed: int = 0
) -> Split:
    """Hold some users out of one scenario entirely; they stay known from the others.

    Eligible users are active in ``scenario`` and in at least one other scenario. A seeded
    ``round(fraction * n_eligible)`` of them (at least one when ``fraction > 0``) are held
    out: all their ``scenario`` events go to test and their other scenarios stay in train
    (at any time: this protocol measures transfer from other scenarios, not the future).
    Everything else is train. There is no valid part.

    Args:
        events: typed, cleaned events.
        scenario: the scenario the held-out users are cold in.
        fraction: share of eligible users held out, in ``[0, 1]``.
        seed: which users.
    """
    check_events(events)
    check_scenario(events, scenario)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"cold_in_scenario: fraction must be in [0, 1], got {fraction!r}")
    per_user = events.group_by(C.USER_ID).agg(
        (pl.col(C.SCENARIO) == scenario).any().alias("in_target"),
        (pl.col(C.SCENARIO) != scenario).any().alias("in_other"),
    )
    eligible = (
        per_user.filter(pl.col("in_target") & pl.col("in_other"))[C.USER_ID].sort().to_numpy()
    )
    n_hold = round(fraction * len(eligible))
    if fraction > 0 and len(eligible):
        n_hold = max(1, n_hold)
    held = np.random.default_rng(seed).permutation(eligible)[:n_hold]
    part = events.select(
        pl.when(pl.col(C.USER_ID).is_in(held.tolist()) & (pl.col(C.SCENARIO) == scenario))
        .then(TEST)
        .otherwise(TRAIN)
    ).to_series()
    info = {
        "method": "cold_in_scenario",
        "scenario": scenario,
        "fraction": fraction,
        "seed": seed,
        "n_eligible_users": len(eligible),
        "held_out_users": sorted(held.tolist()),
    }
    return finish(events, part, name=f"cold_in_scenario[{scenario}]", info=info, with_valid=False)
