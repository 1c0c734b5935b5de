from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.eval.protocol import evaluate
from scenerec.models.popularity import Popularity
from scenerec.schema import C


def frame(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    ev = pl.DataFrame(rows, schema=[C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP], orient="row")
    return ev.with_columns(pl.lit("click").alias(C.BEHAVIOR))


@pytest.fixture()
def setup() -> tuple[Dataset, pl.DataFrame, pl.DataFrame]:
    # popularity in app: a (3) > b (2) > c (1) > d (0, test only)
    train = frame([
        ("u1", "a", "app", 1), ("u2", "a", "app", 1), ("u3", "a", "app", 1),
        ("u2", "b", "app", 2), ("u3", "b", "app", 2), ("u3", "c", "app", 3),
        ("u1", "x", "web", 4),
    ])  # fmt: skip
    valid = frame([("u1", "b", "app", 5)])
    test = frame([("u1", "c", "app", 6), ("u2", "d", "app", 6)])
    full = Dataset(pl.concat([train, valid, test]))
    return full, train, test


def test_full_ranking_by_hand(setup: tuple[Dataset, pl.DataFrame, pl.DataFrame]) -> None:
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1, 2), exclude=[valid])
    app = res.scenarios["app"]
    # u1: train a, valid b excluded -> ranking c, d -> c is the test item: rank 1
    # u2: train a, b excluded -> ranking c, d -> d at rank 2
    by_user = dict(zip(m.vocab("users").to_ids(app.user_idx), app.per_user["hit@1"], strict=True))
    assert by_user == {"u1": 1.0, "u2": 0.0}
    assert app.per_user["hit@2"].tolist() == [1.0, 1.0]
    assert res.summary()["app"]["ndcg@2"] == pytest.approx((1.0 + 1 / np.log2(3)) / 2)


def test_without_valid_exclusion_scores_differ(setup: tuple[Dataset, pl.DataFrame, pl.DataFrame]) -> None:
    full, train, test = setup
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1,))
    # u1 now sees b first (not excluded) and misses at 1
    assert res.summary()["app"]["hit@1"] == 0.0


def test_train_items_never_counted(setup: tuple[Dataset, pl.DataFrame, pl.DataFrame]) -> None:
    full, train, _ = setup
    m = Popularity().fit(full.subset(train))
    leak = frame([("u1", "a", "app", 9)])  # an item the user has in train
    res = evaluate(m, leak, ks=(3,))
    assert res.summary()["app"]["hit@3"] == 0.0


def test_sampled_protocol_is_one_instance_per_target(
    setup: tuple[Dataset, pl.DataFrame, pl.DataFrame],
) -> None:
    full, train, test = setup
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1,), protocol="sampled", n_negatives=999)
    app = res.scenarios["app"]
    assert len(app.user_idx) == 2
    assert 0.0 <= res.summary()["app"]["hit@1"] <= 1.0
