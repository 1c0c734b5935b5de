from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenerec.eval import metrics as m

SCALAR = {
    "precision": m.precision_at_k,
    "recall": m.recall_at_k,
    "ndcg": m.ndcg_at_k,
    "mrr": m.mrr_at_k,
    "hit": m.hit_rate_at_k,
    "map": m.map_at_k,
}

rankings = st.lists(st.integers(0, 30), min_size=1, max_size=20, unique=True)
relevants = st.sets(st.integers(0, 30), min_size=1, max_size=10)


def test_hand_computed_table() -> None:
    # ranked a b c d e, relevant {b, d, z}: hits at ranks 2 and 4
    ranked, rel, k = ["a", "b", "c", "d", "e"], {"b", "d", "z"}, 5
    assert m.precision_at_k(ranked, rel, k) == pytest.approx(2 / 5)
    assert m.recall_at_k(ranked, rel, k) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k(ranked, rel, k) == pytest.approx(dcg / idcg)
    assert m.mrr_at_k(ranked, rel, k) == pytest.approx(1 / 2)
    assert m.hit_rate_at_k(ranked, rel, k) == 1.0
    assert m.map_at_k(ranked, rel, k) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert m.hit_rate_at_k(ranked, rel, 1) == 0.0


@settings(max_examples=200, deadline=None)
@given(rankings, relevants, st.integers(1, 25))
def test_bounds_and_vectorised_agree_with_scalar(ranked: list[int], rel: set[int], k: int) -> None:
    top = np.array([ranked[:k] + [-1] * (k - len(ranked[:k]))])
    hits = np.isin(top, list(rel)) & (top >= 0)
    vec = m.per_user_metrics(hits, np.array([len(rel)]), k)
    for name, fn in SCALAR.items():
        v = fn(ranked, rel, k)
        assert 0.0 <= v <= 1.0 + 1e-12
        assert vec[name][0] == pytest.approx(v), name


@settings(max_examples=100, deadline=None)
@given(rankings, relevants, st.integers(1, 25), st.randoms())
def test_invariant_to_order_of_relevant_items(ranked, rel, k, rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(rel)
    rnd.shuffle(shuffled)
    for fn in SCALAR.values():
        assert fn(ranked, rel, k) == pytest.approx(fn(ranked, shuffled, k))


@settings(max_examples=100, deadline=None)
@given(relevants, st.integers(1, 25))
def test_perfect_ranking_scores_one(rel: set[int], k: int) -> None:
    ranked = [*sorted(rel), 100, 101]
    assert m.ndcg_at_k(ranked, rel, k) == pytest.approx(1.0)
    assert m.hit_rate_at_k(ranked, rel, k) == 1.0
    assert m.mrr_at_k(ranked, rel, k) == 1.0
    assert m.map_at_k(ranked, rel, k) == pytest.approx(1.0)
    if len(rel) <= k:
        assert m.recall_at_k(ranked, rel, k) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(rankings, relevants, st.integers(1, 20))
def test_monotone_in_hits(ranked: list[int], rel: set[int], k: int) -> None:
    """Turning a miss in the top k into a hit never lowers any metric."""
    top = ranked[:k]
    misses = [i for i, x in enumerate(top) if x not in rel]
    if not misses:
        return
    new_item = 1000
    better = list(ranked)
    better[misses[0]] = new_item
    rel2 = rel | {new_item}
    for name, fn in SCALAR.items():
        if name == "recall":  # more relevant items: compare counts instead
            continue
        assert fn(better, rel2, k) >= fn(ranked, rel2, k) - 1e-12, name


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        m.ndcg_at_k([1], {1}, 0)


def test_beyond_accuracy() -> None:
    top = np.array([[0, 1], [0, 2]])
    assert m.catalog_coverage(top, 4) == pytest.approx(3 / 4)
    assert m.gini_index(np.array([[0], [1]]), 2) == pytest.approx(0.0)
    assert m.gini_index(np.array([[0], [0]]), 2) == pytest.approx(0.5)
    vecs = np.eye(3, dtype=np.float32)
    assert m.intra_list_diversity(np.array([[0, 1]]), vecs)[0] == pytest.approx(1.0)
    same = np.ones((3, 2), np.float32)
    assert m.intra_list_diversity(np.array([[0, 1]]), same)[0] == pytest.approx(0.0)
    nov = m.novelty(np.array([[0], [1]]), np.array([8.0, 1.0]), 8)
    assert nov[0] == pytest.approx(0.0) and nov[1] == pytest.approx(3.0)
