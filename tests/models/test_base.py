"""The base class's shared behaviour, exercised through the Popularity model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError, NotFittedError, UnknownEntityError
from scenerec.models import HistoryEvent, RecQuery, load_run
from scenerec.models.popularity import Popularity, PopularityConfig
from scenerec.schema import C


@pytest.fixture()
def ds() -> Dataset:
    rows = [
        ("u1", "a", "app", 1), ("u1", "b", "app", 2), ("u2", "a", "app", 3),
        ("u2", "c", "app", 4), ("u3", "a", "app", 5), ("u3", "d", "web", 6),
        ("u4", "d", "web", 7), ("u4", "e", "web", 8), ("u2", "e", "web", 9),
    ]  # fmt: skip
    ev = pl.DataFrame(rows, schema=[C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP], orient="row")
    ev = ev.with_columns(pl.lit("click").alias(C.BEHAVIOR))
    cat = pl.DataFrame({C.ITEM_ID: ["f"], C.TITLE: ["new item"], C.SCENARIO: ["web"]})
    return Dataset(ev, cat)


def test_candidates_are_the_target_scenario_items(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    web = m.recommend(RecQuery(user_id="u1", scenario="web"), k=10)
    assert set(web.item_ids) == {"d", "e", "f"}  # f: catalog-only item of the web scenario
    assert list(web.scores) == sorted(web.scores, reverse=True)


def test_seen_items_excluded_and_exclude_respected(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    r = m.recommend(RecQuery(user_id="u1", scenario="app"), k=10)
    assert "a" not in r.item_ids and "b" not in r.item_ids
    r2 = m.recommend(RecQuery(user_id="u1", scenario="app", exclude_seen=False, exclude=["c"]))
    assert r2.item_ids[0] == "a" and "c" not in r2.item_ids


def test_candidates_restrict_and_unknown_candidate_is_clear(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    r = m.recommend(RecQuery(user_id="u4", candidates=["b", "c"], exclude_seen=False), k=5)
    assert set(r.item_ids) == {"b", "c"}
    with pytest.raises(UnknownEntityError, match="item 'zz'"):
        m.recommend(RecQuery(user_id="u4", candidates=["zz"]))


def test_unknown_user_policy(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    with pytest.raises(UnknownEntityError, match="fallback"):
        m.recommend(RecQuery(user_id="ghost", scenario="app"))
    r = m.recommend(RecQuery(user_id="ghost", scenario="app", unknown_user="fallback"), k=1)
    assert r.fallback and r.item_ids == ("a",)


def test_adhoc_history_and_unknown_scenario(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    r = m.recommend(RecQuery(history=[HistoryEvent("a", "app")], scenario="app"), k=3)
    assert "a" not in r.item_ids and not r.fallback
    with pytest.raises(UnknownEntityError, match="choose one of"):
        m.recommend(RecQuery(user_id="u1", scenario="tv"))


def test_ranked_is_immutable(ds: Dataset) -> None:
    r = Popularity().fit(ds).recommend(RecQuery(user_id="u1"), k=2)
    with pytest.raises(ValueError):
        r.scores[0] = 1.0
    assert r.scores.dtype == np.float32


def test_save_load_round_trip(ds: Dataset, tmp_path: Path) -> None:
    m = Popularity(PopularityConfig(scope="global", half_life_days=1.0)).fit(ds)
    m.save(tmp_path / "run")
    back = load_run(tmp_path / "run")
    assert isinstance(back, Popularity) and back.config == m.config
    for user in ("u1", "u2", "u3", "u4"):
        q = RecQuery(user_id=user, scenario="app")
        a, b = m.recommend(q, k=5), back.recommend(q, k=5)
        assert a.item_ids == b.item_ids and np.array_equal(a.scores, b.scores)


def test_not_fitted_and_wrong_config() -> None:
    with pytest.raises(NotFittedError):
        Popularity().recommend(RecQuery(user_id="u1"))
    with pytest.raises(ConfigError):
        Popularity(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k must be"):
        Popularity().fit(
            Dataset(
                pl.DataFrame(
                    {
                        C.USER_ID: ["u"],
                        C.ITEM_ID: ["i"],
                        C.SCENARIO: ["s"],
                        C.BEHAVIOR: ["v"],
                        C.TIMESTAMP: [1],
                    }
                )
            )
        ).recommend(RecQuery(user_id="u"), k=0)


def test_rank_users_matches_recommend(ds: Dataset) -> None:
    m = Popularity().fit(ds)
    users = np.arange(ds.n_users)
    top, _ = m.rank_users(users, scenario="app", k=3, exclude=m.train_state.matrix(binary=True))
    for u in users:
        uid = ds.user_vocab.to_ids([u])[0]
        r = m.recommend(RecQuery(user_id=uid, scenario="app"), k=3)
        got = [i for i in top[u] if i >= 0]
        assert ds.item_vocab.to_ids(got) == list(r.item_ids)


@pytest.mark.parametrize("half_life", [None, 2.0])
def test_partial_fit_equals_refit_and_grows_vocab(ds: Dataset, half_life: float | None) -> None:
    cfg = PopularityConfig(half_life_days=half_life, weighted=True)
    first = ds.events.filter(pl.col(C.TIMESTAMP) <= 5)
    later = ds.raw_events().filter(pl.col(C.TIMESTAMP) > 5)
    new = pl.DataFrame(
        {C.USER_ID: ["u9"], C.ITEM_ID: ["g"], C.SCENARIO: ["tv"], C.BEHAVIOR: ["click"],
         C.TIMESTAMP: [86400 * 3]}
    )  # fmt: skip
    online = Popularity(cfg).fit(ds.subset(first))
    online.partial_fit(later.select(new.columns)).partial_fit(new)
    full = pl.concat([ds.raw_events().select(new.columns), new])
    refit = Popularity(cfg).fit(Dataset(full, ds.catalog.drop(C.ITEM_IDX)))
    for scen in ("app", "web", "tv"):
        a = online.recommend(RecQuery(user_id="u9", scenario=scen, exclude_seen=False), k=10)
        b = refit.recommend(RecQuery(user_id="u9", scenario=scen, exclude_seen=False), k=10)
        assert a.item_ids == b.item_ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_online_protocol_holds_exactly_for_models_that_learn_online() -> None:
    from scenerec.models import OnlineRecommender, Recommender
    from scenerec.models.registry import MODELS, model_class

    online = {name for name in MODELS if isinstance(model_class(name)(), OnlineRecommender)}
    assert online == {
        "popularity",
        "fusion",
        "als",
        "ease",
        "itemknn",
        "cross_scenario_transformer",
    }
    for name in MODELS:  # every model is a Recommender; offline ones have no partial_fit
        model = model_class(name)()
        assert isinstance(model, Recommender)
        assert hasattr(model, "partial_fit") == (name in online)


def test_topk_ties_break_by_lower_index_even_at_the_cut() -> None:
    from scenerec.models.topk import topk as _topk

    scores = np.array(
        [[1.0, 3.0, 1.0, 1.0, 3.0, -np.inf], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], np.float32
    )
    top, vals = _topk(scores, 3)
    assert top[0].tolist() == [1, 4, 0]
    assert top[1].tolist() == [0, 1, 2]
    top, vals = _topk(scores[:1], 7)
    assert top[0].tolist() == [1, 4, 0, 2, 3, -1, -1]
    assert np.isneginf(vals[0, 5:]).all()


def test_every_registered_model_resolves_to_its_name() -> None:
    from scenerec.models.registry import MODELS, model_class

    for name in MODELS:
        cls = model_class(name)
        assert cls.name == name
    with pytest.raises(ConfigError, match="choose one of"):
        model_class("nope")


def test_runtime_options_reach_fit_and_the_environment_is_not_read(
    ds: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from scenerec.models import FitOptions
    from scenerec.models.bpr import BPRMF, BPRConfig
    from scenerec.models.nn import TrainConfig

    monkeypatch.setenv("SCENEREC_THREADS", "1")
    before = torch.get_num_threads()
    try:
        cfg = BPRConfig(factors=4, seed=3, train=TrainConfig(epochs=1, batch_size=64))
        m = BPRMF(cfg).fit(ds, options=FitOptions(threads=2, seed=7))
        assert torch.get_num_threads() == 2  # from the options, not SCENEREC_THREADS
        assert m.fit_info["seed"] == 7 and m.seed == 7
        assert BPRMF(cfg).fit(ds).fit_info["seed"] == 3  # no override: the config's seed
        assert FitOptions.from_env().threads == 1  # only the CLI layer reads the environment
    finally:
        torch.set_num_threads(before)
