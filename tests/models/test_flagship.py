"""CrossScenarioRanker (the flagship): the contract, the gate, cold-label users, text fallback."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from scenerec.data.clean import clean_events
from scenerec.data.dataset import Dataset
from scenerec.data.synthetic import generate, tiny
from scenerec.errors import ConfigError, DataWarning
from scenerec.models import FitOptions, RecQuery, TrainState
from scenerec.models.batch import UserBatch
from scenerec.models.flagship import CrossScenarioRanker, CrossScenarioRankerConfig, GeneratorSpec
from scenerec.schema import C
from scenerec.testing import OracleConfig, check_model, make_oracle
from scenerec.text.encoder import EncoderConfig, HashingOptions

ONE = FitOptions(threads=1)
HASHING = EncoderConfig(backend="hashing", hashing=HashingOptions(dim=64))
LIGHT = (
    GeneratorSpec(model="itemknn", params={"k": 20}, scope="all", candidates=20),
    GeneratorSpec(model="itemknn", params={"k": 20}, scope="target", candidates=20),
    GeneratorSpec(
        model="als", params={"factors": 8, "regularization": 1.0}, scope="all", candidates=10
    ),
    GeneratorSpec(model="text", scope="all", candidates=10),
)


def _light(**kw: object) -> CrossScenarioRankerConfig:
    """A config for tiny data: cheap generators, a hashing encoder, a small ranker."""
    base: dict[str, object] = {
        "generators": [g.to_dict() for g in LIGHT],
        "encoder": HASHING.to_dict(),
        "text_cache": False,
        "ranker": {"n_estimators": 60, "min_child_samples": 5, "early_stopping": 10},
    }
    base.update(kw)
    return CrossScenarioRankerConfig.from_dict(base)


def _ids_only() -> CrossScenarioRankerConfig:
    return _light(encoder=None)  # the text generator is left out


def test_contract(tmp_path: Path) -> None:
    # The oracle has no item text: the contract runs the id generators.
    check_model(lambda: CrossScenarioRanker(_ids_only()), tmp_path=tmp_path, options=ONE)


@pytest.fixture(scope="module")
def shop() -> Dataset:
    """The tiny synthetic platform (three scenarios, item titles), cleaned."""
    syn = generate(tiny(seed=1))
    events = clean_events(syn.events, catalog=syn.catalog, file="<synthetic>").events
    return Dataset(events.drop(C.ROW), syn.catalog)


def test_text_features_are_used_and_the_model_survives_save_and_load(
    shop: Dataset, tmp_path: Path
) -> None:
    m = CrossScenarioRanker(_light()).fit(shop, options=ONE)
    assert m.fit_info["items_with_text"] > 0
    assert any(n.startswith("text_cos") for n in m.names_)
    user = shop.user_vocab.to_list()[3]
    a = m.recommend(RecQuery(user_id=user, scenario="web"), k=10)
    b = (
        type(m)
        .load(m.save(tmp_path / "run"))
        .recommend(RecQuery(user_id=user, scenario="web"), k=10)
    )
    assert a.item_ids == b.item_ids
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_every_target_gets_a_plan_measured_on_held_out_label_users() -> None:
    o = make_oracle()
    m = CrossScenarioRanker(_ids_only().model_copy(update={"cold_share": 0.3})).fit(
        o.train, options=ONE
    )
    for scen in (o.source, o.target):
        info = m.fit_info["targets"][scen]
        assert info["plan"] == "ranker" or info["plan"] in {g.display for g in LIGHT[:3]}
        ndcg = info["valid_ndcg@10"]
        _assert_gate(info["plan"], ndcg, info["ranker_vs_best"])
        assert info["cold_label_users"] > 0
        assert 0.0 < info["candidate_recall"] <= 1.0


def _assert_gate(plan: str, ndcg: dict[str, float], versus: dict[str, Any]) -> None:
    """The plan is the best generator on the held-out users, or the ranker where it leads
    that generator by more than one standard error."""
    best_gen = max((k for k in ndcg if k != "ranker"), key=ndcg.__getitem__)
    assert versus["generator"] == best_gen
    assert abs(float(versus["lead"]) - (ndcg["ranker"] - ndcg[best_gen])) < 2e-4
    if plan == "ranker":
        assert float(versus["lead"]) > float(versus["se"])
    else:
        assert plan == best_gen and float(versus["lead"]) <= float(versus["se"])


def test_a_lead_within_one_standard_error_keeps_the_best_generator() -> None:
    from scenerec.models.flagship.gate import best_plan

    noisy = {"ranker": np.array([0.3, 0.0, 0.5, 0.0]), "knn": np.array([0.0, 0.2, 0.3, 0.2])}
    clear = {"ranker": np.full(400, 0.5) + np.tile([0.1, -0.1], 200), "knn": np.full(400, 0.3)}
    assert best_plan(noisy)[0] == "knn"  # leads by 0.025 on 4 users: noise
    assert best_plan(clear)[0] == "ranker"
    assert best_plan({"ranker": np.zeros(1), "knn": np.zeros(1)})[0] == "knn"


def test_users_cold_in_the_target_follow_the_cold_plan_measured_on_cold_label_users(
    tmp_path: Path,
) -> None:
    o = make_oracle()
    for gate_users in (1, 100_000):
        cfg = _ids_only().model_copy(update={"cold_share": 0.5, "cold_gate_users": gate_users})
        info = CrossScenarioRanker(cfg).fit(o.train, options=ONE).fit_info["targets"][o.target]
        cold_ndcg = info["valid_cold_ndcg@10"]
        assert info["valid_cold_users"] > 0
        if gate_users == 1:  # chosen on cold users
            _assert_gate(info["cold_plan"], cold_ndcg, info["cold_ranker_vs_best"])
        else:  # too few to choose on: cold users follow the target's plan
            assert info["cold_plan"] == info["plan"]
    m = CrossScenarioRanker(_ids_only()).fit(o.train, options=ONE)
    # Route warm users to one generator and cold users to another: each row follows its plan,
    # within one batch and after save and load.
    t = m.train_state.scenario_index(o.target)
    m.plan_[t], m.cold_plan_[t] = "als[all]", "itemknn[all]"
    users = o.train.user_vocab.to_list()
    warm = next(i for i, u in enumerate(users) if u not in o.cold_users)
    cold = next(i for i, u in enumerate(users) if u in o.cold_users)
    batch = UserBatch(np.array([warm, cold]), t, m.train_state)
    items = m.train_state.items_of_scenario(t)

    def direct(model: CrossScenarioRanker, label: str, row: int) -> np.ndarray:
        s, _ = model._generator(label).scores(batch, t, items)
        return s[row]

    for model in (m, type(m).load(m.save(tmp_path / "run"))):
        assert model.cold_plan_ == m.cold_plan_ and model.plan_ == m.plan_
        got = model._score(batch, items)
        np.testing.assert_allclose(got[0], direct(model, "als[all]", 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], direct(model, "itemknn[all]", 1), rtol=1e-5, atol=1e-6)
        assert not np.allclose(got[1], direct(model, "als[all]", 1))


def test_a_user_cold_in_the_target_is_served_from_their_other_scenario() -> None:
    o = make_oracle()
    m = CrossScenarioRanker(_ids_only()).fit(o.train, options=ONE)
    hits = []
    for user in o.cold_users:
        r = m.recommend(RecQuery(user_id=user, scenario=o.target), k=5)
        assert not r.fallback
        hits.append(len(set(r.item_ids) & o.relevant[user]) / 5)
    assert np.mean(hits) >= 0.8


def test_items_without_text_fall_back_to_ids_with_a_warning_that_counts_them(
    shop: Dataset,
) -> None:
    catalog = shop.catalog.drop("item_idx")
    half = [t if i % 2 else None for i, t in enumerate(catalog["title"].to_list())]
    cat = catalog.with_columns(pl.Series("title", half))
    cat = cat.drop([c for c in ("description", "category", "brand") if c in cat.columns])
    ds = Dataset(shop.raw_events(), cat)
    with pytest.warns(DataWarning, match=r"items have no text"):
        m = CrossScenarioRanker(_light()).fit(ds, options=ONE)
    assert m.fit_info["items_with_text"] == sum(t is not None for t in half)


def test_without_any_text_the_ranker_runs_on_ids() -> None:
    o = make_oracle()
    cfg = _ids_only()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        m = CrossScenarioRanker(cfg).fit(o.train, options=ONE)
    assert m.fit_info["items_with_text"] == 0
    r = m.recommend(RecQuery(user_id=o.warm_users[0], scenario=o.target), k=5)
    assert len(r) == 5


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="no other generator is left"):
        _light(encoder=None, generators=[LIGHT[3].to_dict()])
    assert all(g.model != "text" for g in _ids_only().effective_generators())
    with pytest.raises(ConfigError, match="labels must differ"):
        _light(generators=[LIGHT[0].to_dict(), LIGHT[0].to_dict()])


def test_explanations_name_the_part_and_the_past_items_behind_each_item() -> None:
    o = make_oracle()
    m = CrossScenarioRanker(_ids_only()).fit(o.train, options=ONE)
    user = o.cold_users[0]
    query = RecQuery(user_id=user, scenario=o.target)
    ranked = m.recommend(query, k=3)
    parts = {g.display for g in LIGHT[:3]} | {"context", "text"}
    for e in m.explain(query, list(ranked.item_ids)):
        assert e.source in parts | {"generators (outside the candidates)"} | {
            m.fit_info["targets"][o.target]["plan"]
        }
        assert abs(sum(e.contributions.values()) - 1.0) < 1e-3
        history = set(o.events.filter(o.events["user_id"] == user)["item_id"].to_list())
        assert e.because and {b.item_id for b in e.because} <= history
        assert all(b.scenario == o.source for b in e.because)  # cold in target: all from a


def test_every_model_explains_with_past_items_and_the_fallback_says_so() -> None:
    from scenerec.models.ease import EASE, EASEConfig

    o = make_oracle()
    m = EASE(EASEConfig(reg=50.0)).fit(o.train)
    query = RecQuery(user_id=o.warm_users[0], scenario=o.target)
    (e,) = m.explain(query, list(m.recommend(query, k=1).item_ids))
    assert e.source == "ease" and e.because
    anon = RecQuery(user_id="nobody", scenario=o.target, unknown_user="fallback")
    (f,) = m.explain(anon, list(m.recommend(anon, k=1).item_ids))
    assert f.source == "popularity fallback" and f.because == ()


def test_a_generator_kept_without_refit_reads_every_training_event() -> None:
    o = make_oracle()
    gens = [g.to_dict() for g in LIGHT if g.model != "text"]
    gens[2] = {**gens[2], "refit": False}  # ALS: rebased onto the full histories, folded in
    m = CrossScenarioRanker(_light(encoder=None, generators=gens)).fit(o.train, options=ONE)
    als = next(g for g in m.generators_ if g.spec.model == "als").models[-1]
    assert als.train_state.histories.n_events == o.train.n_events
    other = TrainState.from_dataset(make_oracle(OracleConfig(n_clusters=2)).train)
    with pytest.raises(ConfigError, match="refit instead"):
        als.rebase(other)


COLD_SPECIALISTS = (
    LIGHT[0],
    GeneratorSpec(model="cmf", params={"factors": 8, "iterations": 3}, candidates=10),
    GeneratorSpec(model="emcdr", params={"factors": 8, "iterations": 3}, candidates=10),
    GeneratorSpec(
        model="fusion",
        params={"base": {"factors": 8, "iterations": 3}, "train": {"epochs": 3}},
        candidates=10,
    ),
)


@pytest.mark.parametrize("encoder", ["hashing", None])
def test_cold_specialist_generators_feed_the_ranker_and_survive_save_and_load(
    shop: Dataset, tmp_path: Path, encoder: str | None
) -> None:
    # CMF, EMCDR and ScenarioFusion (the default's generators for users cold in the target):
    # each is a feature of the ranker and a possible plan, and the run reloads the same; the
    # id-only ablation switches ScenarioFusion's text off too.
    gens = [g.to_dict() for g in COLD_SPECIALISTS]
    cfg = _light(generators=gens) if encoder else _light(generators=gens, encoder=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        m = CrossScenarioRanker(cfg).fit(shop, options=ONE)
    labels = {"cmf[all]", "emcdr[all]", "fusion[all]"}
    assert labels <= set(m.fit_info["generators"])
    # where the fit's time went, per generator, both stages
    seconds = m.fit_info["seconds"]
    assert set(seconds["generators"]) == set(seconds["refit"]) == set(m.fit_info["generators"])
    assert sum(seconds["generators"].values()) <= m.fit_info["label_fit_seconds"] + 0.1
    assert labels <= {n.split(":", 1)[0] for n in m.names_ if ":" in n}
    fusion = next(g for g in m.generators_ if g.spec.model == "fusion").models[-1]
    assert (fusion.config.encoder is None) == (encoder is None)
    for info in m.fit_info["targets"].values():
        assert labels <= set(info["valid_ndcg@10"])
    query = RecQuery(user_id=shop.user_vocab.to_list()[5], scenario="web")
    a = m.recommend(query, k=10)
    b = type(m).load(m.save(tmp_path / "run")).recommend(query, k=10)
    assert a.item_ids == b.item_ids
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4)


def test_new_items_known_by_their_text_are_candidates_and_label_answers(shop: Dataset) -> None:
    # A sixth of the web items lose every event (the catalog still lists them under web): the
    # text[new] generator scores exactly those, and the ranker sees some label items made new
    # as held-out answers (none without text).
    raw = shop.raw_events()
    web = sorted(raw.filter(pl.col("scenario") == "web")["item_id"].unique().to_list())
    new = web[::6]
    catalog = shop.catalog.drop("item_idx").with_columns(
        pl.when(pl.col("item_id").is_in(new))
        .then(pl.lit("web"))
        .otherwise(pl.col("scenario"))
        .alias("scenario")
    )
    ds = Dataset(raw.filter(~pl.col("item_id").is_in(new)), catalog)
    text_new = {"model": "text", "params": {"items": "new", "match": "nearest"}, "candidates": 10}
    gens = [*(g.to_dict() for g in LIGHT), text_new]
    m = CrossScenarioRanker(_light(generators=gens, new_item_share=0.2)).fit(ds, options=ONE)
    info = m.fit_info["targets"]["web"]
    assert info["new_item_label_users"] > 0
    assert "text[all]" in info["valid_new_item_ndcg@10"]
    t = m.train_state.scenario_index("web")
    items = m.train_state.items_of_scenario(t)
    is_new = np.isin(np.array(m.train_state.vocabularies["items"].to_list())[items], new)
    assert is_new.sum() == len(new)
    # each label user's catalogue shows as many new items as serving will: the catalogue's own
    # (those without an event in web) plus enough label-new ones to make the pool of 20
    natural = int((m.train_state.popularity_of(t)[items] == 0).sum())
    assert natural >= len(new)
    assert info["new_item_shown"] == max(20 - natural, 0)
    gen = next(g for g in m.generators_ if g.spec.new_items_only)
    batch = UserBatch(np.arange(50), t, m.train_state)
    scores, silent = gen.scores(batch, t, items)
    assert not silent.all()
    assert np.isfinite(scores[~silent][:, is_new]).all()
    assert np.isnan(scores[:, ~is_new]).all()
    # without text a new item cannot be told from any other: no new-item labels
    ids = _light(generators=gens, new_item_share=0.2, encoder=None)
    assert (
        CrossScenarioRanker(ids)
        .fit(ds, options=ONE)
        .fit_info["targets"]["web"]["new_item_label_users"]
        == 0
    )
    with pytest.raises(ConfigError, match=r"'all'.*or 'new'"):
        GeneratorSpec.from_dict({"model": "text", "params": {"items": "fresh"}})
    with pytest.raises(ConfigError, match=r"only params\.items"):
        GeneratorSpec.from_dict({"model": "text", "params": {"k": 3}})


def test_new_items_are_matched_to_the_nearest_past_item_not_the_centre_of_the_history(
    shop: Dataset,
) -> None:
    # A user who had one item like x1 and several like e2: x1 (close to that one item) beats
    # x2 (midway between their interests) when matched item by item, not by the interest
    # vector. An item without text gets no score; a user without text evidence is silent.
    from scenerec.models.flagship.text import ItemText

    state = TrainState.from_dataset(shop)
    h = state.histories
    u = int(np.argmax(h.lengths() >= 3))
    mine = np.unique(h.item_idx[h.indptr[u] : h.indptr[u + 1]])
    assert len(mine) >= 2
    v = next(
        w
        for w in range(state.n_users)
        if not np.isin(h.item_idx[h.indptr[w] : h.indptr[w + 1]], mine).any()
    )
    theirs = h.item_idx[h.indptr[v] : h.indptr[v + 1]]
    x1, x2, no_text = np.setdiff1d(np.arange(state.n_items), [*mine, *theirs])[:3]
    vecs = np.zeros((state.n_items, 4), np.float32)
    has = np.zeros(state.n_items, bool)
    vecs[mine[0]], vecs[mine[1:]] = [1, 0, 0, 0], [0, 1, 0, 0]
    vecs[x1] = np.array([0.95, 0, 0, 0.31]) / np.hypot(0.95, 0.31)
    vecs[x2] = np.array([1, 1, 0, 0]) / np.sqrt(2)
    has[[*mine, x1, x2]] = True
    text = ItemText(vecs, has, recency=0.9)
    items = np.array([x1, x2, no_text])
    batch = UserBatch(np.array([u, v]), 0, state)
    near, silent = text.nearest(batch, items)
    assert near[0, 0] > near[0, 1]
    np.testing.assert_allclose(near[0, :2], [0.95 / np.hypot(0.95, 0.31), np.sqrt(0.5)], rtol=1e-5)
    assert np.isnan(near[0, 2])
    assert silent.tolist() == [False, True] and np.isnan(near[1]).all()
    centre = text.scores(batch, 0, items)
    assert centre[0, 0] < centre[0, 1]
    with pytest.raises(ConfigError, match=r"'interest'.*or 'nearest'"):
        GeneratorSpec.from_dict({"model": "text", "params": {"match": "closest"}})


def test_time_spent_encoding_item_text_comes_out_of_the_training_budgets() -> None:
    """The first fit on a catalogue encodes its item text; that time is taken from the
    generators that train on a time budget, in proportion, each keeping at least its floor, so
    a fit on a new catalogue takes about as long as later ones. Budget-free generators and a
    config that opts out are untouched."""
    from scenerec.models.flagship.config import MIN_BUDGET_SHARE, default_generators

    cfg = CrossScenarioRankerConfig()
    specs = default_generators()

    def minutes(gens: tuple[GeneratorSpec, ...]) -> dict[str, float]:
        return {
            g.display: g.params["train"]["max_minutes"]
            for g in gens
            if g.params.get("train", {}).get("max_minutes") is not None
        }

    before = minutes(specs)
    assert before == {"sequence[all]": 5.0, "fusion[all]": 3.0}
    shrunk, share = cfg.within_budget(specs, encode_seconds=120.0)  # 2 of the 8 minutes
    assert share == pytest.approx(0.75)
    assert minutes(shrunk) == pytest.approx({"sequence[all]": 3.75, "fusion[all]": 2.25})
    unbudgeted = [g for g in shrunk if g.display not in before]
    assert unbudgeted == [g for g in specs if g.display not in before]
    _, floor = cfg.within_budget(specs, encode_seconds=3_600.0)
    assert floor == MIN_BUDGET_SHARE
    kept, same = _light(encoding_from_budgets=False).within_budget(specs, 120.0)
    assert (kept, same) == (specs, 1.0)


def test_the_gate_compares_each_generator_on_the_scores_it_gave_the_candidates(
    shop: Dataset,
) -> None:
    """The gate reuses the score matrices the candidates were built from (one scoring pass per
    generator): they are each generator's own scores, hidden items and no-signal rows masked."""
    m = CrossScenarioRanker(_light()).fit(shop, options=ONE)
    state, t = m.train_state, 0
    items = state.items_of_scenario(t)
    batch = UserBatch(np.arange(min(30, state.n_users)), t, state)
    hide = np.random.default_rng(0).random((len(batch), len(items))) < 0.2
    c = m._candidate_set(m.generators_, batch, t, items, hide, keep_scores=True)
    assert set(c.scores) == {g.label for g in m.generators_}
    for g in m.generators_:
        s, silent = g.scores(batch, t, items)
        want = np.where(np.isfinite(s), s, -np.inf).astype(np.float32)
        want[hide] = -np.inf
        want[silent] = np.nan
        np.testing.assert_array_equal(c.scores[g.label], want)
    assert m._candidate_set(m.generators_, batch, t, items, hide).scores == {}
