"""The items: topic words in titles, skewed popularity per scenario, the scenario column."""

from __future__ import annotations

import numpy as np
import polars as pl

from scenerec.schema import C
from tests.data.synthetic.helpers import default_data, tiny_data


def test_catalog_scenario_names_the_only_scenario_selling_an_item() -> None:
    data = tiny_data()
    sold_in: dict[str, list[str]] = {}
    for scenario, items in data.truth["scenario_items"].items():
        for item in items:
            sold_in.setdefault(item, []).append(scenario)
    for item, scenario in data.catalog.select(C.ITEM_ID, C.SCENARIO).iter_rows():
        expected = sold_in[item][0] if len(sold_in[item]) == 1 else None
        assert scenario == expected


def test_items_of_one_topic_share_title_words() -> None:
    data = tiny_data()
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


def test_item_popularity_is_skewed_and_differs_by_scenario() -> None:
    ev = default_data().events.drop_nulls(C.ITEM_ID)
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
