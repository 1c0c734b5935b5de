"""The training state's online growth: appended events are read like stored ones, cost what they
add (never a rewrite of what is stored), and merge into exactly what a refit would build."""

from __future__ import annotations

import tracemalloc

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.models.batch import UserBatch
from scenerec.models.state import TrainState
from scenerec.schema import C


def _events(
    n: int, *, users: int = 50, items: int = 40, seed: int = 0, t0: int = 0
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            C.USER_ID: [f"u{u}" for u in rng.integers(0, users, n)],
            C.ITEM_ID: [f"i{i}" for i in rng.integers(0, items, n)],
            C.SCENARIO: rng.choice(["app", "web"], n).tolist(),
            C.BEHAVIOR: rng.choice(["view", "click", "purchase"], n).tolist(),
            C.TIMESTAMP: (t0 + np.arange(n) * 10).tolist(),
            C.QUERY: [f"q{q}" if q < 3 else None for q in rng.integers(0, 10, n)],
        }
    )


def _state(events: pl.DataFrame) -> TrainState:
    return TrainState.from_dataset(Dataset(events))


def test_appended_events_read_like_a_refit() -> None:
    old, new = _events(600), _events(300, users=70, items=55, seed=1, t0=10_000)
    # a late arrival: older than its user's stored events
    late = old.head(1).with_columns(pl.col(C.TIMESTAMP) - 5)
    state = _state(old)
    state.append(new)
    state.append(late)
    refit = Dataset(pl.concat([old, new, late]), vocabularies=state.vocabularies)
    assert len(state.recent) == 301
    for u in range(refit.n_users):  # per-user reads merge without compacting
        h, sl = state.user_history(u)
        r, rs = refit.histories, refit.histories.slice_of(u)
        np.testing.assert_array_equal(h.item_idx[sl], r.item_idx[rs])
        np.testing.assert_array_equal(h.timestamp[sl], r.timestamp[rs])
        np.testing.assert_array_equal(h.weight[sl], r.weight[rs])
    users = np.arange(refit.n_users)
    batch = UserBatch(users, None, state)
    np.testing.assert_array_equal(batch.lengths(), refit.histories.lengths())
    assert (batch.matrix() != refit.matrix()).nnz == 0
    assert len(state.recent) == 301  # still not compacted
    # whole-data reads compact: the same histories a refit builds (queries included)
    h = state.histories
    assert len(state.recent) == 0
    for name in ("indptr", "item_idx", "scenario_idx", "behavior_idx", "timestamp", "weight"):
        np.testing.assert_array_equal(getattr(h, name), getattr(refit.histories, name))
    assert h.queries == refit.histories.queries
    np.testing.assert_array_equal(h.query_idx, refit.histories.query_idx)
    for s in range(state.n_scenarios):
        np.testing.assert_array_equal(
            state.popularity_of(s), refit.histories.item_counts(refit.n_items, s)
        )
        np.testing.assert_array_equal(
            state.items_of_scenario(s), refit.scenario_items(refit.scenario_vocab.to_ids([s])[0])
        )


def test_append_never_rewrites_the_stored_events() -> None:
    state = _state(_events(2_000))
    base = state.base_histories
    arrays = [base.item_idx, base.timestamp]
    for i in range(20):
        state.append(_events(1, seed=100 + i, users=80, t0=50_000 + i))
    assert state.base_histories is base  # the stored histories are the same object...
    assert all(a is b for a, b in zip(arrays, [base.item_idx, base.timestamp], strict=True))
    assert len(state.recent) == 20  # ...and the new events sit beside them


def _peak_bytes_of_appends(stored: int) -> int:
    state = _state(_events(stored, users=500, items=200))
    for i in range(64):  # warm up: spare capacity of the recent rows and popularity
        state.append(_events(1, seed=i, users=600, items=200, t0=10**8 + i))
    peaks = []
    for i in range(32):
        one = _events(1, seed=1_000 + i, users=600, items=200, t0=2 * 10**8 + i)
        tracemalloc.start()
        state.append(one)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return int(np.median(peaks))


def test_cost_of_one_append_does_not_grow_with_stored_events() -> None:
    small, large = _peak_bytes_of_appends(2_000), _peak_bytes_of_appends(40_000)
    # 20x the stored events: the memory one append touches stays the same (a rewrite of the
    # stored events would allocate ~20x more; 40,000 events are ~2 MB of arrays)
    assert large < 1.5 * small + 4_096, (small, large)


def test_forget_removes_events_counts_and_id() -> None:
    events = _events(500)
    state = _state(events)
    state.append(_events(50, seed=2, t0=10_000))
    user = "u3"
    n_user = events.filter(pl.col(C.USER_ID) == user).height
    before = state.popularity_of(None).sum()
    u = state.vocabularies["users"].index(user)
    gone = state.forget(user)
    assert gone is not None and gone.n_events >= n_user
    sl = state.user_history(u)[1]
    assert sl.stop == sl.start
    assert state.popularity_of(None).sum() == before - gone.n_events
    assert user not in state.vocabularies["users"]
    assert state.vocabularies["users"].get(user) is None
    assert len(state.vocabularies["users"]) == state.n_users  # other indices stay
    assert state.forget(user) is None


def test_copy_is_independent_and_datasets_keep_their_vocabularies() -> None:
    ds = Dataset(_events(300))
    state = TrainState.from_dataset(ds)
    snap = state.copy()
    state.append(_events(5, users=90, items=70, seed=3, t0=10_000))
    assert len(ds.user_vocab) == 50 and len(snap.vocabularies["users"]) == 50
    assert state.n_users > 50 and len(snap.recent) == 0


def test_catalog_items_join_their_scenarios() -> None:
    state = _state(_events(200))
    idx = state.add_items(["new-a", "new-b", "i1"], ["web", None, "app"])
    web, app = state.scenario_index("web"), state.scenario_index("app")
    assert idx[0] in state.items_of_scenario(web) and idx[0] not in state.items_of_scenario(app)
    assert all(idx[1] in state.items_of_scenario(s) for s in (web, app))
    assert len(state.popularity_of(web)) == state.n_items


def test_vocabulary_grows_in_place_and_retires_ids() -> None:
    v = Vocabulary(["a", "b"], kind="user")
    assert v.add(["c", "a", "c"]) == 1
    assert v.to_ids([2, 0]) == ["c", "a"] and v.ids.to_list() == ["a", "b", "c"]
    assert v.retire("b") == 1 and "b" not in v and v.get("c") == 2
    with pytest.raises(Exception, match="null"):
        v.add([None])  # type: ignore[list-item]
