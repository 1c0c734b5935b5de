"""CMF: the solver is Hu et al.'s least squares, CG approaches it, scenario weights act."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from scenerec.errors import ConfigError
from scenerec.models import HistoryEvent, RecQuery, UserBatch
from scenerec.models.cmf import CMF, CMFConfig, _csr, _observations, _solve, _solve_cg
from scenerec.testing import make_oracle


def _problem(seed: int = 0, n: int = 25, m: int = 18, f: int = 5):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    R = sp.random(n, m, density=0.3, random_state=seed, format="coo")
    order = np.lexsort((R.col, R.row))
    rows, cols = R.row[order].astype(np.int64), R.col[order].astype(np.int64)
    w = (R.data[order] * 3 + 0.5).astype(np.float32)
    Y = rng.normal(size=(m, f))
    return rows, cols, w, Y


def _hu_reference(rows, cols, w, Y, n, alpha, reg):  # type: ignore[no-untyped-def]
    """Hu et al.'s exact user update with c = 1 + alpha * w, written out per user."""
    f = Y.shape[1]
    out = np.zeros((n, f))
    for u in range(n):
        A = Y.T @ Y + reg * np.eye(f)
        b = np.zeros(f)
        for i, wi in zip(cols[rows == u], w[rows == u], strict=True):
            c = 1.0 + alpha * wi
            A += (c - 1.0) * np.outer(Y[i], Y[i])
            b += c * Y[i]
        out[u] = np.linalg.solve(A, b)
    return out


def test_exact_solver_is_hu_least_squares_for_one_scenario() -> None:
    rows, cols, w, Y = _problem()
    n, m = 25, Y.shape[0]
    obs = _observations(rows, cols, np.zeros(len(rows), np.int64), w, np.array([1.0]), 2.0, m)
    X = _solve(*_csr(obs, n, by="row"), Y, Y.T @ Y, np.ones(n), 0.7)
    np.testing.assert_allclose(X, _hu_reference(rows, cols, w, Y, n, 2.0, 0.7), rtol=1e-6)


def test_conjugate_gradient_converges_to_the_exact_solve() -> None:
    rows, cols, w, Y = _problem(seed=1)
    n, m = 25, Y.shape[0]
    obs = _observations(rows, cols, np.zeros(len(rows), np.int64), w, np.array([1.0]), 1.0, m)
    parts = _csr(obs, n, by="row")
    exact = _solve(*parts, Y, Y.T @ Y, np.ones(n), 0.5)
    start = np.zeros_like(exact)
    few = _solve_cg(*parts, Y, Y.T @ Y, np.ones(n), 0.5, start, steps=1)
    many = _solve_cg(*parts, Y, Y.T @ Y, np.ones(n), 0.5, start, steps=Y.shape[1] + 2)
    np.testing.assert_allclose(many, exact, rtol=1e-3, atol=1e-4)
    assert np.abs(few - exact).max() > np.abs(many - exact).max()


def test_scenario_weight_scales_that_scenarios_loss() -> None:
    o = make_oracle()
    base = dict(factors=6, regularization=1.0, iterations=5)
    plain = CMF(CMFConfig(**base)).fit(o.train)
    muted = CMF(CMFConfig(**base, scenario_weights={o.target: 0.0})).fit(o.train)
    target = muted.train_state.items_of_scenario(muted.scenario_idx(o.target))
    source = muted.train_state.items_of_scenario(muted.scenario_idx(o.source))
    # with lambda = 0 nothing pulls the target items' factors away from the L2 prior (zero)
    assert np.abs(muted.item_factors_[target]).max() < 1e-6
    assert np.abs(muted.item_factors_[source]).max() > 1e-2
    assert np.abs(plain.item_factors_[target]).max() > 1e-2


def test_unknown_scenario_weight_is_a_config_error() -> None:
    o = make_oracle()
    with pytest.raises(ConfigError, match="no-such-scenario"):
        CMF(CMFConfig(scenario_weights={"no-such-scenario": 2.0})).fit(o.train)


def test_adhoc_history_is_solved_exactly_against_item_factors() -> None:
    o = make_oracle()
    model = CMF(CMFConfig(factors=6, regularization=0.5, alpha=2.0, iterations=4)).fit(o.train)
    items_v = model.vocab("items")
    src = o.items(o.source, 1)[:3]
    events = [HistoryEvent(i, o.source, "click", t) for t, i in enumerate(src)]
    batch = UserBatch(
        np.array([-1]), None, model.train_state, adhoc={0: model.train_state.adhoc_history(events)}
    )
    got = model._solve_adhoc(batch, [0])[0]
    # reference: every item weighs beta_i (its scenarios' lambdas, here 1) when unobserved
    Y = model.item_factors_.astype(np.float64)
    beta = model.beta_
    A = (Y * beta[:, None]).T @ Y + 0.5 * np.eye(6)
    b = np.zeros(6)
    for i in src:
        y = Y[items_v.index(i)]
        c = 1.0 + 2.0 * model.train_state.behavior_weights["click"]
        A += (c - 1.0) * np.outer(y, y)
        b += c * y
    np.testing.assert_allclose(got, np.linalg.solve(A, b), rtol=1e-6)
    r = model.recommend(RecQuery(history=events, scenario=o.target), k=5)
    assert sum(i in o.items(o.target, 1) for i in r.item_ids) >= 4


def test_regularization_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="regularization"):
        CMFConfig.from_dict({"regularization": 0.0})
