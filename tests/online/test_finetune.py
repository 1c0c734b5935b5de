"""Fine-tuning while serving: the swap is atomic for concurrent readers, the gate decides, a
failed refit leaves the serving model alone, drift triggers it; and the cost of one update does
not grow with the events stored."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.errors import TrainingDivergedError
from scenerec.models import RecQuery
from scenerec.models.fusion import model as fusion_model
from scenerec.online import AdaptiveRecommender, OnlineConfig
from scenerec.online import finetune as finetune_module
from scenerec.schema import C


def _online(run: Path, **fine_tune: object) -> AdaptiveRecommender:
    cfg = {"background": False, "holdout_events": 30, "min_events": 1, "train": {"epochs": 1}}
    return AdaptiveRecommender.from_run(
        run, OnlineConfig.from_dict({"fine_tune": {**cfg, **fine_tune}})
    )


def test_concurrent_readers_never_see_a_half_swapped_model(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run, tolerance=1.0)  # the gate always passes: the swap must happen
    ar.apply(split[1].head(300))
    queries = [RecQuery(user_id=u, scenario="web") for u in split[0][C.USER_ID].head(4)]
    with ar.lock:
        before = [ar.model.recommend(q, k=10) for q in queries]
    seen: list[tuple[int, int, tuple[str, ...], np.ndarray]] = []
    stop = threading.Event()
    swapped = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for i, q in enumerate(queries):
                r = ar.recommend(q, k=10)
                seen.append((r.model_version, i, r.item_ids, r.scores))
                if r.model_version == 2:
                    swapped.set()

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    result = ar.fine_tune(reason="test", wait=False)
    assert result is None  # it runs in the background
    ar.close()
    swapped.wait(timeout=30)
    stop.set()
    for t in readers:
        t.join()
    after = [ar.model.recommend(q, k=10) for q in queries]
    assert ar.version == 2 and ar.fine_tunes[-1].swapped
    assert {v for v, *_ in seen} == {1, 2}  # the readers ran across the swap
    for version, i, ids, scores in seen:
        expected = (before if version == 1 else after)[i]
        assert ids == expected.item_ids
        np.testing.assert_array_equal(scores, expected.scores)


def test_the_gate_keeps_the_serving_model_when_the_candidate_is_worse(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    ar = _online(fusion_run)
    ar.apply(split[1].head(200))
    serving = ar.model
    scores = iter([{"ndcg": 0.10, "hit": 0.2}, {"ndcg": 0.12, "hit": 0.2}])  # candidate, serving
    monkeypatch.setattr(finetune_module, "_gate", lambda *a, **k: next(scores))
    result = ar.fine_tune(reason="test")
    assert result is not None and not result.swapped and "gate" in (result.error or "")
    assert ar.model is serving and ar.version == 1


def test_a_failed_refit_leaves_the_serving_model(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    def diverge(*_a: object, **_k: object) -> None:
        # the fusion's few weights do not diverge even at absurd learning rates: make it so
        raise TrainingDivergedError("fusion: loss is nan at epoch 1, batch 1")

    monkeypatch.setattr(fusion_model, "learn_weights", diverge)
    ar = _online(fusion_run, train={"epochs": 1})
    ar.apply(split[1].head(200))
    serving = ar.model
    result = ar.fine_tune(reason="test")
    assert result is not None and not result.swapped
    assert "TrainingDivergedError" in (result.error or "")
    assert ar.model is serving and ar.version == 1
    assert len(ar.recommend(RecQuery(user_id=split[0][C.USER_ID][0], scenario="web")).item_ids)


def test_events_during_a_fine_tune_reach_the_new_model(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ar = _online(fusion_run, tolerance=1.0)
    stream = split[1]
    ar.apply(stream.head(200))
    ar.journal = []  # as a running fine-tune would have it
    late = stream.slice(200, 50)
    ar.apply(late)
    serving, candidate = ar.model, _online(fusion_run).model
    candidate.partial_fit(stream.head(200))
    assert ar.swap(candidate, serving) is None
    for user in late[C.USER_ID].unique().to_list():
        u = candidate.vocab("users").index(user)
        h, sl = candidate.train_state.user_history(u)
        hs, ss = serving.train_state.user_history(serving.vocab("users").index(user))
        np.testing.assert_array_equal(h.timestamp[sl], hs.timestamp[ss])


def test_a_drift_in_hit_rate_triggers_a_fine_tune(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    cfg = OnlineConfig.from_dict(
        {
            "fine_tune": {"background": False, "min_events": 1, "holdout_events": 20,
                          "train": {"epochs": 1}},
            "drift": {"min_samples": 30, "cooldown_events": 0},
        }
    )  # fmt: skip
    ar = AdaptiveRecommender.from_run(fusion_run, cfg)
    users = split[0][C.USER_ID].unique().sort().to_list()[:60]
    all_items = split[0][C.ITEM_ID].unique().sort().to_list()
    t = int(split[0][C.TIMESTAMP].max() or 0) + 60
    for n in range(400):
        user = users[n % len(users)]
        shown = ar.recommend(RecQuery(user_id=user, scenario="web"), k=10).item_ids
        # first every user clicks what is shown, then nothing that is shown
        item = shown[0] if n < 200 else next(i for i in all_items if i not in shown)
        ar.apply([{C.USER_ID: user, C.ITEM_ID: item, C.SCENARIO: "web", C.BEHAVIOR: "click",
                   C.TIMESTAMP: t + n}])  # fmt: skip
        if ar.fine_tunes:
            break
    drifts = ar.drift.report()["drifts"]
    assert drifts and drifts[0]["scenario"] == "web" and drifts[0]["at_event"] > 200
    assert drifts[0]["rate_now"] < drifts[0]["rate_before"]
    assert ar.fine_tunes[0].reason == "drift in 'web'"


def _apply_peak(ar: AdaptiveRecommender, event: dict[str, object]) -> int:
    tracemalloc.start()
    ar.apply([event])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_cost_of_one_fusion_update_does_not_grow_with_stored_events(
    fusion_run: Path, split: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    """The text part moves in O(dim); the factor part re-solves the user's own events in that
    scenario (one small solve), so the events stored for everyone else must not matter."""
    ar = _online(fusion_run)
    users = split[0][C.USER_ID].unique().sort().to_list()
    others = users[50:]  # the bulk goes to users the probe events never touch
    items = split[0][C.ITEM_ID].unique().sort().to_list()
    t = int(split[0][C.TIMESTAMP].max() or 0) + 60

    def event(n: int) -> dict[str, object]:
        return {C.USER_ID: users[n % 50], C.ITEM_ID: items[n % 40], C.SCENARIO: "app",
                C.BEHAVIOR: "click", C.TIMESTAMP: t + n}  # fmt: skip

    for n in range(200):  # warm up spare capacity
        ar.apply([event(n)])
    small = int(np.median([_apply_peak(ar, event(1_000 + n)) for n in range(30)]))
    stored = ar.model.train_state.histories.n_events  # compacts
    rng = np.random.default_rng(0)
    bulk = pl.DataFrame(
        {
            C.USER_ID: rng.choice(others, 10 * stored).tolist(),
            C.ITEM_ID: rng.choice(items, 10 * stored).tolist(),
            C.SCENARIO: rng.choice(["app", "web"], 10 * stored).tolist(),
            C.BEHAVIOR: "view",
            C.TIMESTAMP: np.arange(10 * stored) + t + 2_000,
        }
    )
    ar.apply(bulk)
    assert ar.model.train_state.histories.n_events > 10 * stored  # now 11x the events stored
    t += 10 * stored + 5_000
    large = int(np.median([_apply_peak(ar, event(2_000 + n)) for n in range(30)]))
    assert large < 1.5 * small + 4_096, (small, large)
