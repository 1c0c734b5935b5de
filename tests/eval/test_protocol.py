from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.eval.protocol import (
    EvalResult,
    Protocol,
    _hits_from_top,
    _sample_negatives,
    compare_models,
    evaluate,
)
from scenerec.models.base import UserBatch
from scenerec.models.popularity import Popularity
from scenerec.schema import C, FloatMatrix, IdxArray


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


Setup = tuple[Dataset, pl.DataFrame, pl.DataFrame]


def test_without_valid_exclusion_scores_differ(setup: Setup) -> None:
    full, train, test = setup
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1,))
    # u1 now sees b first (not excluded) and misses at 1
    assert res.summary()["app"]["hit@1"] == 0.0


def test_history_kept_ranks_training_items(setup: Setup) -> None:
    """RecBole's sequential evaluation: training items stay in the ranking and push the held-out
    item down."""
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1, 2, 4), exclude=[valid], exclude_history=False)
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
    default = evaluate(m, test, ks=(1,), exclude=[valid]).summary()["app"]["hit@1"]
    assert default > res.summary()["app"]["hit@1"]


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


# ---------------------------------------------------------------------------- argument checks
def test_bad_arguments_raise_config_errors(
    setup: tuple[Dataset, pl.DataFrame, pl.DataFrame],
) -> None:
    full, train, test = setup
    m = Popularity().fit(full.subset(train))
    with pytest.raises(ConfigError, match="ks"):
        evaluate(m, test, ks=())
    with pytest.raises(ConfigError, match="protocol"):
        evaluate(m, test, protocol="sampeld")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_negatives"):
        evaluate(m, test, protocol="sampled", n_negatives=0)


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_a_target_scenario_without_test_users_gives_an_empty_row(
    setup: tuple[Dataset, pl.DataFrame, pl.DataFrame], protocol: Protocol
) -> None:
    full, train, test = setup
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(2,), scenarios=["web"], protocol=protocol, n_negatives=5)
    web = res.summary()["web"]
    assert web["users"] == 0.0 and np.isnan(web["ndcg@2"])
    assert res.intervals(n_boot=10) == {"web": {}}


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


# ---------------------------------------------------------------------------- negative sampling
def _forbid(rows: list[list[int]], n_cols: int) -> sp.csr_matrix:
    r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
    c = np.array([i for x in rows for i in x], np.int64)
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_cols))


@pytest.mark.parametrize(
    ("n_cols", "n"),
    [(400, 20), (30, 20)],  # large pool: rejection sampling; small pool: random keys
)
def test_negatives_are_distinct_allowed_and_uniform(n_cols: int, n: int) -> None:
    rng = np.random.default_rng(1)
    forbidden = [0, 1, 2, 3]
    n_rows = 3000
    neg = _sample_negatives(_forbid([forbidden] * n_rows, n_cols), n, rng)
    assert neg.shape == (n_rows, n)
    assert (neg >= 0).all()
    assert not np.isin(neg, forbidden).any()
    assert all(len(set(row)) == n for row in neg.tolist())
    # every allowed column is drawn with probability n / pool
    counts = np.bincount(neg.ravel(), minlength=n_cols)[len(forbidden) :]
    expected = n_rows * n / (n_cols - len(forbidden))
    assert stats.chisquare(counts, np.full(len(counts), expected)).pvalue > 1e-4


def test_negatives_take_the_whole_pool_when_it_is_small() -> None:
    rng = np.random.default_rng(0)
    neg = _sample_negatives(_forbid([[0, 2], [], [0, 1, 2, 3, 4]], 5), 4, rng)
    assert sorted(neg[0][neg[0] >= 0].tolist()) == [1, 3, 4]
    assert (neg[0] == -1).sum() == 1
    assert sorted(neg[1].tolist()) == [0, 1, 2, 3]
    assert (neg[2] == -1).all()


def test_negatives_with_varied_pools_in_one_call() -> None:
    # rows with very different forbidden sets take different paths in the same call
    rng = np.random.default_rng(3)
    n_cols, n = 200, 10
    rows = [list(range(0, 195)), [], list(range(0, 100, 2)), list(range(50))]
    neg = _sample_negatives(_forbid(rows, n_cols), n, rng)
    for row, f in zip(neg.tolist(), rows, strict=True):
        got = [i for i in row if i >= 0]
        assert len(got) == min(n, n_cols - len(f))
        assert len(set(got)) == len(got)
        assert not set(got) & set(f)


# ---------------------------------------------------------------------------- sampled protocol
def test_sampled_ranks_by_hand(setup: tuple[Dataset, pl.DataFrame, pl.DataFrame]) -> None:
    full, train, test = setup
    valid = frame([("u1", "b", "app", 5)])
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1, 2), exclude=[valid], protocol="sampled", n_negatives=999)
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


def _ladder(
    n_users: int, held: tuple[str, ...] = ("i10",)
) -> tuple[Dataset, pl.DataFrame, pl.DataFrame]:
    """30 app items with popularity 30, 29, ..., 1 (item i00 most popular).

    Each test user has one web training event and holds out one app item from ``held`` (in
    turn); with i10, exactly 10 candidate negatives (i00..i09) score above it and 19 below.
    """
    rows: list[tuple[str, str, str, int]] = []
    for r in range(30):
        rows += [(f"f{r}", f"i{j:02d}", "app", 1) for j in range(30 - r)]
    for u in range(n_users):
        rows.append((f"t{u}", "w0", "web", 1))
    train = frame(rows)
    test = frame([(f"t{u}", held[u % len(held)], "app", 2) for u in range(n_users)])
    return Dataset(pl.concat([train, test])), train, test


class Unpopularity(Popularity):
    """Ranks the least used items first: a model that is worse on the ladder data."""

    name = "unpopularity"

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return -super()._score(users, items)


@pytest.mark.parametrize("n_neg", [5, 20])  # rejection-sampling and random-key paths
def test_sampled_hit_rate_follows_the_hypergeometric_law(n_neg: int) -> None:
    full, train, test = _ladder(600)
    m = Popularity().fit(full.subset(train))
    res = evaluate(m, test, ks=(1, 2, 3), protocol="sampled", n_negatives=n_neg, seed=7)
    summary = res.summary()["app"]
    assert summary["users"] == 600
    for k in (1, 2, 3):
        # hit@k <=> fewer than k of the n_neg negatives drawn from the 29 others beat i10
        expected = stats.hypergeom(29, 10, n_neg).cdf(k - 1)
        se = np.sqrt(expected * (1 - expected) / 600)
        assert abs(summary[f"hit@{k}"] - expected) < 4 * se + 1e-9


def test_sampled_negatives_do_not_depend_on_the_model() -> None:
    full, train, test = _ladder(50)
    ds = full.subset(train)
    a = evaluate(Popularity().fit(ds), test, ks=(3,), protocol="sampled", n_negatives=5)
    b = evaluate(Popularity().fit(ds), test, ks=(3,), protocol="sampled", n_negatives=5)
    assert np.array_equal(
        a.scenarios["app"].per_user["ndcg@3"], b.scenarios["app"].per_user["ndcg@3"]
    )
    c = a.compare(b, "ndcg@3")
    json.dumps(c, allow_nan=False)
    assert c["n"] == 50
    assert c["bootstrap"]["mean_diff"] == 0.0
    assert c["tests"]["t_p_value"] == 1.0


# ---------------------------------------------------------------------------- user groups
@pytest.fixture()
def grouped() -> tuple[Popularity, pl.DataFrame]:
    train = frame([
        ("both", "a", "app", 1), ("both", "x", "web", 1),   # overlapping in app
        ("webonly", "x", "web", 1), ("webonly", "y", "web", 2),  # cold in app
        ("apponly", "a", "app", 1), ("apponly", "b", "app", 2),
    ])  # fmt: skip
    test = frame([
        ("both", "b", "app", 5),
        ("webonly", "a", "app", 5),
        ("apponly", "n", "app", 5),   # n: no training event anywhere
        ("nobody", "a", "app", 5),    # a user with no training events
        ("both", "y", "web", 5),
    ])  # fmt: skip
    full = Dataset(pl.concat([train, test]))
    return Popularity().fit(full.subset(train)), test


def _members(res: EvalResult, m: Popularity, scenario: str) -> dict[str, set[str]]:
    r = res.scenarios[scenario]
    ids = m.vocab("users").to_ids(r.user_idx)
    return {g: {u for u, x in zip(ids, mask, strict=True) if x} for g, mask in r.groups.items()}


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_user_groups_follow_training_data(
    grouped: tuple[Popularity, pl.DataFrame], protocol: Protocol
) -> None:
    m, test = grouped
    res = evaluate(m, test, ks=(2,), protocol=protocol, n_negatives=3)
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


def test_group_means_are_means_over_members(grouped: tuple[Popularity, pl.DataFrame]) -> None:
    m, test = grouped
    res = evaluate(m, test, ks=(1, 2))
    app = res.scenarios["app"]
    for g, mask in app.groups.items():
        if mask.any():
            want = app.per_user["ndcg@2"][mask].mean()
            assert res.group_summary()["app"][g]["ndcg@2"] == pytest.approx(want)
    with pytest.raises(ConfigError, match="group"):
        app.mean("cold")


# ---------------------------------------------------------------------------- intervals and to_dict
def test_intervals_bracket_the_means(grouped: tuple[Popularity, pl.DataFrame]) -> None:
    m, test = grouped
    res = evaluate(m, test, ks=(1, 2))
    iv = res.intervals(n_boot=200)
    summary = res.summary()
    assert set(iv) == {"app", "web", "all"}
    for scen, groups in iv.items():
        for name, ci in groups["all"].items():
            assert ci["mean"] == pytest.approx(summary[scen][name])
            assert ci["lo"] - 1e-12 <= ci["mean"] <= ci["hi"] + 1e-12
    assert "cold_in_target" in iv["app"] and "cold_in_target" not in iv["web"]  # empty left out
    d = res.to_dict(n_boot=50)
    assert d["summary"] == summary and d["n_boot"] == 50 and "intervals" in d
    # the empty web cold-in-target group has no mean: null, not NaN, in strict JSON
    assert d["groups"]["web"]["cold_in_target"]["ndcg@2"] is None
    json.dumps(d, allow_nan=False)


def test_compare_finds_the_better_model() -> None:
    # i10 ranks 11th by popularity and 20th by unpopularity; i25 ranks 26th and 5th
    full, train, test = _ladder(300, held=("i10", "i10", "i25"))
    ds = full.subset(train)
    pop = evaluate(Popularity().fit(ds), test, ks=(10, 11))
    unpop = evaluate(Unpopularity().fit(ds), test, ks=(10, 11))
    c = pop.compare(unpop, "hit@11")
    assert c["n"] == 300
    assert c["bootstrap"]["mean_diff"] == pytest.approx(1 / 3)  # +1 on 200 users, -1 on 100
    assert c["bootstrap"]["lo"] > 0
    assert c["bootstrap"]["p_value"] < 0.01
    assert c["tests"]["t_p_value"] < 0.01 and c["tests"]["wilcoxon_p_value"] < 0.01
    back = unpop.compare(pop, "hit@11")
    assert back["bootstrap"]["mean_diff"] == pytest.approx(-1 / 3)
    assert back["tests"]["t_p_value"] == pytest.approx(c["tests"]["t_p_value"])
    # every ladder user is cold in app (web history only)
    assert pop.compare(unpop, "hit@11", group="cold_in_target")["n"] == 300
    with pytest.raises(ConfigError, match="no rows in common"):
        pop.compare(unpop, "hit@11", group="overlapping")
    rows = compare_models({"pop": pop, "unpop": unpop}, "hit@11")
    assert [(r["a"], r["b"]) for r in rows] == [("unpop", "pop")]
    with pytest.raises(ConfigError, match="metric"):
        pop.compare(unpop, "ndcg@5")
    sampled = evaluate(Popularity().fit(ds), test, ks=(10,), protocol="sampled", n_negatives=5)
    with pytest.raises(ConfigError, match="protocol"):
        pop.compare(sampled, "hit@10")


def test_compare_refuses_models_fit_on_different_data() -> None:
    full, train, test = _ladder(20)
    a = evaluate(Popularity().fit(full.subset(train)), test, ks=(5,))
    other = full.subset(train.filter(pl.col(C.USER_ID) != "f0"))
    b = evaluate(Popularity().fit(other), test, ks=(5,))
    with pytest.raises(ConfigError, match="different training data"):
        a.compare(b, "ndcg@5")
