"""``evaluate``: full and sampled ranking by hand, exclusions, user groups from ``train``."""

from __future__ import annotations

import json
from typing import cast

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scenerec.errors import ConfigError
from scenerec.eval.compare import compare_results
from scenerec.eval.protocol import RankingModel, _hits_from_top, evaluate
from scenerec.eval.results import EvalResult, Protocol
from scenerec.models.popularity import Popularity
from scenerec.schema import C
from tests.eval.conftest import Grouped, Setup
from tests.eval.helpers import OnlyRanking, frame, ladder


def test_full_ranking_by_hand(setup: Setup) -> None:
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(1, 2), exclude=[valid])
    app = res.scenarios["app"]
    # u1: train a, valid b excluded -> ranking c, d -> c is the test item: rank 1
    # u2: train a, b excluded -> ranking c, d -> d at rank 2
    by_user = dict(zip(m.vocab("users").to_ids(app.user_idx), app.per_user["hit@1"], strict=True))
    assert by_user == {"u1": 1.0, "u2": 0.0}
    assert app.per_user["hit@2"].tolist() == [1.0, 1.0]
    assert res.summary()["app"]["ndcg@2"] == pytest.approx((1.0 + 1 / np.log2(3)) / 2)


def test_without_valid_exclusion_scores_differ(setup: Setup) -> None:
    full, train, test = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(1,))
    # u1 now sees b first (not excluded) and misses at 1
    assert res.summary()["app"]["hit@1"] == 0.0


def test_history_kept_ranks_training_items(setup: Setup) -> None:
    """RecBole's sequential evaluation: training items stay in the ranking and push the held-out
    item down."""
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(1, 2, 4), exclude=[valid], exclude_history=False)
    app = res.scenarios["app"]
    by_user = {
        u: (h1, h2, h4)
        for u, h1, h2, h4 in zip(
            m.vocab("users").to_ids(app.user_idx),
            app.per_user["hit@1"],
            app.per_user["hit@2"],
            app.per_user["hit@4"],
            strict=True,
        )
    }
    # u1: a (own train item, kept), then c (b excluded as valid) -> hit at 2
    # u2: a, b (both own train items, kept), c, then d -> hit at 4 only
    assert by_user == {"u1": (0.0, 1.0, 1.0), "u2": (0.0, 0.0, 1.0)}
    default = evaluate(m, test, train=ds, ks=(1,), exclude=[valid]).summary()["app"]["hit@1"]
    assert default > res.summary()["app"]["hit@1"]


def test_train_items_never_counted(setup: Setup) -> None:
    full, train, _ = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    leak = frame([("u1", "a", "app", 9)])  # an item the user has in train
    res = evaluate(m, leak, train=ds, ks=(3,))
    assert res.summary()["app"]["hit@3"] == 0.0


def test_sampled_protocol_is_one_instance_per_target(setup: Setup) -> None:
    full, train, test = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(1,), protocol="sampled", n_negatives=999)
    app = res.scenarios["app"]
    assert len(app.user_idx) == 2
    assert 0.0 <= res.summary()["app"]["hit@1"] <= 1.0


# ---------------------------------------------------------------------------- argument checks
def test_bad_arguments_raise_config_errors(setup: Setup) -> None:
    full, train, test = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    with pytest.raises(ConfigError, match="ks"):
        evaluate(m, test, train=ds, ks=())
    with pytest.raises(ConfigError, match="protocol"):
        evaluate(m, test, train=ds, protocol="sampeld")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_negatives"):
        evaluate(m, test, train=ds, protocol="sampled", n_negatives=0)


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_a_target_scenario_without_test_users_gives_an_empty_row(
    setup: Setup, protocol: Protocol
) -> None:
    full, train, test = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(2,), scenarios=["web"], protocol=protocol, n_negatives=5)
    web = res.summary()["web"]
    assert web["users"] == 0.0 and np.isnan(web["ndcg@2"])
    assert res.intervals(n_boot=10) == {"web": {}}


# ---------------------------------------------------------------------------- the training data
def test_train_other_than_the_fit_data_is_refused(setup: Setup) -> None:
    full, train, test = setup
    ds = full.subset(train)
    m = Popularity().fit(ds)
    for wrong in (full, full.subset(train.filter(pl.col(C.USER_ID) != "u3"))):
        with pytest.raises(ConfigError, match="pass the Dataset given to fit"):
            evaluate(m, test, train=wrong, ks=(1,))
    # a copy of the same data is the same training data
    again = evaluate(m, test, train=full.subset(train), ks=(2,)).summary()
    assert again == evaluate(m, test, train=ds, ks=(2,)).summary()


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_evaluation_uses_only_ranking_and_train(grouped: Grouped, protocol: Protocol) -> None:
    """Groups, exclusions and candidates come from ``train``: a model seen only through
    ``RankingModel`` (its training copy out of reach) gives the same result."""
    m, ds, test = grouped
    kw = {"ks": (1, 2), "protocol": protocol, "n_negatives": 3}
    only = cast(RankingModel, OnlyRanking(m))
    via_protocol = evaluate(only, test, train=ds, **kw)  # type: ignore[arg-type]
    direct = evaluate(m, test, train=ds, **kw)  # type: ignore[arg-type]
    assert via_protocol.to_dict(n_boot=20) == direct.to_dict(n_boot=20)
    app = _members(via_protocol, m, "app")
    assert app["cold_in_target"] == {"webonly"} and app["new_users"] == {"nobody"}


# ---------------------------------------------------------------------------- vectorised hits
@st.composite
def top_and_relevance(draw: st.DrawFn) -> tuple[np.ndarray, sp.csr_matrix]:
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 12))
    k = draw(st.integers(1, 6))
    top = np.full((n_users, k), -1, np.int64)
    rows, cols = [], []
    for r in range(n_users):
        ranked = draw(st.lists(st.integers(0, n_items - 1), max_size=k, unique=True))
        top[r, : len(ranked)] = ranked
        rel = draw(st.sets(st.integers(0, n_items - 1), max_size=n_items))
        rows += [r] * len(rel)
        cols += sorted(rel, reverse=True)  # unsorted input: the lookup must not rely on order
    mat = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (np.array(rows, int), np.array(cols, int))),
        shape=(n_users, n_items),
    )
    return top, mat


@settings(max_examples=150, deadline=None)
@given(top_and_relevance())
def test_hits_lookup_matches_row_by_row_membership(
    case: tuple[np.ndarray, sp.csr_matrix],
) -> None:
    top, rel = case
    got = _hits_from_top(top, rel)
    for r in range(top.shape[0]):
        row = set(rel[r].indices.tolist())
        assert got[r].tolist() == [int(i) in row for i in top[r]]  # -1 padding never hits


# ---------------------------------------------------------------------------- sampled protocol
def test_sampled_ranks_by_hand(setup: Setup) -> None:
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(
        m, test, train=ds, ks=(1, 2), exclude=[valid], protocol="sampled", n_negatives=999
    )
    app = res.scenarios["app"]
    users = m.vocab("users").to_ids(app.user_idx)
    assert app.item_idx is not None
    items = m.vocab("items").to_ids(app.item_idx)
    # u1: a (train) and b (valid) are never negatives, c is held out -> only d: c (1) beats d (0)
    # u2: a, b in train, d held out -> only c, which beats d -> d ranks second
    hit1 = dict(zip(zip(users, items, strict=True), app.per_user["hit@1"], strict=True))
    assert hit1 == {("u1", "c"): 1.0, ("u2", "d"): 0.0}
    assert app.per_user["hit@2"].tolist() == [1.0, 1.0]
    assert res.n_negatives == 999


@pytest.mark.parametrize("n_neg", [5, 20])  # rejection-sampling and random-key paths
def test_sampled_hit_rate_follows_the_hypergeometric_law(n_neg: int) -> None:
    full, train, test = ladder(600)
    ds = full.subset(train)
    m = Popularity().fit(ds)
    res = evaluate(m, test, train=ds, ks=(1, 2, 3), protocol="sampled", n_negatives=n_neg, seed=7)
    summary = res.summary()["app"]
    assert summary["users"] == 600
    for k in (1, 2, 3):
        # hit@k <=> fewer than k of the n_neg negatives drawn from the 29 others beat i10
        expected = stats.hypergeom(29, 10, n_neg).cdf(k - 1)
        se = np.sqrt(expected * (1 - expected) / 600)
        assert abs(summary[f"hit@{k}"] - expected) < 4 * se + 1e-9


def test_sampled_negatives_do_not_depend_on_the_model() -> None:
    full, train, test = ladder(50)
    ds = full.subset(train)
    kw = {"ks": (3,), "protocol": "sampled", "n_negatives": 5}
    a = evaluate(Popularity().fit(ds), test, train=ds, **kw)  # type: ignore[arg-type]
    b = evaluate(Popularity().fit(ds), test, train=ds, **kw)  # type: ignore[arg-type]
    assert np.array_equal(
        a.scenarios["app"].per_user["ndcg@3"], b.scenarios["app"].per_user["ndcg@3"]
    )
    c = compare_results(a, b, "ndcg@3")
    json.dumps(c, allow_nan=False)
    assert c["n"] == 50
    assert c["bootstrap"]["mean_diff"] == 0.0
    assert c["tests"]["t_p_value"] == 1.0


# ---------------------------------------------------------------------------- user groups
def _members(res: EvalResult, m: Popularity, scenario: str) -> dict[str, set[str]]:
    r = res.scenarios[scenario]
    ids = m.vocab("users").to_ids(r.user_idx)
    return {g: {u for u, x in zip(ids, mask, strict=True) if x} for g, mask in r.groups.items()}


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_user_groups_follow_training_data(grouped: Grouped, protocol: Protocol) -> None:
    m, ds, test = grouped
    res = evaluate(m, test, train=ds, ks=(2,), protocol=protocol, n_negatives=3)
    app = _members(res, m, "app")
    assert app == {
        "overlapping": {"both"},
        "cold_in_target": {"webonly"},
        "new_users": {"nobody"},
        "new_items": {"apponly"},
    }
    # in web, "both" has training events in web and app: overlapping there too
    assert _members(res, m, "web")["overlapping"] == {"both"}
    groups = res.group_summary()
    assert groups["app"]["cold_in_target"]["users"] == 1.0
    assert groups["app"]["all"]["users"] == 4.0
    assert groups["all"]["overlapping"]["users"] == 2.0  # pooled over app and web
