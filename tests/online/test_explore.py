"""Exploration: Thompson sampling learns the better arm, exploration stays within its bound,
the fresh and trending arms serve what they promise; trending counts decay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.models import RecQuery
from scenerec.online import AdaptiveRecommender, ExplorationConfig, OnlineConfig
from scenerec.online.explore import Explorer, Trending
from scenerec.schema import C


@pytest.mark.parametrize("max_share", [0.05, 0.2])
def test_thompson_sampling_finds_the_better_arm_within_the_exploration_bound(
    max_share: float,
) -> None:
    ex = Explorer(ExplorationConfig(enabled=True, max_share=max_share, seed=1))
    rates = {"model": 0.1, "fresh": 0.05, "trending": 0.4}  # trending is the better strategy
    rng = np.random.default_rng(0)
    for _ in range(5_000):
        arm, _ = ex.choose("app")
        ex.reward("app", arm, bool(rng.random() < rates[arm]))
    rep = ex.report()["scenarios"]["app"]
    assert rep["exploration_share"] <= max_share + 1e-9
    assert rep["arms"]["trending"]["requests"] > 0.6 * rep["requests"]
    assert abs(rep["arms"]["trending"]["click_rate"] - 0.4) < 0.05


def test_disabled_exploration_always_serves_the_model() -> None:
    ex = Explorer(ExplorationConfig(enabled=False))
    assert {ex.choose("web") for _ in range(100)} == {("model", False)}


def test_trending_counts_halve_every_half_life_and_survive_rescaling() -> None:
    tr = Trending(half_life_s=100.0)
    items, scen = np.array([0, 1]), np.zeros(2, np.int64)
    tr.add(scen, items, np.array([0, 100]))
    s = tr.scores(0, np.array([0, 1, 2]))
    np.testing.assert_allclose(s[0] / s[1], 0.5, rtol=1e-6)
    assert s[2] == 0
    tr.add(scen[:1], items[:1], np.array([100 * 70]))  # 70 half-lives later: a rescale
    s = tr.scores(0, np.array([0, 1]))
    assert np.isfinite(s).all() and s[0] > 1e6 * s[1]
    assert tr.scores(1, np.array([0])).sum() == 0  # another scenario


def test_arms_serve_fresh_items_and_trending_items(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    cfg = OnlineConfig(
        exploration=ExplorationConfig(enabled=True, arms=("fresh",), fresh_slots=2),
        fine_tune={"enabled": False},  # type: ignore[arg-type]
    )
    ar = AdaptiveRecommender.from_run(fusion_run, cfg)
    ar.add_items(pl.DataFrame({C.ITEM_ID: ["n1", "n2", "n3"], C.TITLE: ["a", "b", "c"],
                               C.SCENARIO: ["web"] * 3}))  # fmt: skip
    user = split[0][C.USER_ID][0]
    rec = ar.recommend(RecQuery(user_id=user, scenario="web"), k=10)
    assert rec.arm == "fresh" and len(rec.item_ids) == 10
    assert len(set(rec.item_ids[-2:]) & {"n1", "n2", "n3"}) == 2
    cfg = OnlineConfig(
        exploration=ExplorationConfig(enabled=True, arms=("trending",)),
        fine_tune={"enabled": False},  # type: ignore[arg-type]
    )
    ar = AdaptiveRecommender.from_run(fusion_run, cfg)
    stream = split[1].filter(pl.col(C.SCENARIO) == "app").head(300)
    ar.apply(stream)
    rec = ar.recommend(RecQuery(user_id="nobody-yet", scenario="app", unknown_user="fallback"))
    top = stream[C.ITEM_ID].value_counts(sort=True)[C.ITEM_ID].head(3).to_list()
    assert rec.arm == "trending" and set(top) & set(rec.item_ids)
