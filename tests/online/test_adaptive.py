"""The online layer on a fitted ScenarioFusion: events, new items, new users, new scenarios,
decay, forgetting, explanations, and what a save keeps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.synthetic import SyntheticData
from scenerec.errors import SchemaError, UnknownEntityError
from scenerec.models import RecQuery
from scenerec.models.fusion import ScenarioFusion
from scenerec.models.registry import load_run
from scenerec.online import AdaptiveRecommender, FineTuneConfig, OnlineConfig
from scenerec.schema import C

DAY = 86_400


def _online(run: Path, **cfg: object) -> AdaptiveRecommender:
    config = OnlineConfig.from_dict({"fine_tune": {"background": False}, **cfg})
    return AdaptiveRecommender.from_run(run, config)


def _click(
    user: str, item: str, scenario: str, t: int, behavior: str = "click"
) -> dict[str, object]:
    return {
        C.USER_ID: user,
        C.ITEM_ID: item,
        C.SCENARIO: scenario,
        C.BEHAVIOR: behavior,
        C.TIMESTAMP: t,
    }


def _items_of_topic(platform: SyntheticData, topic: str, scenario: str) -> list[str]:
    sold = set(platform.truth["scenario_items"][scenario])
    return sorted(i for i, t in platform.truth["item_topic"].items() if t == topic and i in sold)


def _topic_share(platform: SyntheticData, ids: tuple[str, ...], topic: str) -> float:
    return sum(platform.truth["item_topic"][i] == topic for i in ids) / max(len(ids), 1)


def _now(split: tuple[pl.DataFrame, pl.DataFrame]) -> int:
    return int(split[0][C.TIMESTAMP].max() or 0) + 60


def test_an_event_changes_the_next_recommendation(
    fusion_run: Path, platform: SyntheticData, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    user = split[0][C.USER_ID][0]
    query = RecQuery(user_id=user, scenario="web")
    before = ar.recommend(query, k=10)
    topics = Counter(platform.truth["item_topic"][i] for i in before.item_ids)
    rare = next(t for t in platform.truth["topics"] if topics[t] == 0)
    items = _items_of_topic(platform, rare, "app")[:3]
    t = _now(split)
    ar.apply([_click(user, i, "app", t + j) for j, i in enumerate(items)])
    after = ar.recommend(query, k=10)
    assert after.item_ids != before.item_ids
    # the new interest shows in the other scenario: its items move up the whole web ranking
    n = len(platform.truth["scenario_items"]["web"])
    ar2 = _online(fusion_run)
    ranks = [
        np.mean([i for i, x in enumerate(r.recommend(query, k=n).item_ids)
                 if platform.truth["item_topic"][x] == rare])
        for r in (ar2, ar)
    ]  # fmt: skip
    assert ranks[1] < ranks[0] - 5, ranks


def test_a_new_item_with_text_is_recommended_to_a_matching_user(
    fusion_run: Path, platform: SyntheticData, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    topic = platform.truth["topics"][0]
    liked = _items_of_topic(platform, topic, "web")
    cat = platform.catalog
    twin = cat.filter(pl.col(C.ITEM_ID) == liked[0]).with_columns(
        pl.lit("brand-new").alias(C.ITEM_ID), pl.lit("web").alias(C.SCENARIO)
    )
    assert ar.add_items(twin) == 1  # no retraining, no event on it yet
    t = _now(split)
    ar.apply([_click("fan", i, "web", t + j, "purchase") for j, i in enumerate(liked[1:9])])
    other = platform.truth["topics"][5]
    ar.apply(
        [
            _click("other", i, "web", t + j)
            for j, i in enumerate(_items_of_topic(platform, other, "web")[:4])
        ]
    )
    fan = ar.recommend(RecQuery(user_id="fan", scenario="web"), k=10).item_ids
    assert "brand-new" in fan
    assert "brand-new" not in ar.recommend(RecQuery(user_id="other", scenario="web"), k=10).item_ids


def test_a_new_users_first_event_in_one_scenario_serves_another(
    fusion_run: Path, platform: SyntheticData, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    topic = platform.truth["topics"][2]
    first = _items_of_topic(platform, topic, "app")[0]
    with pytest.raises(UnknownEntityError):
        ar.recommend(RecQuery(user_id="newbie", scenario="web"))
    result = ar.apply([_click("newbie", first, "app", _now(split))])
    assert result.new_users == 1
    rec = ar.recommend(RecQuery(user_id="newbie", scenario="web"), k=10)
    assert not rec.fallback
    web_items = set(platform.truth["scenario_items"]["web"])
    assert set(rec.item_ids) <= web_items
    base_rate = sum(platform.truth["item_topic"][i] == topic for i in web_items) / len(web_items)
    assert _topic_share(platform, rec.item_ids, topic) >= 3 * base_rate


def test_a_scenario_launched_after_training_is_served_then_fine_tuned(
    fusion_run: Path, platform: SyntheticData, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(
        fusion_run,
        fine_tune={"background": False, "new_scenario_events": 40, "min_events": 40,
                   "holdout_events": 20, "tolerance": 1.0, "train": {"epochs": 1}},
    )  # fmt: skip
    assert "live" not in ar.model.train_state.scenarios
    lineup = platform.catalog.filter(
        pl.col(C.ITEM_ID).is_in(sorted(platform.truth["item_topic"])[:60])
    )
    ar.add_items(lineup.with_columns(pl.lit("live").alias(C.SCENARIO)))
    user = split[0][C.USER_ID][3]
    rec = ar.recommend(RecQuery(user_id=user, scenario="live"), k=10)
    assert len(rec.item_ids) == 10 and not rec.fallback  # served from the user's other scenarios
    assert set(rec.item_ids) <= set(lineup[C.ITEM_ID].to_list())
    users, t = split[0][C.USER_ID].unique().sort().to_list()[:40], _now(split)
    ids = lineup[C.ITEM_ID].to_list()
    results = [ar.apply([_click(u, ids[j % 60], "live", t + j)]) for j, u in enumerate(users)]
    assert results[-1].fine_tune == "new scenario 'live'"
    assert ar.fine_tunes[-1].reason == "new scenario 'live'" and ar.fine_tunes[-1].swapped
    assert ar.version == 2 and "att" in ar.model.fit_info["warm_start"]
    assert ar.model.config.train.epochs == 1  # type: ignore[attr-defined]
    assert len(ar.recommend(RecQuery(user_id=user, scenario="live"), k=10).item_ids) == 10


def test_decay_follows_the_configured_half_life(
    fusion_run: Path, platform: SyntheticData, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    model = ar.model
    assert isinstance(model, ScenarioFusion)
    hl = (model.config.half_life_days or 0) * DAY
    items = _items_of_topic(platform, platform.truth["topics"][1], "app")[:2]
    t = _now(split)
    ar.apply([_click("d", items[0], "app", t)])
    u, s = model.vocab("users").index("d"), model.train_state.scenario_index("app")
    w = model.state_.weight[u, s]
    ar.apply([_click("d", items[1], "app", int(t + hl))])
    # the older event now counts half: w/2 + w
    np.testing.assert_allclose(model.state_.weight[u, s], 1.5 * w, rtol=1e-9)
    ar.apply([_click("d", items[1], "app", int(t + 3 * hl))])
    np.testing.assert_allclose(model.state_.weight[u, s], 1.5 * w / 4 + w, rtol=1e-9)


def test_forgetting_a_user_removes_them_everywhere(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    user = split[0][C.USER_ID][0]
    ar.apply([_click(user, split[0][C.ITEM_ID][5], "web", _now(split))])
    u = ar.model.vocab("users").index(user)
    assert ar.forget_user(user) and not ar.forget_user(user)
    with pytest.raises(UnknownEntityError):
        ar.recommend(RecQuery(user_id=user, scenario="web"))
    _, sl = ar.model.train_state.user_history(u)
    assert sl.stop == sl.start
    model = ar.model
    assert isinstance(model, ScenarioFusion)
    assert not model.state_.text[u].any() and not model.state_.count[u].any()


def test_explanations_name_past_items_and_their_scenarios(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run)
    user = split[0][C.USER_ID][0]
    item = split[1][C.ITEM_ID][0]
    ar.apply([_click(user, item, "app", _now(split))])  # an online event can be a reason
    rec = ar.recommend(RecQuery(user_id=user, scenario="web"), k=5, explain_items=True)
    h, sl = ar.model.train_state.user_history(ar.model.vocab("users").index(user))
    past = set(ar.model.vocab("items").to_ids(h.item_idx[sl]))
    assert [e.item_id for e in rec.explanations] == list(rec.item_ids)
    assert any(e.because for e in rec.explanations)
    for e in rec.explanations:
        assert all(b.item_id in past and b.scenario in {"app", "web", "search"} for b in e.because)


def test_bad_events_are_rejected_with_the_row_and_field(fusion_run: Path) -> None:
    ar = _online(fusion_run)
    with pytest.raises(SchemaError, match=r"row 2.*timestamp"):
        ar.apply([_click("a", "b", "web", 1), {**_click("a", "b", "web", 1), C.TIMESTAMP: "soon"}])
    with pytest.raises(SchemaError, match=r"row 1.*user_id"):
        ar.apply([_click("", "b", "web", 1)])
    assert ar.events_applied == 0


def test_a_saved_online_state_loads_with_the_same_recommendations(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    ar = _online(fusion_run)
    ar.apply(split[1].head(500))
    path = ar.save(tmp_path / "online")
    loaded = load_run(path)
    for user in split[1][C.USER_ID].head(20).to_list():
        q = RecQuery(user_id=user, scenario="app")
        assert loaded.recommend(q).item_ids == ar.recommend(q).item_ids
    assert (path / "catalog.parquet").exists()


def test_fine_tune_without_a_catalog_reports_why(fusion_run: Path) -> None:
    model = ScenarioFusion.load(fusion_run)
    ar = AdaptiveRecommender(model, OnlineConfig(fine_tune=FineTuneConfig(background=False)))
    result = ar.fine_tune()
    assert result is not None and not result.swapped and "catalog" in (result.error or "")
