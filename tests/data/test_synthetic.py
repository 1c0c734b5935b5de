"""The synthetic shop: deterministic, messy where promised, and carrying real signal."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.config import FrozenConfig
from scenerec.data.io import read_catalog, scan_events
from scenerec.data.synthetic import (
    _TOPICS,
    MALFORMED_KINDS,
    TOPIC_NAMES,
    SyntheticConfig,
    SyntheticData,
    generate,
    tiny,
)
from scenerec.errors import ConfigError
from scenerec.schema import EVENT_COLUMNS, C


@cache
def _tiny(seed: int = 0) -> SyntheticData:
    return generate(tiny(seed))


@cache
def _default() -> SyntheticData:
    return generate()


def _clean_typed(data: SyntheticData) -> pl.DataFrame:
    """Drop the rows truth calls malformed and type the rest (a stand-in for the cleaner)."""
    bad = list(data.truth["malformed_rows"])
    ts = pl.col(C.TIMESTAMP)
    return (
        data.events.with_row_index(C.ROW, offset=1)
        .filter(~pl.col(C.ROW).is_in(bad))
        .with_columns(
            pl.coalesce(
                ts.cast(pl.Int64, strict=False),
                ts.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("s"),
            ).alias(C.TIMESTAMP),
            pl.col(C.VALUE).cast(pl.Float64),
        )
    )


def _topic_hist(ev: pl.DataFrame, item_topic: dict[str, str], topics: list[str]) -> pl.DataFrame:
    """Per user, a normalised histogram over topics of the items they touched."""
    t_index = {t: i for i, t in enumerate(topics)}
    return (
        ev.with_columns(
            pl.col(C.ITEM_ID).replace_strict(item_topic).replace_strict(t_index).alias("t")
        )
        .group_by(C.USER_ID, "t")
        .len()
        .pivot(on="t", index=C.USER_ID, values="len")
        .fill_null(0)
    )


def _hist_matrix(h: pl.DataFrame, users: list[str], n_topics: int) -> np.ndarray:
    out = np.zeros((len(users), n_topics))
    rows = {u: i for i, u in enumerate(h[C.USER_ID].to_list())}
    for j in range(n_topics):
        if str(j) in h.columns:
            col = h[str(j)].to_numpy()
            out[:, j] = [col[rows[u]] if u in rows else 0 for u in users]
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)
    return unit


# ------------------------------------------------------------------------------ shape & determinism
def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = generate(tiny(0)), generate(tiny(0)), generate(tiny(1))
    assert a.events.equals(b.events)
    assert a.catalog.equals(b.catalog)
    assert a.truth["malformed_rows"] == b.truth["malformed_rows"]
    np.testing.assert_array_equal(a.truth["mixture_start"], b.truth["mixture_start"])
    assert not a.events.equals(c.events)
    assert not a.catalog.equals(c.catalog)


def test_raw_text_columns_and_sizes_near_config() -> None:
    data = _tiny()
    cfg = data.config
    assert data.events.columns == list(EVENT_COLUMNS)
    assert all(dt == pl.String for dt in data.events.dtypes)
    assert all(dt == pl.String for dt in data.catalog.dtypes)
    assert abs(data.events.height - cfg.n_events) <= 0.02 * cfg.n_events
    assert data.catalog.height == cfg.n_items
    assert data.catalog[C.ITEM_ID].n_unique() == cfg.n_items
    n_users = data.events[C.USER_ID].drop_nulls().n_unique()
    assert 0.9 * cfg.n_users <= n_users <= cfg.n_users
    assert set(data.events[C.SCENARIO].unique()) == set(cfg.scenarios)
    ts = _clean_typed(data)[C.TIMESTAMP]
    lo, hi = data.truth["time_span"]
    assert lo <= ts.min() and ts.max() <= hi
    assert ts.max() - ts.min() > 0.8 * cfg.days * 86_400  # type: ignore[operator]


def test_default_config_is_about_200k_events() -> None:
    data = _default()
    assert abs(data.events.height - 200_000) <= 2_000
    assert data.events[C.USER_ID].drop_nulls().n_unique() > 4_500


def test_other_scenario_names_use_the_generic_funnel() -> None:
    cfg = tiny().model_copy(update={"scenarios": ("books", "movies"), "n_events": 3_000})
    data = generate(SyntheticConfig.model_validate(cfg.model_dump()))
    assert set(data.events[C.SCENARIO].unique()) == {"books", "movies"}
    assert set(data.events[C.BEHAVIOR].unique()) <= {"view", "click", "purchase"}
    assert data.events[C.QUERY].null_count() == data.events.height


# ------------------------------------------------------------------------------ the mess
def test_malformed_rows_are_listed_and_really_malformed() -> None:
    data = _tiny()
    bad: dict[int, str] = data.truth["malformed_rows"]
    n = data.events.height
    assert abs(len(bad) - data.config.malformed_fraction * n) <= 1
    assert set(bad.values()) == set(MALFORMED_KINDS)
    rows = data.events.with_row_index(C.ROW, offset=1)
    ts_ok = (
        pl.col(C.TIMESTAMP).str.contains(r"^\d+$")
        | pl.col(C.TIMESTAMP).str.to_datetime(time_zone="UTC", strict=False).is_not_null()
    )
    val_ok = (
        pl.col(C.VALUE).is_null() | pl.col(C.VALUE).cast(pl.Float64, strict=False).is_not_null()
    )
    checks = rows.select(
        C.ROW,
        pl.col(C.USER_ID).is_null().alias("missing_user"),
        pl.col(C.ITEM_ID).is_null().alias("missing_item"),
        (~ts_ok).alias("bad_timestamp"),
        (~val_ok).alias("bad_value"),
    )
    for kind in MALFORMED_KINDS:
        flagged = set(checks.filter(pl.col(kind))[C.ROW].to_list())
        assert flagged == {r for r, k in bad.items() if k == kind}, kind


def test_iso_timestamps_and_duplicates_are_listed() -> None:
    data = _tiny()
    ts = data.events[C.TIMESTAMP]
    iso = data.truth["iso_rows"]
    assert len(iso) > 0
    parsed = ts.gather([r - 1 for r in iso]).str.to_datetime(time_zone="UTC", strict=False)
    assert parsed.null_count() == 0
    assert not ts.gather([r - 1 for r in iso]).str.contains(r"^\d+$").any()
    dups = data.truth["duplicate_rows"]
    assert abs(len(dups) - data.config.duplicate_fraction * data.events.height) <= 2
    for r in dups[:20]:  # a retry: the copy sits right after its original
        assert data.events.row(r - 1) == data.events.row(r - 2)
    assert data.events.is_duplicated().sum() == 2 * len(dups)


def test_bots_fire_far_faster_than_people() -> None:
    data = _tiny()
    bots = set(data.truth["bots"])
    assert bots
    busiest = (
        _clean_typed(data)
        .group_by(C.USER_ID, (pl.col(C.TIMESTAMP) // 3600).alias("hour"))
        .len()
        .group_by(C.USER_ID)
        .agg(pl.col("len").max())
    )
    bot_peak = busiest.filter(pl.col(C.USER_ID).is_in(list(bots)))["len"]
    human_peak = busiest.filter(~pl.col(C.USER_ID).is_in(list(bots)))["len"]
    assert len(bot_peak) == len(bots)
    assert bot_peak.min() > 3 * human_peak.max()  # type: ignore[operator]


# ------------------------------------------------------------------------------ the truth
def test_truth_mixtures_and_scenarios_match_the_events() -> None:
    data = _tiny()
    truth = data.truth
    n_u, n_t = data.config.n_users, data.config.n_topics
    assert truth["topics"] == list(TOPIC_NAMES[:n_t])
    start, end = truth["mixture_start"], truth["mixture_end"]
    assert start.shape == end.shape == (n_u, n_t)
    is_bot = np.isin(truth["user_ids"], truth["bots"])
    np.testing.assert_allclose(start[~is_bot].sum(axis=1), 1.0)
    np.testing.assert_allclose(end[~is_bot].sum(axis=1), 1.0)
    assert not start[is_bot].any()
    ev = _clean_typed(data)
    used = ev.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).unique())
    for user, scenarios in used.iter_rows():
        if user not in truth["bots"]:
            assert set(scenarios) <= set(truth["user_scenarios"][user])
    n_scen = [len(v) for v in truth["user_scenarios"].values()]
    assert 0.2 < np.mean(np.array(n_scen) == 1) < 0.5  # some users in one scenario only
    assert np.mean(np.array(n_scen) >= 2) > 0.5  # most overlap
    for scenario, items in truth["scenario_items"].items():
        seen = set(ev.filter(pl.col(C.SCENARIO) == scenario)[C.ITEM_ID].unique())
        assert seen <= set(items)
    sets = [set(v) for v in truth["scenario_items"].values()]
    assert sets[0] != sets[1]


def test_catalog_scenario_names_the_only_scenario_selling_an_item() -> None:
    data = _tiny()
    sold_in: dict[str, list[str]] = {}
    for scenario, items in data.truth["scenario_items"].items():
        for item in items:
            sold_in.setdefault(item, []).append(scenario)
    for item, scenario in data.catalog.select(C.ITEM_ID, C.SCENARIO).iter_rows():
        expected = sold_in[item][0] if len(sold_in[item]) == 1 else None
        assert scenario == expected


# ------------------------------------------------------------------------------ the signal
def test_items_of_one_topic_share_title_words() -> None:
    data = _tiny()
    cat = data.catalog.drop_nulls(C.TITLE)
    topic = [data.truth["item_topic"][i] for i in cat[C.ITEM_ID]]
    words = [set(t.lower().split()) for t in cat[C.TITLE]]
    rng = np.random.default_rng(0)
    same: list[float] = []
    other: list[float] = []
    for _ in range(3_000):
        a, b = rng.integers(0, len(words), 2)
        if a == b:
            continue
        jac = len(words[a] & words[b]) / len(words[a] | words[b])
        (same if topic[a] == topic[b] else other).append(jac)
    assert np.mean(same) > 5 * np.mean(other)
    assert cat[C.CATEGORY].str.split(" > ").list.last().to_list() == topic


def test_queries_describe_the_item_clicked() -> None:
    data = _tiny()
    titles = dict(data.catalog.select(C.ITEM_ID, C.TITLE).iter_rows())
    search = data.events.filter(pl.col(C.BEHAVIOR) == "search")
    assert search.height > 0 and search[C.QUERY].null_count() == 0
    assert data.events.filter(pl.col(C.BEHAVIOR) != "search")[C.QUERY].null_count() == (
        data.events.height - search.height
    )
    items = list(titles)
    rng = np.random.default_rng(0)
    hit, random_hit, n = 0, 0, 0
    for item, query in search.select(C.ITEM_ID, C.QUERY).drop_nulls().iter_rows():
        if titles.get(item) is None:
            continue
        q = set(query.split())
        n += 1
        hit += bool(q & set(titles[item].lower().split()))
        other = titles[items[rng.integers(0, len(items))]] or ""
        random_hit += bool(q & set(other.lower().split()))
    assert hit / n > 0.8
    assert random_hit / n < 0.3


def test_behaviour_in_one_scenario_predicts_another() -> None:
    data = _tiny()
    ev = _clean_typed(data).filter(~pl.col(C.USER_ID).is_in(data.truth["bots"]))
    topics = data.truth["topics"]
    users = sorted(
        set(ev.filter(pl.col(C.SCENARIO) == "app")[C.USER_ID])
        & set(ev.filter(pl.col(C.SCENARIO) == "web")[C.USER_ID])
    )
    assert len(users) > 50
    app = _hist_matrix(
        _topic_hist(ev.filter(pl.col(C.SCENARIO) == "app"), data.truth["item_topic"], topics),
        users,
        len(topics),
    )
    web = _hist_matrix(
        _topic_hist(ev.filter(pl.col(C.SCENARIO) == "web"), data.truth["item_topic"], topics),
        users,
        len(topics),
    )
    same = (app * web).sum(axis=1).mean()
    shuffled = (app * web[np.random.default_rng(0).permutation(len(users))]).sum(axis=1).mean()
    assert same > shuffled + 0.3


def test_interests_drift_from_start_to_end_mixture() -> None:
    cfg = SyntheticConfig.model_validate({**tiny().model_dump(), "drift": 0.9})
    data = generate(cfg)
    truth = data.truth
    ev = _clean_typed(data).filter(~pl.col(C.USER_ID).is_in(truth["bots"]))
    lo, hi = truth["time_span"]
    third = (hi - lo) // 3
    early = ev.filter(pl.col(C.TIMESTAMP) < lo + third)
    late = ev.filter(pl.col(C.TIMESTAMP) >= hi - third)
    users = truth["user_ids"]
    n_t = len(truth["topics"])
    e = _hist_matrix(_topic_hist(early, truth["item_topic"], truth["topics"]), users, n_t)
    la = _hist_matrix(_topic_hist(late, truth["item_topic"], truth["topics"]), users, n_t)
    both = (np.linalg.norm(e, axis=1) > 0) & (np.linalg.norm(la, axis=1) > 0)
    assert both.sum() > 50

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        b = b[both] / np.linalg.norm(b[both], axis=1, keepdims=True)
        return float((a[both] * b).sum(axis=1).mean())

    start, end = truth["mixture_start"], truth["mixture_end"]
    assert cos(e, start) > cos(e, end) + 0.2
    assert cos(la, end) > cos(la, start) + 0.2


def test_item_popularity_is_skewed_and_differs_by_scenario() -> None:
    ev = _default().events.drop_nulls(C.ITEM_ID)
    app = ev.filter(pl.col(C.SCENARIO) == "app")[C.ITEM_ID].value_counts(sort=True)
    counts = app["count"].to_numpy()
    top = counts[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.3  # the top 10% of items take far more than 10% of the events
    per_scenario = (
        ev.group_by(C.ITEM_ID, C.SCENARIO)
        .len()
        .pivot(on=C.SCENARIO, index=C.ITEM_ID, values="len")
        .drop_nulls(["app", "web"])
    )
    rho = per_scenario.select(pl.corr("app", "web", method="spearman")).item()
    assert 0.1 < rho < 0.9  # related across scenarios, but not the same ranking


# ------------------------------------------------------------------------------ io & config
def test_write_then_read_back_is_identical(tmp_path: Path) -> None:
    data = _tiny()
    paths = data.write(tmp_path / "shop")
    assert set(paths) == {"events", "catalog"}
    back = scan_events(paths["events"]).collect()
    assert back.drop(C.ROW).equals(data.events)
    bad_rows = [r for r, k in data.truth["malformed_rows"].items() if k == "missing_user"]
    assert back.filter(pl.col(C.ROW).is_in(bad_rows))[C.USER_ID].null_count() == len(bad_rows)
    cat = read_catalog(paths["catalog"])
    assert cat.equals(data.catalog)


def test_topic_table_is_well_formed() -> None:
    assert len(set(TOPIC_NAMES)) == len(TOPIC_NAMES) >= 20
    for topic in _TOPICS:
        assert len(topic.words) == 14 and len(set(topic.words)) == 14, topic.name
        assert len(topic.nouns) == 6 and len(set(topic.nouns)) == 6, topic.name
        assert len(topic.brands) == 4, topic.name


@pytest.mark.parametrize(
    "bad",
    [
        {"n_topics": len(TOPIC_NAMES) + 1},
        {"scenarios": ["app", "app"]},
        {"scenarios": []},
        {"scenario_weights": [1.0]},
        {"n_items": 3, "n_topics": 5},
        {"noise": 1.5},
        {"colour": "blue"},
    ],
)
def test_bad_configs_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SyntheticConfig.from_dict(bad)


def test_config_round_trips_yaml() -> None:
    cfg = tiny(3)
    assert isinstance(cfg, FrozenConfig)
    assert SyntheticConfig.from_yaml(cfg.to_yaml()) == cfg
