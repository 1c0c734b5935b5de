"""ScenarioFusion: the contract, online updates equal to a refit, fusion weights, new items."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from scenerec.data.clean import clean_events
from scenerec.data.dataset import Dataset
from scenerec.data.synthetic import generate, tiny
from scenerec.errors import ConfigError
from scenerec.models import HistoryEvent, RecQuery
from scenerec.models.fusion import ScenarioFusion, ScenarioFusionConfig
from scenerec.models.fusion.learn import POP_MULTS, TEXT_MULTS, _may_reach_top10, _ndcg10
from scenerec.models.fusion.state import Events, UserState, unit
from scenerec.models.nn import TrainConfig
from scenerec.schema import C
from scenerec.testing.contract import check_model
from scenerec.text.embeddings import encode_queries
from scenerec.text.encoder import EncoderConfig, HashingOptions, make_encoder
from scenerec.text.users import user_interest_vectors

ENCODER = EncoderConfig(backend="hashing", hashing=HashingOptions(dim=64))


def _config(**kw: object) -> ScenarioFusionConfig:
    base: dict[str, object] = {
        "encoder": ENCODER,
        "text_cache": False,
        "base": {"factors": 8, "regularization": 1.0, "iterations": 8},
        "half_life_days": 20.0,
        "train": TrainConfig(epochs=8, batch_size=64, lr=0.05, grad_clip=None, patience=3),
    }
    base.update(kw)
    return ScenarioFusionConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cleaned events (with search queries) and catalog of the tiny synthetic platform."""
    syn = generate(tiny(seed=3))
    events = clean_events(syn.events, catalog=syn.catalog, file="<synthetic>").events
    return events.drop(C.ROW), syn.catalog


def _split(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Old events (fit) and the newest 15% (partial_fit)."""
    cut = int(events[C.TIMESTAMP].quantile(0.85) or 0)
    return events.filter(pl.col(C.TIMESTAMP) < cut), events.filter(pl.col(C.TIMESTAMP) >= cut)


def test_contract(tmp_path: Path) -> None:
    # The oracle has no item text: the factor vectors alone carry it.
    check_model(lambda: ScenarioFusion(_config()), tmp_path=tmp_path)


def test_partial_fit_equals_refit_of_the_user_vectors(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, catalog = shop
    old, new = _split(events)
    model = ScenarioFusion(_config()).fit(Dataset(old, catalog))
    # Besides the newest events: a brand-new user, an event older than its user's newest one
    # (late arrival), and a new item that brings its text in catalog columns.
    late = old.filter(pl.col(C.USER_ID) == old[C.USER_ID][0]).head(1)
    late = late.with_columns(pl.col(C.TIMESTAMP) - 86_400 * 3)
    title = catalog.filter(pl.col(C.ITEM_ID) == old[C.ITEM_ID][0])[C.TITLE][0]
    extra = pl.DataFrame(
        {
            C.USER_ID: ["newcomer", "newcomer"],
            C.ITEM_ID: [old[C.ITEM_ID][0], "brand-new"],
            C.SCENARIO: ["web", "web"],
            C.BEHAVIOR: ["click", "view"],
            C.TIMESTAMP: [int(new[C.TIMESTAMP].max() or 0) + 60] * 2,
            C.TITLE: [None, title],
        }
    )
    batch = pl.concat([new, late, extra], how="diagonal_relaxed")
    online = copy.deepcopy(model).partial_fit(batch)

    # The refit: the same learned parameters, user vectors computed from all events at once.
    vocab = online.train_state.vocabularies
    cat_all = pl.concat(
        [catalog, pl.DataFrame({C.ITEM_ID: ["brand-new"], C.TITLE: [title]})], how="diagonal"
    )
    everything = Dataset(
        pl.concat([old, batch.drop(C.TITLE)], how="diagonal_relaxed"), cat_all, vocabularies=vocab
    )
    encoder = make_encoder(ENCODER, cache=False)
    queries = encode_queries(everything, encoder)
    cfg = online.config
    assert cfg.half_life_days is not None
    refit = UserState.build(
        Events.of(everything.histories, queries),
        everything.n_users,
        len(everything.scenario_vocab),
        online.item_text_,
        queries.vectors,
        np.zeros((len(online.item_text_), 0), np.float32),
        cfg.half_life_days * 86_400.0,
        cfg.query_weight,
    )
    st, n = online.state_, everything.n_users  # the online arrays keep spare rows beyond n
    np.testing.assert_array_equal(st.count[:n], refit.count)
    np.testing.assert_array_equal(st.ref[:n], refit.ref)
    np.testing.assert_allclose(st.weight[:n], refit.weight, rtol=1e-9)
    np.testing.assert_allclose(st.text[:n], refit.text, rtol=1e-5, atol=1e-6)
    # The factor vectors: each touched (user, scenario) folded in again equals a fold-in of
    # every user's events against the same item factors.
    assert online.base_ is not None
    known = len(online.base_.item_factors)  # items the base model has factors for
    refolded = np.stack(
        [online.base_.fold_in(everything.matrix(s)[:, :known]) for s in everything.scenarios],
        axis=1,
    )
    users = np.arange(n, dtype=np.int64)  # read: folded in again where events arrived
    np.testing.assert_allclose(online.user_factors(users), refolded, rtol=1e-4, atol=1e-5)

    # And the text part is the documented quantity, computed by an independent implementation.
    expected = user_interest_vectors(
        everything,
        online.item_text_[: everything.n_items],
        half_life_s=cfg.half_life_days * 86_400.0,
        query_emb=queries,
        query_weight=cfg.query_weight,
    )
    for s, name in enumerate(everything.scenario_vocab.to_list()):
        np.testing.assert_allclose(unit(st.text[:n, s]), expected[name], atol=1e-5)

    # The new item's text came from the events; recommendations match the refit state's.
    new_idx = vocab["items"].index("brand-new")
    assert online.has_text_[new_idx]
    np.testing.assert_allclose(online.item_text_[new_idx], encoder.encode([title])[0], atol=1e-6)
    frozen = copy.deepcopy(online)
    frozen.state_, frozen.factors_ = refit, refolded
    users = np.arange(online.train_state.n_users)
    for scenario in ("app", "web", "search", None):
        a = online.score_users(users, scenario=scenario)
        b = frozen.score_users(users, scenario=scenario)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for user in ("newcomer", old[C.USER_ID][0], new[C.USER_ID][-1]):
        q = RecQuery(user_id=user, scenario="app")
        assert online.recommend(q, k=10).item_ids == frozen.recommend(q, k=10).item_ids


def test_online_model_saves_and_keeps_learning(
    shop: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    events, catalog = shop
    old, new = _split(events)
    first, second = new.head(new.height // 2), new.tail(new.height - new.height // 2)
    model = ScenarioFusion(_config()).fit(Dataset(old, catalog)).partial_fit(first)
    loaded = ScenarioFusion.load(model.save(tmp_path / "run"))
    model.partial_fit(second)
    loaded.partial_fit(second)  # a loaded run rebuilds its encoder to encode new queries
    users = np.arange(model.train_state.n_users)
    np.testing.assert_array_equal(
        model.score_users(users, scenario="web"), loaded.score_users(users, scenario="web")
    )


def _adhoc_scores(
    model: ScenarioFusion, events: list[HistoryEvent], target: str, items: list[str]
) -> np.ndarray:
    r = model.recommend(
        RecQuery(history=events, scenario=target, candidates=items, exclude_seen=False),
        k=len(items),
    )
    pos = {i: s for i, s in zip(r.item_ids, r.scores, strict=True)}
    return np.array([pos[i] for i in items])


@pytest.mark.parametrize("fusion", ["uniform", "learned"])
def test_fusion_weighs_the_scenario_vectors(
    shop: tuple[pl.DataFrame, pl.DataFrame], fusion: str
) -> None:
    """Scores are linear in the fused vector, so with weights summing to one the score of a
    two-scenario history lies between (learned) or at the mean of (uniform) the scores of its
    one-scenario parts."""
    events, catalog = shop
    model = ScenarioFusion(_config(fusion=fusion)).fit(Dataset(events, catalog))
    app = [HistoryEvent(i, "app", "click", 100 + t) for t, i in enumerate(["i0003", "i0010"])]
    web = [HistoryEvent(i, "web", "purchase", 200 + t) for t, i in enumerate(["i0042", "i0077"])]
    items = model.vocab("items").to_ids(model.train_state.items_of_scenario(0))
    both = _adhoc_scores(model, app + web, "app", items)
    only_app = _adhoc_scores(model, app, "app", items)
    only_web = _adhoc_scores(model, web, "app", items)
    assert not np.allclose(only_app, only_web)  # the two scenarios say different things
    if fusion == "uniform":
        np.testing.assert_allclose(both, (only_app + only_web) / 2, rtol=1e-5, atol=1e-5)
    else:
        low, high = np.minimum(only_app, only_web), np.maximum(only_app, only_web)
        assert np.all(both >= low - 1e-4) and np.all(both <= high + 1e-4)
        assert not np.allclose(both, (only_app + only_web) / 2, atol=1e-4)  # weights learned


def test_cold_in_target_user_is_served_from_other_scenarios(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Someone who only acted in ``search`` gets app items of the topic they searched."""
    events, catalog = shop
    model = ScenarioFusion(_config()).fit(Dataset(events, catalog))
    topic_of = dict(zip(catalog[C.ITEM_ID], catalog[C.CATEGORY], strict=True))
    app = model.vocab("items").to_ids(model.train_state.items_of_scenario(0))
    shares = []
    for topic in sorted({t for t in catalog[C.CATEGORY] if t}):
        if sum(topic_of[i] == topic for i in app) < 8:
            continue  # too few app items of the topic to fill a top 5
        seeds = catalog.filter(pl.col(C.CATEGORY) == topic)[C.ITEM_ID].to_list()[:3]
        history = [HistoryEvent(i, "search", "click", t) for t, i in enumerate(seeds)]
        r = model.recommend(RecQuery(history=history, scenario="app"), k=5)
        assert not r.fallback and set(r.item_ids) <= set(app)
        shares.append(np.mean([topic_of[i] == topic for i in r.item_ids]))
    # a dozen topics: chance is about 0.1
    assert len(shares) >= 5 and np.mean(shares) >= 0.4, shares


def test_new_item_with_text_only_is_scored_by_its_text(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, catalog = shop
    model = ScenarioFusion(_config()).fit(Dataset(events, catalog))
    twin = catalog.filter(pl.col(C.CATEGORY).is_not_null()).row(0, named=True)
    now = int(events[C.TIMESTAMP].max() or 0) + 60
    arrivals = pl.DataFrame(
        {
            C.USER_ID: ["someone", "someone"],
            C.ITEM_ID: ["fresh", "blank"],
            C.SCENARIO: ["app", "app"],
            C.BEHAVIOR: ["view", "view"],
            C.TIMESTAMP: [now, now],
            C.TITLE: [twin[C.TITLE], None],
            C.CATEGORY: [twin[C.CATEGORY], None],
        }
    )
    model.partial_fit(arrivals)
    same_topic = catalog.filter(
        (pl.col(C.CATEGORY) == twin[C.CATEGORY]) & (pl.col(C.ITEM_ID) != twin[C.ITEM_ID])
    )[C.ITEM_ID].to_list()[:3]
    history = [HistoryEvent(i, "web", "click", t) for t, i in enumerate(same_topic)]
    app = model.vocab("items").to_ids(model.train_state.items_of_scenario(0))
    r = model.recommend(RecQuery(history=history, scenario="app", candidates=app), k=len(app))
    assert r.item_ids.index("fresh") < 10  # of ~140 app items, from its text alone
    assert r.item_ids.index("fresh") < r.item_ids.index("blank")


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="label_users"):
        ScenarioFusionConfig.from_dict({"label_users": 1})
    with pytest.raises(ConfigError, match="vectors"):
        ScenarioFusionConfig.from_dict({"vectors": "ids"})
    with pytest.raises(ConfigError, match="fusion"):
        ScenarioFusionConfig.from_dict({"fusion": "average"})
    cfg = _config(half_life_days=None)
    assert ScenarioFusionConfig.from_dict(cfg.to_dict()) == cfg


def test_scales_are_calibrated_for_ranking_per_target_and_user_group(
    shop: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    """After the likelihood fit, each target's text and popularity scales are multiplied by the
    grid pair that ranks the label users' held-out items best, apart for users warm and cold in
    the target; the choice is in ``fit_info``, the served weights carry it, and it survives a
    save and load."""
    events, catalog = shop
    model = ScenarioFusion(_config(calibration_users=10))
    model.fit(Dataset(events, catalog))
    cal = model.fit_info["train"]["calibration"]
    assert cal and set(cal) <= set(model.train_state.scenarios)
    w = model.weights_.arrays()
    for name, groups in cal.items():
        t = model.train_state.scenarios.index(name)
        for group, key in (("warm", "scale"), ("cold", "cold_scale")):
            row = groups[group]
            assert row["text_mult"] in TEXT_MULTS and row["popularity_mult"] in POP_MULTS
            assert row["ndcg@10"] >= row["ndcg@10_learned"], (name, group)
            if row["popularity_mult"] == 0.0:
                assert w[key][2, t] == 0.0
            if row["text_mult"] == 0.0:
                assert w[key][0, t] == 0.0
        assert groups["warm"]["label_users"] >= 10 and groups["cold"]["label_users"] >= 10
    loaded = ScenarioFusion.load(model.save(tmp_path / "run")).weights_.arrays()
    for key in ("scale", "cold_scale"):
        np.testing.assert_array_equal(loaded[key], w[key])
    few = ScenarioFusion(_config(calibration_users=100_000))
    few.fit(Dataset(events, catalog))
    for groups in few.fit_info["train"]["calibration"].values():
        for row in groups.values():  # too few label users: the learned scales stay
            assert (row["text_mult"], row["popularity_mult"]) == (1.0, 1.0)


def test_held_out_ndcg_counts_ties_half() -> None:
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    label = torch.tensor([0, 0])
    # row 0: one tie above -> rank 0.5; row 1: two items above -> rank 2
    expected = 1 / np.log2(2.5) + 1 / np.log2(4.0)
    assert float(_ndcg10(scores, label).sum()) == pytest.approx(expected)


def test_calibration_skips_only_rows_that_score_zero_at_every_grid_point() -> None:
    """The calibration ranks only label users who could reach a top 10 at some multiplier pair;
    every row it skips has NDCG@10 0 at every pair (checked by brute force), and on scores like
    a fit's it skips most rows, which is what makes it faster."""
    gen = torch.Generator().manual_seed(0)
    b, m = 256, 400
    fixed = torch.randn(b, m, generator=gen)
    text = 0.5 * torch.randn(b, m, generator=gen)
    pop = torch.rand(m, generator=gen) * 3
    scale = torch.tensor([0.8, 1.0, -0.3])
    had = torch.rand(b, m, generator=gen) < 0.02
    label = torch.randint(0, m, (b,), generator=gen)
    had[torch.arange(b), label] = False
    # row 0: ten items far above the label whatever the multipliers (skipped); row 1: nine
    # (kept: the label is 10th); row 2: every item ties with the label where popularity counts
    # 0 (ties are not above, so it is kept)
    fixed[:3], text[:3], label[:3], had[:3] = -100.0, 0.0, 0, False
    pop[:12] = 1.0
    fixed[0, 1:11] = fixed[1, 1:10] = 100.0
    fixed[2], text[2] = 0.0, 0.0
    live = _may_reach_top10(fixed, text, pop, scale, had, label)
    best = torch.zeros(b)
    for mt in TEXT_MULTS:
        for mp in POP_MULTS:
            s = fixed + mp * scale[2] * pop[None, :] + mt * scale[0] * text
            best = torch.maximum(best, _ndcg10(s.masked_fill(had, -torch.inf), label))
    assert (best[~live] == 0).all()
    assert live[1:3].tolist() == [True, True] and not live[0]
    assert 0 < int(live.sum()) < b // 2
