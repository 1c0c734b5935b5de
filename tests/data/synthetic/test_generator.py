"""generate: deterministic, sized as configured, and its ground truth matches the events."""

from __future__ import annotations

import numpy as np
import polars as pl

from scenerec.data.synthetic import TOPIC_NAMES, SyntheticConfig, generate, tiny
from scenerec.schema import EVENT_COLUMNS, C
from tests.data.synthetic.helpers import clean_typed, default_data, tiny_data


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = generate(tiny(0)), generate(tiny(0)), generate(tiny(1))
    assert a.events.equals(b.events)
    assert a.catalog.equals(b.catalog)
    assert a.truth["malformed_rows"] == b.truth["malformed_rows"]
    np.testing.assert_array_equal(a.truth["mixture_start"], b.truth["mixture_start"])
    assert not a.events.equals(c.events)
    assert not a.catalog.equals(c.catalog)


def test_raw_text_columns_and_sizes_near_config() -> None:
    data = tiny_data()
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
    ts = clean_typed(data)[C.TIMESTAMP]
    lo, hi = data.truth["time_span"]
    assert lo <= ts.min() and ts.max() <= hi
    assert ts.max() - ts.min() > 0.8 * cfg.days * 86_400  # type: ignore[operator]


def test_default_config_is_about_200k_events() -> None:
    data = default_data()
    assert abs(data.events.height - 200_000) <= 2_000
    assert data.events[C.USER_ID].drop_nulls().n_unique() > 4_500


def test_other_scenario_names_use_the_generic_funnel() -> None:
    cfg = tiny().model_copy(update={"scenarios": ("books", "movies"), "n_events": 3_000})
    data = generate(SyntheticConfig.model_validate(cfg.model_dump()))
    assert set(data.events[C.SCENARIO].unique()) == {"books", "movies"}
    assert set(data.events[C.BEHAVIOR].unique()) <= {"view", "click", "purchase"}
    assert data.events[C.QUERY].null_count() == data.events.height


def test_truth_mixtures_and_scenarios_match_the_events() -> None:
    data = tiny_data()
    truth = data.truth
    n_u, n_t = data.config.n_users, data.config.n_topics
    assert truth["topics"] == list(TOPIC_NAMES[:n_t])
    start, end = truth["mixture_start"], truth["mixture_end"]
    assert start.shape == end.shape == (n_u, n_t)
    is_bot = np.isin(truth["user_ids"], truth["bots"])
    np.testing.assert_allclose(start[~is_bot].sum(axis=1), 1.0)
    np.testing.assert_allclose(end[~is_bot].sum(axis=1), 1.0)
    assert not start[is_bot].any()
    ev = clean_typed(data)
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
