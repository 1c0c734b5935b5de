"""VectorIndex: the exact scan is right by construction; the approximate indexes match it (recall
measured at build time), filters and replaced rows are honoured, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.errors import ConfigError, SchemaError
from scenerec.retrieval import RetrievalConfig, VectorIndex


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 2), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_returns_the_true_top_k_best_first() -> None:
    x = _clustered(500)
    index = VectorIndex(32)
    index.set(np.arange(500), x)
    labels, scores = index.search(x[7], 10)
    truth = np.argsort(-(x @ x[7]), kind="stable")[:10]
    assert labels.tolist() == truth.tolist()
    assert labels[0] == 7 and np.all(np.diff(scores) <= 0)
    assert index.kind == "exact" and index.report.recall_at_10 == 1.0


def test_filters_exclusions_and_rows_without_vectors() -> None:
    x = _clustered(200)
    x[5] = 0.0  # an item without text: never returned
    index = VectorIndex(32)
    index.set(np.arange(200), x)
    allowed = np.zeros(200, bool)
    allowed[100:] = True
    labels, _ = index.search(x[150], 20, allowed=allowed, exclude=np.array([150]))
    assert len(labels) == 20 and labels.min() >= 100 and 150 not in labels.tolist()
    every, _ = index.search(x[0], 500)
    assert len(every) == 199 and 5 not in every.tolist()
    assert not index.has(np.array([5, 999])).any() and index.has(np.array([6])).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_index_is_built_above_the_threshold_and_measures_its_recall(
    kind: str,
) -> None:
    x = _clustered(3_000)
    cfg = RetrievalConfig(exact_below=2_000, kind=kind, recall_queries=100, threads=1)  # type: ignore[arg-type]
    index = VectorIndex(32, cfg)
    index.set(np.arange(1_000), x[:1_000])
    assert index.kind == "exact"  # below the threshold
    index.set(np.arange(1_000, 3_000), x[1_000:])
    rep = index.report
    assert rep.kind == kind and rep.size == 3_000 and rep.queries == 100
    # the recall the index reports is the recall it has: recompute it independently
    rng = np.random.default_rng(3)
    hits = 0
    for q in rng.choice(3_000, 50, replace=False):
        truth = set(np.argsort(-(x @ x[q]))[:10].tolist())
        hits += len(truth & set(index.search(x[q], 10)[0].tolist()))
    assert rep.recall_at_10 >= 0.9 and hits / 500 >= 0.9


def test_approximate_search_honours_replaced_rows_and_narrow_filters() -> None:
    x = _clustered(2_500)
    index = VectorIndex(32, RetrievalConfig(exact_below=2_000, recall_queries=20, threads=1))
    index.set(np.arange(2_500), x)
    assert index.kind == "hnsw"
    # row 3 gets a new vector (a catalog update): the old one is never scored again
    index.set(np.array([3]), x[1_000:1_001])
    labels, scores = index.search(x[1_000], 2)
    assert set(labels.tolist()) == {3, 1_000} and np.allclose(scores, 1.0, atol=1e-5)
    # a filter narrower than the approximate hits falls back to the exact scan over it
    allowed = np.zeros(2_500, bool)
    allowed[[10, 20, 30]] = True
    labels, _ = index.search(x[0], 10, allowed=allowed)
    assert sorted(labels.tolist()) == [10, 20, 30]
    # new rows join the approximate index
    index.set(np.array([2_600]), x[:1] * 1.0)
    assert 2_600 in index.search(x[0], 5)[0].tolist()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError):
        VectorIndex(0)
    index = VectorIndex(4)
    with pytest.raises(SchemaError, match="shape"):
        index.set(np.arange(2), np.ones((2, 3), np.float32))
    with pytest.raises(SchemaError, match="non-finite"):
        index.set(np.arange(1), np.full((1, 4), np.nan, np.float32))
    with pytest.raises(SchemaError, match="4-d"):
        index.search(np.ones(3, np.float32), 1)
    assert len(index.search(np.ones(4, np.float32), 3)[0]) == 0  # empty index: nothing
