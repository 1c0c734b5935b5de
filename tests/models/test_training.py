"""The shared torch training loop and its helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from scenerec.data.dataset import Histories
from scenerec.errors import ConfigError
from scenerec.models.training import (
    CausalEncoder,
    Holdout,
    IndexBatches,
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    filter_histories,
    last_windows,
    log_gap_buckets,
)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny models gain nothing from threads, and on a busy 2-core machine spinning threads
    # make each step many times slower.
    monkeypatch.setenv("SCENEREC_THREADS", "1")


# A tiny linear regression: y = X w_true + noise.
_RNG = np.random.default_rng(0)
_X = torch.from_numpy(_RNG.normal(size=(256, 4)).astype(np.float32))
_W = torch.tensor([1.0, -2.0, 0.5, 3.0])
_Y = _X @ _W + 0.01 * torch.from_numpy(_RNG.normal(size=256).astype(np.float32))


def _loader(seed: int = 0) -> IndexBatches:
    def collate(rows: np.ndarray, _rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(rows)
        return _X[idx], _Y[idx]

    return IndexBatches(len(_X), 32, collate, seed=seed)


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    out: torch.Tensor = nn.functional.mse_loss(model(x).squeeze(-1), y)
    return out


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _mse_on_all(model: nn.Module) -> float:
    model.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(_X).squeeze(-1), _Y))


def test_training_lowers_the_loss_and_reports_each_epoch() -> None:
    model = _model()
    before = _mse_on_all(model)
    result = Trainer(TrainConfig(epochs=15, lr=0.02), seed=0).fit(model, _loader(), _mse)
    assert result.epochs_run == 15 and result.stopped == "max_epochs"
    assert [row["epoch"] for row in result.history] == list(range(1, 16))
    assert _mse_on_all(model) < 0.1 * before
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_same_seed_gives_identical_weights() -> None:
    a, b = _model(), _model()
    Trainer(TrainConfig(epochs=3, lr=0.02), seed=5).fit(a, _loader(), _mse)
    Trainer(TrainConfig(epochs=3, lr=0.02), seed=5).fit(b, _loader(), _mse)
    assert _same(_weights(a), _weights(b))


def test_nan_loss_raises_naming_the_epoch_and_batch() -> None:
    calls = {"n": 0}

    def loss(model: nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        out = _mse(model, batch)
        return out * float("nan") if calls["n"] == len(_loader()) + 3 else out

    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 3"):
        Trainer(TrainConfig(epochs=5), seed=0).fit(_model(), _loader(), loss)


def test_gradient_clipping_bounds_each_update() -> None:
    model = nn.Linear(4, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loader = [(_X * 100, _Y * 100)]  # a huge gradient
    Trainer(TrainConfig(epochs=1, grad_clip=0.1), seed=0).fit(model, loader, _mse, optimizer=opt)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.1, rel=1e-4)


def test_early_stopping_keeps_the_best_epoch_weights() -> None:
    metrics = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.9, 0.9])
    snapshots: list[dict[str, torch.Tensor]] = []

    def validate(model: nn.Module) -> float:
        snapshots.append(_weights(model))
        return next(metrics)

    model = _model()
    cfg = TrainConfig(epochs=7, lr=0.02, patience=3)
    result = Trainer(cfg, seed=0).fit(model, _loader(), _mse, validate=validate)
    assert result.stopped == "early_stopping"
    assert result.epochs_run == 5  # best at epoch 2, then three epochs without improvement
    assert result.best_epoch == 2 and result.best_metric == 0.5
    assert _same(_weights(model), snapshots[1])
    assert [row["metric"] for row in result.history] == [0.1, 0.5, 0.3, 0.2, 0.4]


def test_time_budget_stops_before_an_epoch_that_would_overrun() -> None:
    cfg = TrainConfig(epochs=50, max_minutes=1e-9)
    result = Trainer(cfg, seed=0).fit(_model(), _loader(), _mse)
    assert result.stopped == "time_budget" and result.epochs_run == 1


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = _model()
    Trainer(TrainConfig(epochs=5, lr=0.02), seed=1).fit(straight, _loader(), _mse)

    ckpt = tmp_path / "ckpt"
    first = _model()
    Trainer(TrainConfig(epochs=3, lr=0.02, checkpoint_dir=ckpt), seed=1, fingerprint="f").fit(
        first, _loader(), _mse
    )
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.json", "last.safetensors"]
    assert json.loads((ckpt / "checkpoint.json").read_text())["epochs_run"] == 3

    resumed = _model(seed=99)  # different initial weights: they must come from the checkpoint
    result = Trainer(
        TrainConfig(epochs=5, lr=0.02, checkpoint_dir=ckpt), seed=1, fingerprint="f"
    ).fit(resumed, _loader(), _mse)
    assert result.epochs_run == 5 and len(result.history) == 5
    assert _same(_weights(resumed), _weights(straight))


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, checkpoint_dir=tmp_path)
    Trainer(cfg, seed=0, fingerprint="model-a").fit(_model(), _loader(), _mse)
    with pytest.raises(ConfigError, match="another model config"):
        Trainer(cfg, seed=0, fingerprint="model-b").fit(_model(), _loader(), _mse)


def test_wrap_replaces_model_optimizer_and_loader() -> None:
    seen: dict[str, Any] = {}
    other_batches = [(_X[:8], _Y[:8])]

    def wrap(model: nn.Module, opt: torch.optim.Optimizer, loader: Any) -> Any:
        seen["called"] = True
        return model, opt, other_batches

    def loss(model: nn.Module, batch: Any) -> torch.Tensor:
        seen.setdefault("sizes", []).append(len(batch[0]))
        return _mse(model, batch)

    Trainer(TrainConfig(epochs=2), seed=0).fit(_model(), _loader(), loss, wrap=wrap)
    assert seen["called"] and seen["sizes"] == [8, 8]


def test_index_batches_cover_every_row_and_reshuffle_per_epoch() -> None:
    batches = IndexBatches(10, 3, lambda rows, _rng: rows, seed=0)
    epoch0 = list(batches)
    assert [len(b) for b in epoch0] == [3, 3, 3, 1]
    assert sorted(np.concatenate(epoch0).tolist()) == list(range(10))
    assert [b.tolist() for b in batches] == [b.tolist() for b in epoch0]  # same epoch, same order
    batches.set_epoch(1)
    assert np.concatenate(list(batches)).tolist() != np.concatenate(epoch0).tolist()


def _histories(lengths: list[int]) -> Histories:
    n = sum(lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ar = np.arange(n, dtype=np.int64)
    return Histories(
        indptr, ar + 100, ar % 2, np.zeros(n, np.int64), ar * 10, np.ones(n, np.float32)
    )


def test_last_windows_left_pads_and_keeps_the_newest_events() -> None:
    h = _histories([5, 0, 2])
    win, valid = last_windows(h.indptr, np.array([0, 1, 2]), 3, {"item": h.item_idx})
    assert win["item"].tolist() == [[102, 103, 104], [0, 0, 0], [0, 105, 106]]
    assert valid.tolist() == [[True] * 3, [False] * 3, [False, True, True]]


def test_holdout_takes_each_sampled_users_last_event_out_of_training() -> None:
    h = _histories([5, 1, 3, 4])
    hold = Holdout.draw(h, 10, seed=0)
    assert hold.users.tolist() == [0, 2, 3]  # user 1 has a single event: nothing would be left
    assert hold.items.tolist() == [104, 108, 112]
    kept = filter_histories(h, hold.keep)
    assert kept.lengths().tolist() == [4, 1, 2, 3]
    assert 104 not in kept.item_idx and 100 in kept.item_idx


def test_holdout_random_pick_draws_any_event_in_scope_and_is_seeded() -> None:
    # users' events: 0 -> 100..104, 1 -> 105, 2 -> 106..108, 3 -> 109..112, 4 -> none;
    # scenario of event n is n % 2
    h = _histories([5, 1, 3, 4, 0])
    drawn: set[int] = set()
    for seed in range(40):
        hold = Holdout.draw(h, 10, seed=seed, pick="random", scenarios=np.array([1]))
        assert hold.users.tolist() == [0, 2, 3]  # user 1: single event; user 4: none
        assert (hold.scenarios == 1).all() and (hold.items % 2 == 1).all()
        kept = filter_histories(h, hold.keep)
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

    h = _histories([3, 3])
    hold = Holdout.draw(h, 2, seed=0)
    items = {0: np.arange(100, 106), 1: np.arange(100, 106)}
    seen = sp.csr_matrix((2, 106), dtype=np.float32)

    def perfect(users: np.ndarray, s: int, cand: np.ndarray) -> np.ndarray:
        return (cand[None, :] == hold.items[np.isin(hold.users, users)][:, None]).astype(float)

    def reverse(users: np.ndarray, s: int, cand: np.ndarray) -> np.ndarray:
        return -perfect(users, s, cand)

    assert hold.ndcg(perfect, items, seen) == pytest.approx(1.0)
    assert hold.ndcg(reverse, items, seen) < 0.5


def test_log_gap_buckets_grow_with_the_gap_and_reset_per_user() -> None:
    ts = np.array([0, 1, 5, 1000, 50, 50], np.int64)
    indptr = np.array([0, 4, 6], np.int64)
    b = log_gap_buckets(ts, indptr, 8)
    assert b[0] == 0 and b[4] == 0  # first event of each user
    assert b[1] < b[2] < b[3] and b[3] == 7  # capped at the last bucket
    assert b[5] == 1  # zero gap


def test_causal_encoder_ignores_the_future_and_the_padding() -> None:
    torch.manual_seed(0)
    enc = CausalEncoder(dim=8, layers=2, heads=2, dropout=0.0).eval()
    x = torch.randn(1, 5, 8)
    valid = torch.ones(1, 5, dtype=torch.bool)
    out = enc(x, valid)
    changed = x.clone()
    changed[0, 4] += 10.0
    assert torch.allclose(enc(changed, valid)[0, :4], out[0, :4], atol=1e-6)
    padded = torch.cat([torch.randn(1, 3, 8), x], dim=1)
    pad_valid = torch.cat([torch.zeros(1, 3, dtype=torch.bool), valid], dim=1)
    assert torch.allclose(enc(padded, pad_valid)[0, 3:], out[0], atol=1e-5)


def test_length_buckets_group_similar_lengths_and_cover_every_row() -> None:
    lengths = np.random.default_rng(0).integers(1, 100, size=1000)
    batches = IndexBatches(1000, 10, lambda rows, _rng: rows, seed=0, lengths=lengths, bucket=20)
    got = list(batches)
    assert len(got) == len(batches)
    assert sorted(np.concatenate(got).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in got])
    assert spread < 15  # random batches of 10 would spread over ~80
    starts = [int(b[0]) for b in got]
    batches.set_epoch(1)
    assert [int(b[0]) for b in batches] != starts


def test_a_run_cut_by_the_time_budget_resumes_to_the_end(tmp_path: Path) -> None:
    cut = TrainConfig(epochs=4, max_minutes=1e-9, checkpoint_dir=tmp_path)
    first = Trainer(cut, seed=0, fingerprint="f").fit(_model(), _loader(), _mse)
    assert first.stopped == "time_budget" and first.epochs_run == 1
    rest = cut.model_copy(update={"max_minutes": None})
    second = Trainer(rest, seed=0, fingerprint="f").fit(_model(), _loader(), _mse)
    assert second.stopped == "max_epochs" and second.epochs_run == 4
