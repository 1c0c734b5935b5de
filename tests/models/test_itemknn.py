"""ItemKNN: neighbour lists match a brute-force shrunk cosine, and scoring uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.models import HistoryEvent, RecQuery
from scenerec.models.itemknn import ItemKNN, ItemKNNConfig
from scenerec.schema import C


def _dataset(seed: int = 0, n_users: int = 40, n_items: int = 15) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i:02d}", str(rng.choice(["view", "purchase"])))
        for u in range(n_users)
        for i in range(n_items)
        if rng.random() < 0.3
    ]
    return Dataset(
        pl.DataFrame(
            {
                C.USER_ID: [r[0] for r in rows],
                C.ITEM_ID: [r[1] for r in rows],
                C.SCENARIO: ["s"] * len(rows),
                C.BEHAVIOR: [r[2] for r in rows],
                C.TIMESTAMP: list(range(len(rows))),
            }
        )
    )


def _brute_force(X: np.ndarray, k: int, shrink: float) -> np.ndarray:
    """Dense shrunk cosine with the diagonal zeroed, keeping each column's k largest."""
    norms = np.sqrt((X**2).sum(axis=0))
    sim = (X.T @ X) / (norms[:, None] * norms[None, :] + shrink + 1e-6)
    np.fill_diagonal(sim, 0.0)
    W = np.zeros_like(sim)
    for j in range(sim.shape[1]):
        top = np.argsort(-sim[:, j], kind="stable")[:k]
        W[top, j] = sim[top, j]
    return W


@pytest.mark.parametrize(
    ("k", "shrink", "binary"), [(4, 0.0, True), (6, 2.5, True), (3, 1.0, False)]
)
def test_neighbours_match_brute_force(k: int, shrink: float, binary: bool) -> None:
    data = _dataset()
    model = ItemKNN(ItemKNNConfig(k=k, shrink=shrink, binary=binary)).fit(data)
    X = data.matrix(None, binary=binary).toarray().astype(np.float64)
    expected = _brute_force(X, k, shrink)
    got = model.W_.toarray()
    # ties at the k-th place may pick different items: compare the kept values per column
    np.testing.assert_allclose(
        np.sort(got, axis=0), np.sort(expected, axis=0), rtol=1e-5, atol=1e-7
    )
    assert (np.count_nonzero(got, axis=0) <= k).all()
    assert np.all(np.diag(got) == 0.0)


def test_block_boundaries_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _dataset(seed=3)
    whole = ItemKNN(ItemKNNConfig(k=5)).fit(data).W_.toarray()
    import scenerec.models.itemknn as mod

    monkeypatch.setattr(mod, "_BLOCK_ENTRIES", 40)  # a few columns per block
    blocked = ItemKNN(ItemKNNConfig(k=5)).fit(data).W_.toarray()
    np.testing.assert_array_equal(whole, blocked)


def test_scores_sum_neighbour_similarities_of_the_history() -> None:
    data = _dataset(seed=1)
    model = ItemKNN(ItemKNNConfig(k=5, shrink=0.5)).fit(data)
    W = model.W_.toarray()
    X = data.matrix(None, binary=True).toarray()
    users = np.arange(6, dtype=np.int64)
    np.testing.assert_allclose(
        model.score_users(users, scenario="s"),
        (X[users] @ W).astype(np.float32),
        rtol=1e-5,
        atol=1e-6,
    )


def test_adhoc_history_scores_like_the_same_known_user(tmp_path: Path) -> None:
    data = _dataset(seed=2)
    model = ItemKNN(ItemKNNConfig(k=5)).fit(data)
    user = "u3"
    ev = data.events.filter(pl.col(C.USER_ID) == user)
    history = [
        HistoryEvent(i, s, b, t)
        for i, s, b, t in ev.select(C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP).iter_rows()
    ]
    known = model.recommend(RecQuery(user_id=user, scenario="s"), k=5)
    adhoc = model.recommend(RecQuery(history=history, scenario="s"), k=5)
    assert known.item_ids == adhoc.item_ids
    np.testing.assert_array_equal(known.scores, adhoc.scores)


def test_k_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="k"):
        ItemKNNConfig.from_dict({"k": 0})
