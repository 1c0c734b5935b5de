"""The shared torch training loop.

``Trainer.fit`` runs any ``torch.nn.Module`` over any re-iterable data loader with a loss function
given from outside, so that Ray Train or Opacus (DP-SGD) can wrap the model, the optimizer and
the loader before training (``wrap=``). It is seeded per epoch (a resumed run repeats the batches
and dropout masks of an uninterrupted one), clips gradients, raises ``TrainingDivergedError`` with
the epoch and batch when the loss or the gradient stops being finite, stops early on a validation
metric (higher is better) and restores the best weights, stops before a time budget runs out,
writes a checkpoint after every epoch (``nn.checkpoint``: safetensors + JSON, never pickle) and
resumes from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import torch
from pydantic import Field
from safetensors.torch import load_file
from torch import nn

from scenerec.config import FrozenConfig
from scenerec.errors import ConfigError, TrainingDivergedError
from scenerec.models.nn.checkpoint import BEST, CHECKPOINT_JSON, load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)


class TrainConfig(FrozenConfig):
    """How a neural model is trained (the ``train`` section of its config).

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: examples (users for sequence models, interactions for BPR) per step.
        lr: learning rate.
        weight_decay: decoupled weight decay (AdamW); 0 uses plain Adam.
        grad_clip: clip the global gradient norm to this value; ``None`` does not clip.
        valid_users: hold out one event of this many random users (drawn with the model seed),
            or of every user (``"all"``), and rank it after every epoch; NDCG@10 on them drives
            early stopping. 0 trains on everything and disables early stopping. A few hundred
            users give a metric whose epoch-to-epoch noise exceeds the gains late in training:
            use thousands, or all.
        valid_pick: which event of a validation user is held out: ``last`` (the latest, which
            mirrors a chronological split) or ``random`` (one at random, which mirrors a random
            split: with ``last``, a model evaluated on a random split early-stops on the wrong
            question).
        patience: stop after this many epochs without a better (smoothed) validation metric.
        min_delta: an improvement smaller than this does not count.
        smoothing: early stopping watches the mean metric of the last this many epochs, so one
            lucky or unlucky epoch neither stops training nor resets the patience; the weights
            kept are still those of the epoch with the best single metric.
        lr_decay: multiply the learning rate by this factor when the validation metric (the
            ``smoothing``-epoch mean, as for early stopping) has set no record for
            ``lr_patience`` epochs (counted again from each decay): a noisy
            plateau at a high rate often hides gains a lower rate finds. ``None`` keeps it
            constant. Needs validation; each epoch's rate is in the history.
        lr_patience: epochs without a record before the rate decays.
        max_minutes: stop before starting an epoch that would end after this budget.
        checkpoint_dir: write a checkpoint here after every epoch; ``None`` writes none.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one.
    """

    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=256, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip: float | None = Field(default=5.0, gt=0)
    valid_users: Annotated[int, Field(ge=0)] | Literal["all"] = 0
    valid_pick: Literal["last", "random"] = "last"
    patience: int = Field(default=3, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    smoothing: int = Field(default=1, ge=1)
    lr_decay: float | None = Field(default=None, gt=0, lt=1)
    lr_patience: int = Field(default=2, ge=1)
    max_minutes: float | None = Field(default=None, gt=0)
    checkpoint_dir: Path | None = None
    resume: bool = True


@dataclass
class TrainResult:
    """What happened during ``Trainer.fit`` (kept in the model's ``fit_info``).

    Attributes:
        epochs_run: epochs completed, including those of a resumed run.
        best_epoch: 1-based epoch whose weights were kept (the last one without validation).
        best_metric: its validation metric, or ``None`` without validation.
        stopped: ``max_epochs``, ``early_stopping`` or ``time_budget``.
        reason: why training stopped, in words (with the numbers behind it).
        seconds: wall time of this call.
        history: one dict per epoch: ``epoch``, ``loss`` (mean), ``seconds``, ``lr`` (the
            learning rate it ran at), and ``metric``.
    """

    epochs_run: int = 0
    best_epoch: int = 0
    best_metric: float | None = None
    stopped: str = "max_epochs"
    reason: str = ""
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "stopped": self.stopped,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "history": self.history,
        }


class Wrapper(Protocol):
    """Wraps model, optimizer and loader before training (e.g. Opacus ``make_private``)."""

    def __call__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable[Any]
    ) -> tuple[nn.Module, torch.optim.Optimizer, Iterable[Any]]: ...


LossFn = Callable[[nn.Module, Any], torch.Tensor]
ValidateFn = Callable[[nn.Module], float]


def set_torch_threads(n: int) -> int:
    """Set torch's intra-op threads to ``n`` (a model's ``options.resolved_threads()``)."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for one epoch (and one random stream), stable across runs and resumes."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class Trainer:
    """Runs the training loop described in the module docstring.

    Args:
        config: the ``train`` section of the model config.
        seed: the model seed; every epoch reseeds torch from (seed, epoch).
        fingerprint: identifies model config and data; a checkpoint written under another
            fingerprint is refused on resume.
        name: used in log lines and error messages.
        threads: torch intra-op threads while training (``None`` leaves torch's setting).
        progress: show a progress bar per epoch on stderr.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        seed: int,
        fingerprint: str = "",
        name: str = "model",
        threads: int | None = None,
        progress: bool = False,
        metric_name: str = "NDCG@10",
    ) -> None:
        self.config = config
        self.metric_name = metric_name  # what ``validate`` returns, for the epoch lines
        self.seed = seed
        self.fingerprint = fingerprint
        self.name = name
        self.threads = threads
        self.progress = progress

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """Adam, or AdamW when ``weight_decay`` > 0."""
        params = [p for p in model.parameters() if p.requires_grad]
        if self.config.weight_decay > 0:
            return torch.optim.AdamW(
                params, lr=self.config.lr, weight_decay=self.config.weight_decay
            )
        return torch.optim.Adam(params, lr=self.config.lr)

    def fit(
        self,
        model: nn.Module,
        loader: Iterable[Any],
        loss_fn: LossFn,
        *,
        validate: ValidateFn | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        wrap: Wrapper | None = None,
    ) -> TrainResult:
        """Train ``model`` in place; on return it holds the best (or last) weights.

        Args:
            model: the module to train (its parameters are updated in place).
            loader: re-iterable batches; if it has ``set_epoch(epoch)`` it is called first in
                every epoch (as with ``DistributedSampler``), so shuffling can be reproducible.
            loss_fn: ``(model, batch) -> scalar loss`` (mean over the batch).
            validate: ``model -> metric`` (higher is better), run after every epoch in eval
                mode without gradients; enables early stopping and best-weight restoring.
            optimizer: default ``make_optimizer(model)``.
            wrap: called once with (model, optimizer, loader) and returns replacements
                (DP-SGD, distributed data parallel); the loop then uses the returned objects.

        Returns:
            TrainResult.

        Raises:
            TrainingDivergedError: loss or gradient norm not finite (names epoch and batch).
            ConfigError: ``resume`` found a checkpoint of another model or data set, or
                ``lr_decay`` is set without ``validate``.
        """
        cfg = self.config
        if cfg.lr_decay is not None and validate is None:
            raise ConfigError(
                f"{self.name}: train.lr_decay ({cfg.lr_decay}) decays on a validation plateau, "
                "but this fit has no validation. Fix: set train.valid_users (e.g. 1000 or "
                "'all'), or remove train.lr_decay"
            )
        started = time.perf_counter()
        if self.threads is not None:
            set_torch_threads(self.threads)
        inner = model
        opt = optimizer if optimizer is not None else self.make_optimizer(model)
        if wrap is not None:
            model, opt, loader = wrap(model, opt, loader)
        result = TrainResult()
        bad_epochs = 0
        start_epoch = 0
        ckpt = cfg.checkpoint_dir
        if ckpt is not None and cfg.resume and (ckpt / CHECKPOINT_JSON).exists():
            state = load_checkpoint(ckpt, inner, opt, self.fingerprint)
            result = TrainResult(
                **{
                    k: state[k]
                    for k in (
                        "epochs_run",
                        "best_epoch",
                        "best_metric",
                        "stopped",
                        "reason",
                        "history",
                    )
                    if k in state
                }
            )
            bad_epochs = int(state["bad_epochs"])
            start_epoch = result.epochs_run
            if state["finished"]:
                start_epoch = cfg.epochs
            else:  # a run cut by the time budget (or max epochs) goes on
                result.stopped = "max_epochs"
            logger.info("%s: resumed from %s after epoch %d", self.name, ckpt, start_epoch)
        best_state: dict[str, torch.Tensor] | None = None
        if ckpt is not None and (ckpt / BEST).exists() and result.best_epoch > 0:
            best_state = load_file(str(ckpt / BEST))
        for epoch in range(start_epoch, cfg.epochs):
            elapsed = time.perf_counter() - started
            if cfg.max_minutes is not None and result.history:
                last = result.history[-1]["seconds"]
                if elapsed + last > cfg.max_minutes * 60.0:
                    result.stopped = "time_budget"
                    result.reason = (
                        f"time budget: after {elapsed:.0f} s another epoch (~{last:.0f} s) "
                        f"would pass {cfg.max_minutes:g} min"
                    )
                    break
            t0 = time.perf_counter()
            lr = float(opt.param_groups[0]["lr"])
            loss = self._run_epoch(model, opt, loader, loss_fn, epoch)
            row: dict[str, float] = {"epoch": float(epoch + 1), "loss": loss, "lr": lr}
            if validate is not None:
                inner.eval()
                with torch.no_grad():
                    metric = float(validate(inner))
                row["metric"] = metric
                best = result.best_metric
                if best is None or metric > best:
                    result.best_metric, result.best_epoch = metric, epoch + 1
                    best_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
            else:
                result.best_epoch = epoch + 1
            row["seconds"] = time.perf_counter() - t0
            result.history.append(row)
            result.epochs_run = epoch + 1
            logger.info(
                "%s: epoch %d/%d loss %.4f%s (%.1fs)",
                self.name,
                epoch + 1,
                cfg.epochs,
                loss,
                (
                    ""
                    if "metric" not in row
                    else f" metric {row['metric']:.4f}"
                    if self.metric_name == "NDCG@10"
                    else f" metric[{self.metric_name}] {row['metric']:.4f}"
                ),
                row["seconds"],
            )
            if cfg.lr_decay is not None and _plateau(result.history, cfg):  # validated above
                for group in opt.param_groups:
                    group["lr"] = float(group["lr"]) * cfg.lr_decay
                logger.info("%s: learning rate %.3g -> %.3g", self.name, lr, lr * cfg.lr_decay)
            stop = False
            if validate is not None:
                bad_epochs, reason = _patience_used(result.history, cfg, self.metric_name)
                stop = bad_epochs >= cfg.patience
                if stop:
                    result.stopped, result.reason = "early_stopping", reason
            if not stop and epoch + 1 == cfg.epochs:
                result.reason = f"ran the maximum of {cfg.epochs} epochs"
            if ckpt is not None:
                save_checkpoint(
                    ckpt,
                    self.fingerprint,
                    inner,
                    opt,
                    result,
                    bad_epochs,
                    stop,  # only early stopping is final: more epochs may resume a full run
                    best_state if result.best_epoch == epoch + 1 else None,
                )
            if stop:
                break
        if validate is not None and best_state is not None:
            inner.load_state_dict(best_state)
        inner.eval()
        result.seconds = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        loader: Iterable[Any],
        loss_fn: LossFn,
        epoch: int,
    ) -> float:
        # Reseeding from (seed, epoch) makes a resumed epoch identical to an uninterrupted one.
        torch.manual_seed(epoch_seed(self.seed, epoch))
        set_epoch = getattr(loader, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        model.train()
        total, count = 0.0, 0
        progress = _progress(self.progress, f"{self.name} epoch {epoch + 1}", loader)
        for b, batch in enumerate(progress):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"{self.name}: loss is {value} at epoch {epoch + 1}, batch {b + 1}. Fix: lower "
                    f"train.lr (now {self.config.lr}) or set train.grad_clip"
                )
            loss.backward()  # type: ignore[no-untyped-call]
            if self.config.grad_clip is not None:
                norm = float(nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip))
                if not math.isfinite(norm):
                    raise TrainingDivergedError(
                        f"{self.name}: gradient norm is {norm} at epoch {epoch + 1}, batch "
                        f"{b + 1}. Fix: lower train.lr (now {self.config.lr})"
                    )
            opt.step()
            total += value
            count += 1
        return total / max(count, 1)


def _record(history: list[dict[str, float]], cfg: TrainConfig) -> tuple[float, int]:
    """The best ``smoothing``-epoch mean validation metric and the 0-based epoch that set it,
    where a record must beat the one before by more than ``min_delta``."""
    metrics, k = [row["metric"] for row in history], cfg.smoothing
    best, best_at = -math.inf, 0
    for t in range(len(metrics)):
        smooth = sum(metrics[max(0, t - k + 1) : t + 1]) / min(k, t + 1)
        if t == 0 or smooth > best + cfg.min_delta:
            best, best_at = smooth, t
    return best, best_at


def _patience_used(
    history: list[dict[str, float]], cfg: TrainConfig, metric: str = "NDCG@10"
) -> tuple[int, str]:
    """Epochs since the smoothed validation metric last set a record (by more than
    ``min_delta``), and the early-stopping reason in words."""
    best, best_at = _record(history, cfg)
    used = len(history) - 1 - best_at
    k = cfg.smoothing
    what = f"validation {metric}" if k == 1 else f"{k}-epoch mean validation {metric}"
    return used, (
        f"early stopping: the {what} has not beaten its best ({best:.4f}, epoch {best_at + 1}) "
        f"for {used} epochs"
    )


def _plateau(history: list[dict[str, float]], cfg: TrainConfig) -> bool:
    """Whether the smoothed validation metric (the one early stopping watches) has set no
    record for ``lr_patience`` epochs, counted from the record or from the last decay,
    whichever is later (read off the history, so a resumed run decays where an uninterrupted
    one would). Watching the smoothed metric matters: on the raw one a single lucky epoch is a
    record nothing beats for long, and the rate then halves every ``lr_patience`` epochs to
    nothing while the model could still learn."""
    _, best_at = _record(history, cfg)
    decayed_at = max(
        (t - 1 for t in range(1, len(history)) if history[t].get("lr") != history[t - 1].get("lr")),
        default=-1,
    )
    return len(history) - 1 - max(best_at, decayed_at) >= cfg.lr_patience


def _progress(enabled: bool, label: str, loader: Iterable[Any]) -> Iterable[Any]:
    if not enabled:
        return loader
    from rich.progress import track

    total = len(loader) if isinstance(loader, Sized) else None
    return track(loader, description=label, total=total, transient=True)


def config_fingerprint(config: FrozenConfig, data_fingerprint: str | None) -> str:
    """Identifies a model config (without its ``train`` section) and the data, for checkpoints."""
    d = {k: v for k, v in config.to_dict().items() if k != "train"}
    raw = json.dumps(d, sort_keys=True) + str(data_fingerprint)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


__all__ = [
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "ValidateFn",
    "Wrapper",
    "config_fingerprint",
    "epoch_seed",
    "set_torch_threads",
]
