"""Paired comparisons: the better model wins, mismatched results are refused."""

from __future__ import annotations

import polars as pl
import pytest

from scenerec.errors import ConfigError
from scenerec.eval.compare import compare_models, compare_results
from scenerec.eval.protocol import evaluate
from scenerec.models.popularity import Popularity
from scenerec.schema import C
from tests.eval.helpers import Unpopularity, ladder


def test_compare_finds_the_better_model() -> None:
    # i10 ranks 11th by popularity and 20th by unpopularity; i25 ranks 26th and 5th
    full, train, test = ladder(300, held=("i10", "i10", "i25"))
    ds = full.subset(train)
    pop = evaluate(Popularity().fit(ds), test, train=ds, ks=(10, 11))
    unpop = evaluate(Unpopularity().fit(ds), test, train=ds, ks=(10, 11))
    c = compare_results(pop, unpop, "hit@11")
    assert c["n"] == 300
    assert c["bootstrap"]["mean_diff"] == pytest.approx(1 / 3)  # +1 on 200 users, -1 on 100
    assert c["bootstrap"]["lo"] > 0
    assert c["bootstrap"]["p_value"] < 0.01
    assert c["tests"]["t_p_value"] < 0.01 and c["tests"]["wilcoxon_p_value"] < 0.01
    back = compare_results(unpop, pop, "hit@11")
    assert back["bootstrap"]["mean_diff"] == pytest.approx(-1 / 3)
    assert back["tests"]["t_p_value"] == pytest.approx(c["tests"]["t_p_value"])
    # every ladder user is cold in app (web history only)
    assert compare_results(pop, unpop, "hit@11", group="cold_in_target")["n"] == 300
    with pytest.raises(ConfigError, match="no rows in common"):
        compare_results(pop, unpop, "hit@11", group="overlapping")
    rows = compare_models({"pop": pop, "unpop": unpop}, "hit@11")
    assert [(r["a"], r["b"]) for r in rows] == [("unpop", "pop")]
    cold = compare_models({"pop": pop, "unpop": unpop}, "hit@11", group="cold_in_target")
    assert [(r["group"], r["n"]) for r in cold] == [("cold_in_target", 300)]
    with pytest.raises(ConfigError, match="metric"):
        compare_results(pop, unpop, "ndcg@5")
    sampled = evaluate(
        Popularity().fit(ds), test, train=ds, ks=(10,), protocol="sampled", n_negatives=5
    )
    with pytest.raises(ConfigError, match="protocol"):
        compare_results(pop, sampled, "hit@10")


def test_compare_refuses_models_fit_on_different_data() -> None:
    full, train, test = ladder(20)
    ds = full.subset(train)
    a = evaluate(Popularity().fit(ds), test, train=ds, ks=(5,))
    other = full.subset(train.filter(pl.col(C.USER_ID) != "f0"))
    b = evaluate(Popularity().fit(other), test, train=other, ks=(5,))
    with pytest.raises(ConfigError, match="different training data"):
        compare_results(a, b, "ndcg@5")


def test_old_import_path_still_works() -> None:
    from scenerec.eval import protocol

    assert protocol.compare_models is compare_models
