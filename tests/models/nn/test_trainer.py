"""The shared training loop: convergence, seeding, divergence, early stopping, checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from scenerec.errors import ConfigError
from scenerec.models.nn import TrainConfig, Trainer, TrainingDivergedError
from tests.models.nn.helpers import (
    X,
    Y,
    mse_loss,
    mse_on_all,
    same_weights,
    snapshot,
    tiny_loader,
    tiny_model,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from threads, and on a busy 2-core machine spinning threads
    # make each step many times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_lowers_the_loss_and_reports_each_epoch() -> None:
    model = tiny_model()
    before = mse_on_all(model)
    result = Trainer(TrainConfig(epochs=15, lr=0.02), seed=0).fit(model, tiny_loader(), mse_loss)
    assert result.epochs_run == 15 and result.stopped == "max_epochs"
    assert [row["epoch"] for row in result.history] == list(range(1, 16))
    assert mse_on_all(model) < 0.1 * before
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_same_seed_gives_identical_weights() -> None:
    a, b = tiny_model(), tiny_model()
    Trainer(TrainConfig(epochs=3, lr=0.02), seed=5).fit(a, tiny_loader(), mse_loss)
    Trainer(TrainConfig(epochs=3, lr=0.02), seed=5).fit(b, tiny_loader(), mse_loss)
    assert same_weights(snapshot(a), snapshot(b))


def test_nan_loss_raises_naming_the_epoch_and_batch() -> None:
    calls = {"n": 0}

    def loss(model: nn.Module, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        out = mse_loss(model, batch)
        return out * float("nan") if calls["n"] == len(tiny_loader()) + 3 else out

    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 3"):
        Trainer(TrainConfig(epochs=5), seed=0).fit(tiny_model(), tiny_loader(), loss)


def test_gradient_clipping_bounds_each_update() -> None:
    model = nn.Linear(4, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loader = [(X * 100, Y * 100)]  # a huge gradient
    Trainer(TrainConfig(epochs=1, grad_clip=0.1), seed=0).fit(
        model, loader, mse_loss, optimizer=opt
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.1, rel=1e-4)


def test_early_stopping_keeps_the_best_epoch_weights() -> None:
    metrics = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.9, 0.9])
    snapshots: list[dict[str, torch.Tensor]] = []

    def validate(model: nn.Module) -> float:
        snapshots.append(snapshot(model))
        return next(metrics)

    model = tiny_model()
    cfg = TrainConfig(epochs=7, lr=0.02, patience=3)
    result = Trainer(cfg, seed=0).fit(model, tiny_loader(), mse_loss, validate=validate)
    assert result.stopped == "early_stopping"
    assert result.epochs_run == 5  # best at epoch 2, then three epochs without improvement
    assert result.best_epoch == 2 and result.best_metric == 0.5
    assert same_weights(snapshot(model), snapshots[1])
    assert [row["metric"] for row in result.history] == [0.1, 0.5, 0.3, 0.2, 0.4]


def test_time_budget_stops_before_an_epoch_that_would_overrun() -> None:
    cfg = TrainConfig(epochs=50, max_minutes=1e-9)
    result = Trainer(cfg, seed=0).fit(tiny_model(), tiny_loader(), mse_loss)
    assert result.stopped == "time_budget" and result.epochs_run == 1


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = tiny_model()
    Trainer(TrainConfig(epochs=5, lr=0.02), seed=1).fit(straight, tiny_loader(), mse_loss)

    ckpt = tmp_path / "ckpt"
    first = tiny_model()
    Trainer(TrainConfig(epochs=3, lr=0.02, checkpoint_dir=ckpt), seed=1, fingerprint="f").fit(
        first, tiny_loader(), mse_loss
    )
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.json", "last.safetensors"]
    assert json.loads((ckpt / "checkpoint.json").read_text())["epochs_run"] == 3

    resumed = tiny_model(seed=99)  # different initial weights: they must come from the checkpoint
    result = Trainer(
        TrainConfig(epochs=5, lr=0.02, checkpoint_dir=ckpt), seed=1, fingerprint="f"
    ).fit(resumed, tiny_loader(), mse_loss)
    assert result.epochs_run == 5 and len(result.history) == 5
    assert same_weights(snapshot(resumed), snapshot(straight))


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, checkpoint_dir=tmp_path)
    Trainer(cfg, seed=0, fingerprint="model-a").fit(tiny_model(), tiny_loader(), mse_loss)
    with pytest.raises(ConfigError, match="another model config"):
        Trainer(cfg, seed=0, fingerprint="model-b").fit(tiny_model(), tiny_loader(), mse_loss)


def test_wrap_replaces_model_optimizer_and_loader() -> None:
    seen: dict[str, Any] = {}
    other_batches = [(X[:8], Y[:8])]

    def wrap(model: nn.Module, opt: torch.optim.Optimizer, loader: Any) -> Any:
        seen["called"] = True
        return model, opt, other_batches

    def loss(model: nn.Module, batch: Any) -> torch.Tensor:
        seen.setdefault("sizes", []).append(len(batch[0]))
        return mse_loss(model, batch)

    Trainer(TrainConfig(epochs=2), seed=0).fit(tiny_model(), tiny_loader(), loss, wrap=wrap)
    assert seen["called"] and seen["sizes"] == [8, 8]


def test_a_run_cut_by_the_time_budget_resumes_to_the_end(tmp_path: Path) -> None:
    cut = TrainConfig(epochs=4, max_minutes=1e-9, checkpoint_dir=tmp_path)
    first = Trainer(cut, seed=0, fingerprint="f").fit(tiny_model(), tiny_loader(), mse_loss)
    assert first.stopped == "time_budget" and first.epochs_run == 1
    rest = cut.model_copy(update={"max_minutes": None})
    second = Trainer(rest, seed=0, fingerprint="f").fit(tiny_model(), tiny_loader(), mse_loss)
    assert second.stopped == "max_epochs" and second.epochs_run == 4


def test_a_smoothed_criterion_does_not_stop_on_one_noisy_epoch() -> None:
    # A rising metric with one lucky epoch: patience 2 on the raw metric stops at epoch 5,
    # while the 3-epoch mean keeps improving; the best single epoch's weights are kept.
    values = [0.10, 0.30, 0.20, 0.21, 0.22, 0.31, 0.32, 0.33, 0.33, 0.33, 0.33, 0.33, 0.33]

    def run(smoothing: int) -> Any:
        metrics = iter(values)
        cfg = TrainConfig(epochs=len(values), lr=0.02, patience=2, smoothing=smoothing)
        return Trainer(cfg, seed=0).fit(
            tiny_model(), tiny_loader(), mse_loss, validate=lambda _m: next(metrics)
        )

    raw, smooth = run(1), run(3)
    assert raw.stopped == "early_stopping" and raw.epochs_run == 4
    assert "validation NDCG@10" in raw.reason and "(0.3000, epoch 2)" in raw.reason
    assert smooth.epochs_run == 12 and smooth.best_epoch == 8  # the first 0.33
    assert smooth.stopped == "early_stopping" and "3-epoch mean" in smooth.reason


def test_every_result_says_why_training_stopped() -> None:
    full = Trainer(TrainConfig(epochs=2), seed=0).fit(tiny_model(), tiny_loader(), mse_loss)
    assert full.stopped == "max_epochs" and full.reason == "ran the maximum of 2 epochs"
    cut = Trainer(TrainConfig(epochs=50, max_minutes=1e-9), seed=0).fit(
        tiny_model(), tiny_loader(), mse_loss
    )
    assert cut.stopped == "time_budget" and cut.reason.startswith("time budget")
    assert full.to_dict()["reason"] == full.reason


def test_the_learning_rate_decays_after_a_validation_plateau_and_resumes_the_same(
    tmp_path: Path,
) -> None:
    # Records at epochs 1-2, then none: with patience 2 the rate drops after epoch 4 and again
    # after epoch 6 (two epochs at the new rate, still no record); a record at epoch 7 resets.
    values = [0.1, 0.2, 0.15, 0.15, 0.18, 0.19, 0.25, 0.24, 0.24]

    def run(epochs: int, ckpt: Path | None = None, start: int = 0) -> Any:
        metrics = iter(values[start:])
        cfg = TrainConfig(
            epochs=epochs, lr=0.02, lr_decay=0.5, lr_patience=2, patience=9, checkpoint_dir=ckpt
        )
        return Trainer(cfg, seed=0, fingerprint="f").fit(
            tiny_model(), tiny_loader(), mse_loss, validate=lambda _m: next(metrics)
        )

    straight = run(len(values))
    lrs = [row["lr"] for row in straight.history]
    assert lrs == [0.02] * 4 + [0.01] * 2 + [0.005] * 3
    assert straight.best_epoch == 7

    run(5, tmp_path)  # cut after epoch 5, then resumed: the rates follow the same schedule
    resumed = run(len(values), tmp_path, start=5)
    assert [row["lr"] for row in resumed.history] == lrs


def test_the_rate_decays_on_the_smoothed_metric_so_one_lucky_epoch_does_not_starve_it() -> None:
    # A lucky epoch 4 (0.20) and then a steady climb: on the raw metric nothing beats the spike
    # until epoch 11 and the rate halves three times; the 3-epoch mean sets records again from
    # epoch 9, so it halves once.
    values = [0.10, 0.12, 0.14, 0.20, 0.15, 0.16, 0.17, 0.18, 0.19, 0.20, 0.21, 0.22]

    def rates(smoothing: int) -> list[float]:
        metrics = iter(values)
        cfg = TrainConfig(
            epochs=len(values),
            lr=0.02,
            lr_decay=0.5,
            lr_patience=2,
            patience=99,
            smoothing=smoothing,
        )
        result = Trainer(cfg, seed=0).fit(
            tiny_model(), tiny_loader(), mse_loss, validate=lambda _m: next(metrics)
        )
        return [row["lr"] for row in result.history]

    assert rates(1) == [0.02] * 6 + [0.01] * 2 + [0.005] * 2 + [0.0025] * 2
    assert rates(3) == [0.02] * 8 + [0.01] * 4


def test_a_constant_learning_rate_is_the_default() -> None:
    metrics = iter([0.3, 0.1, 0.1, 0.1, 0.1])
    result = Trainer(TrainConfig(epochs=5, lr=0.02, patience=9), seed=0).fit(
        tiny_model(), tiny_loader(), mse_loss, validate=lambda _m: next(metrics)
    )
    assert {row["lr"] for row in result.history} == {0.02}


def test_a_decay_without_validation_is_refused_with_the_fix() -> None:
    cfg = TrainConfig(epochs=2, lr_decay=0.5)
    with pytest.raises(ConfigError, match=r"train.valid_users .* or remove train.lr_decay"):
        Trainer(cfg, seed=0).fit(tiny_model(), tiny_loader(), mse_loss)
