"""Online learning of the classic models: ALS folds users in, EASE/ItemKNN read the updated
history, Popularity forgets; catalog additions and warm starts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.models import RecQuery
from scenerec.models.als import ALS, ALSConfig
from scenerec.models.ease import EASE
from scenerec.models.itemknn import ItemKNN
from scenerec.models.online import OnlineMixin
from scenerec.models.popularity import Popularity, PopularityConfig
from scenerec.schema import C


@pytest.fixture(scope="module")
def ds() -> Dataset:
    """Two groups of users with disjoint tastes (items a* and b*)."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        group = "a" if u < 30 else "b"
        for t, i in enumerate(rng.choice(12, 6, replace=False)):
            rows.append((f"u{u}", f"{group}{i}", "app" if t % 2 else "web", "click", u * 100 + t))
    cols = [C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP]
    return Dataset(pl.DataFrame(rows, schema=cols, orient="row"))


def _event(user: str, item: str, t: int = 10**6, scenario: str = "app") -> pl.DataFrame:
    return pl.DataFrame(
        {
            C.USER_ID: [user],
            C.ITEM_ID: [item],
            C.SCENARIO: [scenario],
            C.BEHAVIOR: ["click"],
            C.TIMESTAMP: [t],
        }
    )


def _top(model: OnlineMixin, user: str, k: int = 5) -> tuple[str, ...]:  # type: ignore[type-arg]
    return model.recommend(
        RecQuery(user_id=user, scenario="app", unknown_user="fallback"), k=k
    ).item_ids


@pytest.mark.parametrize("cls", [ALS, EASE, ItemKNN])
def test_a_new_users_events_change_their_next_recommendation(cls: type, ds: Dataset) -> None:
    model = cls(ALSConfig(factors=8, iterations=5, seed=1)) if cls is ALS else cls()
    model.fit(ds)
    assert model.recommend(
        RecQuery(user_id="new", scenario="app", unknown_user="fallback")
    ).fallback
    model.partial_fit(pl.concat([_event("new", "b1", 10**6 + t) for t in range(2)]))
    model.partial_fit(_event("new", "b2", 10**6 + 5, scenario="web"))
    top = _top(model, "new")
    assert not model.recommend(RecQuery(user_id="new", scenario="app")).fallback
    assert sum(i.startswith("b") for i in top) >= 4, top  # the taste of the b group
    model.partial_fit(pl.concat([_event("new", f"a{i}", 2 * 10**6 + i) for i in range(6)]))
    assert _top(model, "new") != top


def test_als_fold_in_is_the_exact_solve_of_the_full_row(ds: Dataset) -> None:
    model = ALS(ALSConfig(factors=8, iterations=5, seed=1)).fit(ds)
    model.partial_fit(_event("u3", "b4"))
    u = model.vocab("users").index("u3")
    row = model.train_state.matrix(None)[[u]].astype(np.float32)
    expected = model._als.recalculate_user([u], row)
    np.testing.assert_allclose(model._als.user_factors[u], np.asarray(expected).ravel(), rtol=1e-5)


def test_new_catalog_items_and_new_items_in_events_keep_scoring_valid(ds: Dataset) -> None:
    for model in (ItemKNN().fit(ds), EASE().fit(ds), ALS(ALSConfig(factors=8, seed=1)).fit(ds)):
        model.add_items(pl.DataFrame({C.ITEM_ID: ["z1"], C.SCENARIO: ["app"]}))
        model.partial_fit(_event("u1", "z2"))
        top = _top(model, "u1", k=20)
        assert len(top) == len(set(top)) and "z2" not in top  # seen items stay excluded
        assert model.vocab("items").index("z1") in model.items_of_scenario("app")


def test_popularity_forgets_a_users_events_exactly(ds: Dataset) -> None:
    cfg = PopularityConfig(half_life_days=3.0, weighted=True)
    model = Popularity(cfg).fit(ds)
    before = model.counts_.copy()
    model.partial_fit(pl.concat([_event("ghost", "a1"), _event("ghost", "b1", 10**6 + 3600)]))
    assert model.forget_user("ghost")
    assert not model.forget_user("ghost")
    age = 10**6 + 3600 - int(ds.events[C.TIMESTAMP].max())  # the counts age to the newest event
    decayed = before * np.float32(2.0 ** -(age / (3 * 86_400.0)))
    np.testing.assert_allclose(model.counts_[:, : before.shape[1]], decayed, rtol=1e-4, atol=1e-6)
    with pytest.raises(KeyError):
        model.recommend(RecQuery(user_id="ghost", scenario="app"))


def test_als_refit_starts_from_the_previous_factors(ds: Dataset) -> None:
    old = ALS(ALSConfig(factors=8, iterations=1, seed=1)).fit(ds)
    warm = ALS(ALSConfig(factors=8, iterations=1, seed=2)).warm_start_from(old).fit(ds)
    cold = ALS(ALSConfig(factors=8, iterations=1, seed=2)).fit(ds)
    V0 = old._als.item_factors
    # one more sweep from the old factors stays close to them; a fresh start does not
    assert np.abs(warm._als.item_factors - V0).mean() < np.abs(cold._als.item_factors - V0).mean()
