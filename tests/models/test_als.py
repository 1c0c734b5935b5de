"""ALS: confidence comes from behaviour weights, ad-hoc users get an exact solve."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.errors import ConfigError
from scenerec.models import HistoryEvent, RecQuery, UserBatch
from scenerec.models.als import ALS, ALSConfig
from scenerec.testing import make_oracle


def _reference_solve(Y: np.ndarray, items: list[int], conf: list[float], reg: float) -> np.ndarray:
    """Hu et al.'s user update: (Y^T C Y + reg I) x = Y^T C p, unobserved confidence 1."""
    A = Y.T @ Y + reg * np.eye(Y.shape[1])
    b = np.zeros(Y.shape[1])
    for i, c in zip(items, conf, strict=True):
        A += (c - 1.0) * np.outer(Y[i], Y[i])
        b += c * Y[i]
    return np.asarray(np.linalg.solve(A, b))


def test_adhoc_factors_solve_with_alpha_times_behaviour_weight() -> None:
    o = make_oracle()
    cfg = ALSConfig(factors=6, regularization=0.5, alpha=2.0, iterations=5)
    model = ALS(cfg).fit(o.train)
    items_v = model.vocab("items")
    a_items = o.items(o.source, 0)
    history = [
        HistoryEvent(a_items[0], o.source, "purchase", 1),
        HistoryEvent(a_items[1], o.source, "view", 2),
        HistoryEvent(a_items[1], o.source, "view", 3),  # repeats add up
    ]
    h = model.train_state.adhoc_history(history)
    batch = UserBatch(np.array([-1]), None, model.train_state, adhoc={0: h})
    got = model._user_factors(batch)[0]
    w = model.train_state.behavior_weights
    Y = np.asarray(model._als.item_factors, np.float64)
    expected = _reference_solve(
        Y,
        [items_v.index(a_items[0]), items_v.index(a_items[1])],
        [cfg.alpha * w["purchase"], cfg.alpha * 2 * w["view"]],
        cfg.regularization,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)


def test_known_users_use_their_trained_factors() -> None:
    o = make_oracle()
    model = ALS(ALSConfig(factors=6, regularization=1.0)).fit(o.train)
    users = np.arange(7, dtype=np.int64)
    items = model.train_state.items_of_scenario(model.scenario_idx(o.target))
    U = np.asarray(model._als.user_factors)
    V = np.asarray(model._als.item_factors)
    np.testing.assert_allclose(
        model.score_users(users, scenario=o.target), U[users] @ V[items].T, rtol=1e-5, atol=1e-6
    )


def test_seed_changes_the_factors() -> None:
    o = make_oracle()
    a = ALS(ALSConfig(factors=6, seed=0)).fit(o.train)
    b = ALS(ALSConfig(factors=6, seed=1)).fit(o.train)
    assert not np.allclose(a._als.item_factors, b._als.item_factors)


def test_cold_in_target_user_is_recommended_their_cluster() -> None:
    o = make_oracle()
    model = ALS(ALSConfig(factors=8, regularization=1.0)).fit(o.train)
    hits = [
        sum(
            i in o.relevant[u]
            for i in model.recommend(RecQuery(user_id=u, scenario=o.target), k=5).item_ids
        )
        for u in o.cold_users
    ]
    assert np.mean(hits) >= 4.0


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="factors"):
        ALSConfig.from_dict({"factors": 0})
    with pytest.raises(ConfigError, match="unknown_option"):
        ALSConfig.from_dict({"unknown_option": 1})
