from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.errors import UnknownEntityError
from scenerec.schema import C


def events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            C.USER_ID: ["u2", "u1", "u1", "u2", "u1"],
            C.ITEM_ID: ["b", "a", "b", "c", "a"],
            C.SCENARIO: ["web", "app", "web", "app", "app"],
            C.BEHAVIOR: ["view", "click", "purchase", "click", "view"],
            C.TIMESTAMP: [5, 3, 1, 2, 9],
        }
    )


def test_vocabularies_are_sorted_and_include_catalog_items() -> None:
    cat = pl.DataFrame({C.ITEM_ID: ["z", "a"], C.TITLE: ["Zed", "Ay"]})
    ds = Dataset(events(), cat)
    assert ds.user_vocab.to_list() == ["u1", "u2"]
    assert ds.item_vocab.to_list() == ["a", "b", "c", "z"]  # z: text-only item
    assert ds.catalog[C.TITLE].to_list() == ["Ay", None, None, "Zed"]
    assert ds.catalog[C.ITEM_IDX].to_list() == [0, 1, 2, 3]


def test_histories_are_time_ordered_across_scenarios() -> None:
    ds = Dataset(events())
    h = ds.histories
    u1 = ds.user_vocab.index("u1")
    sl = h.slice_of(u1)
    assert h.timestamp[sl].tolist() == [1, 3, 9]
    assert ds.item_vocab.to_ids(h.item_idx[sl]) == ["b", "a", "a"]
    assert ds.scenario_vocab.to_ids(h.scenario_idx[sl]) == ["web", "app", "app"]
    assert h.lengths().sum() == ds.n_events


def test_matrix_per_scenario_sums_behaviour_weights() -> None:
    ds = Dataset(events(), behavior_weights={"view": 1.0, "click": 2.0, "purchase": 5.0})
    m = ds.matrix("app")
    u1, a = ds.user_vocab.index("u1"), ds.item_vocab.index("a")
    assert m[u1, a] == pytest.approx(3.0)  # click 2 + view 1
    assert ds.matrix("app", binary=True)[u1, a] == 1.0
    assert ds.matrix("web")[u1, ds.item_vocab.index("b")] == pytest.approx(5.0)
    assert ds.matrix().nnz == 4


def test_subset_keeps_indices() -> None:
    ds = Dataset(events())
    sub = ds.subset(ds.events.filter(pl.col(C.USER_ID) == "u2"))
    assert sub.item_vocab.to_list() == ds.item_vocab.to_list()
    assert sub.n_users == ds.n_users
    assert sub.histories.lengths()[ds.user_vocab.index("u1")] == 0


def test_scenario_items_and_unknown_scenario() -> None:
    ds = Dataset(events())
    assert ds.item_vocab.to_ids(ds.scenario_items("web")) == ["b"]
    with pytest.raises(UnknownEntityError, match="choose one of"):
        ds.scenario_items("tv")


def test_vocabulary_lookup() -> None:
    v = Vocabulary(["x", "y"], kind="item")
    assert v.indices(pl.Series(["y", "q"])).to_list() == [1, None]
    assert v.extend(["q", "x"]).to_list() == ["x", "y", "q"]
    with pytest.raises(UnknownEntityError):
        v.index("q")


def test_stats_per_scenario_and_overlap() -> None:
    st = Dataset(events()).stats()
    assert st["scenarios"]["app"]["events"] == 3
    assert st["users_in_several_scenarios"] == 2
    assert st["overall"]["users"] == 2
    assert np.isclose(st["scenarios"]["web"]["sparsity"], 0.0)
