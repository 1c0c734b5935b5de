"""EASE: the closed form is the constrained ridge solution, and the scope choice behaves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.models import RecQuery
from scenerec.models.ease import EASE, EASEConfig
from scenerec.schema import C
from scenerec.testing import make_oracle


def _events(pairs: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            C.USER_ID: [u for u, _, _ in pairs],
            C.ITEM_ID: [i for _, i, _ in pairs],
            C.SCENARIO: [s for _, _, s in pairs],
            C.BEHAVIOR: ["click"] * len(pairs),
            C.TIMESTAMP: list(range(len(pairs))),
        }
    )


def _random_dataset(seed: int = 0, n_users: int = 30, n_items: int = 12) -> Dataset:
    rng = np.random.default_rng(seed)
    pairs = [
        (f"u{u}", f"i{i:02d}", "s")
        for u in range(n_users)
        for i in range(n_items)
        if rng.random() < 0.3
    ]
    # a repeated event must count once: EASE works on the binary matrix
    pairs.append(pairs[0])
    return Dataset(_events(pairs))


def test_weights_solve_the_constrained_ridge_problem() -> None:
    reg = 3.0
    data = _random_dataset()
    model = EASE(EASEConfig(reg=reg)).fit(data)
    _, B = model.blocks_[-1]
    X = data.matrix(None, binary=True).toarray().astype(np.float64)
    n = X.shape[1]
    # Independent derivation: column j of B is the ridge regression of item j on the other
    # items (diag(B) = 0 removes item j from its own regression).
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = X[:, others]
        b = np.linalg.solve(A.T @ A + reg * np.eye(n - 1), A.T @ X[:, j])
        np.testing.assert_allclose(B[others, j], b, rtol=1e-4, atol=1e-6)
        assert B[j, j] == 0.0


def test_scores_are_the_users_binary_row_times_b() -> None:
    data = _random_dataset(seed=1)
    model = EASE(EASEConfig(reg=2.0)).fit(data)
    _, B = model.blocks_[-1]
    X = data.matrix(None, binary=True)
    users = np.arange(5, dtype=np.int64)
    items = np.array([0, 3, 7], dtype=np.int64)
    expected = (X[users] @ B)[:, items]
    got = model.score_users(users, scenario="s", items=items)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_scope_all_transfers_across_scenarios_and_scope_scenario_does_not() -> None:
    o = make_oracle()
    cold = o.cold_users[0]
    for scope in ("all", "scenario"):
        model = EASE(EASEConfig(reg=50.0, scope=scope)).fit(o.train)
        r = model.recommend(RecQuery(user_id=cold, scenario=o.target), k=5)
        right = sum(i in o.relevant[cold] for i in r.item_ids)
        if scope == "all":
            assert right >= 4
        else:
            # no co-occurrence across scenarios: the cold user is ranked by target popularity
            pop = model.train_state.popularity[model.scenario_idx(o.target)]
            ids = model.vocab("items")
            got = np.array([pop[ids.index(i)] for i in r.item_ids])
            assert np.all(got >= np.sort(pop)[::-1][4])


def test_scope_scenario_keeps_one_block_per_scenario_and_round_trips(tmp_path: Path) -> None:
    o = make_oracle()
    model = EASE(EASEConfig(reg=50.0, scope="scenario")).fit(o.train)
    assert sorted(model.blocks_) == [0, 1]
    for s, (items, B) in model.blocks_.items():
        assert B.shape == (len(items), len(items))
        assert set(model.vocab("items").to_ids(items)) == {
            i for i in o.events[C.ITEM_ID].unique().to_list() if i.startswith(o.train.scenarios[s])
        }
    loaded = EASE.load(model.save(tmp_path / "run"))
    users = np.arange(10, dtype=np.int64)
    np.testing.assert_array_equal(
        loaded.score_users(users, scenario=None), model.score_users(users, scenario=None)
    )


def test_scope_scenario_skips_a_scenario_with_no_events() -> None:
    """Fitted on one scenario's events (a single-scenario baseline cut from a two-scenario
    data set) EASE solves that scenario only: the other's items neither cost a Gram matrix nor
    hit max_items."""
    rng = np.random.default_rng(1)
    pairs = [(f"u{u}", f"a{i}", "small") for u in range(30) for i in range(6) if rng.random() < 0.4]
    pairs += [(f"u{u}", f"b{i:02d}", "big") for u in range(30) for i in range(20)]
    full = Dataset(_events(pairs))
    small = full.subset(full.events.filter(pl.col(C.SCENARIO) == "small"))
    with pytest.raises(ConfigError, match="scenario 'big'") as err:
        EASE(EASEConfig(reg=1.0, scope="scenario", max_items=10)).fit(full)
    assert "scope=" not in str(err.value)  # the fix it names is one this config can still take
    model = EASE(EASEConfig(reg=1.0, scope="scenario", max_items=10)).fit(small)
    assert [small.scenarios[s] for s in model.blocks_] == ["small"]
    r = model.recommend(RecQuery(user_id="u0", scenario="small"), k=3)
    assert len(r.item_ids) == 3 and all(i.startswith("a") for i in r.item_ids)


def test_too_many_items_is_refused_with_the_fix() -> None:
    data = _random_dataset()
    with pytest.raises(ConfigError, match="scope='scenario'"):
        EASE(EASEConfig(max_items=5)).fit(data)


def test_reg_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="reg"):
        EASEConfig.from_dict({"reg": 0})
