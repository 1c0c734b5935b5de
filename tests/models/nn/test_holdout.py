"""The validation holdout behind early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.models.nn import Holdout
from tests.models.nn.helpers import histories


def test_holdout_takes_each_sampled_users_last_event_out_of_training() -> None:
    h = histories([5, 1, 3, 4])
    hold = Holdout.draw(h, 10, seed=0)
    assert hold.users.tolist() == [0, 2, 3]  # user 1 has a single event: nothing would be left
    assert hold.items.tolist() == [104, 108, 112]
    kept = h.filter(hold.keep)
    assert kept.lengths().tolist() == [4, 1, 2, 3]
    assert 104 not in kept.item_idx and 100 in kept.item_idx


def test_holdout_random_pick_draws_any_event_in_scope_and_is_seeded() -> None:
    # users' events: 0 -> 100..104, 1 -> 105, 2 -> 106..108, 3 -> 109..112, 4 -> none;
    # scenario of event n is n % 2
    h = histories([5, 1, 3, 4, 0])
    drawn: set[int] = set()
    for seed in range(40):
        hold = Holdout.draw(h, 10, seed=seed, pick="random", scenarios=np.array([1]))
        assert hold.users.tolist() == [0, 2, 3]  # user 1: single event; user 4: none
        assert (hold.scenarios == 1).all() and (hold.items % 2 == 1).all()
        kept = h.filter(hold.keep)
        assert kept.lengths().tolist() == [4, 1, 2, 3, 0]
        for u, item in zip(hold.users, hold.items, strict=True):
            assert h.indptr[u] <= item - 100 < h.indptr[u + 1]  # the user's own event
        drawn.update(hold.items.tolist())
        again = Holdout.draw(h, 10, seed=seed, pick="random", scenarios=np.array([1]))
        assert again.items.tolist() == hold.items.tolist()
    # not only the last event: every odd event of users 0, 2, 3 comes up for some seed
    assert drawn == {101, 103, 107, 109, 111}


def test_holdout_ndcg_is_one_for_a_perfect_scorer_and_lower_otherwise() -> None:
    import scipy.sparse as sp

    h = histories([3, 3])
    hold = Holdout.draw(h, 2, seed=0)
    items = {0: np.arange(100, 106), 1: np.arange(100, 106)}
    seen = sp.csr_matrix((2, 106), dtype=np.float32)

    def perfect(users: np.ndarray, s: int, cand: np.ndarray) -> np.ndarray:
        return (cand[None, :] == hold.items[np.isin(hold.users, users)][:, None]).astype(float)

    def reverse(users: np.ndarray, s: int, cand: np.ndarray) -> np.ndarray:
        return -perfect(users, s, cand)

    assert hold.ndcg(perfect, items, seen) == pytest.approx(1.0)
    assert hold.ndcg(reverse, items, seen) < 0.5
