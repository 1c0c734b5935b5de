"""The shared torch training loop, and the torch pieces the neural models share.

``Trainer.fit`` runs any ``torch.nn.Module`` over any re-iterable data loader with a loss function
given from outside, so that Ray Train or Opacus (DP-SGD) can wrap the model, the optimizer and
the loader before training (``wrap=``). It is seeded per epoch (a resumed run repeats the batches
and dropout masks of an uninterrupted one), clips gradients, raises ``TrainingDivergedError`` with
the epoch and batch when the loss or the gradient stops being finite, stops early on a validation
metric (higher is better) and restores the best weights, stops before a time budget runs out,
writes a checkpoint after every epoch (safetensors + JSON, never pickle) and resumes from it.

Also here, because BPR, SASRec and the cross-scenario transformer all need them: ``TrainConfig``
(the ``train`` section of their configs), ``IndexBatches`` (a reproducible shuffled loader),
the leave-last-out holdout used for early stopping, windows of the last events of each user's
history, and ``CausalEncoder`` (pre-LayerNorm causal self-attention blocks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional

from scenerec.config import FrozenConfig, Settings
from scenerec.data.dataset import Histories
from scenerec.errors import ConfigError, TrainingDivergedError
from scenerec.schema import IdxArray

if TYPE_CHECKING:
    from scenerec.models.base import UserBatch

logger = logging.getLogger(__name__)

_CHECKPOINT_JSON = "checkpoint.json"
_LAST = "last.safetensors"
_BEST = "best.safetensors"


class TrainConfig(FrozenConfig):
    """How a neural model is trained (the ``train`` section of its config).

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: examples (users for sequence models, interactions for BPR) per step.
        lr: learning rate.
        weight_decay: decoupled weight decay (AdamW); 0 uses plain Adam.
        grad_clip: clip the global gradient norm to this value; ``None`` does not clip.
        valid_users: hold out one event of this many random users (drawn with the model seed)
            and rank it after every epoch; NDCG@10 on them drives early stopping. 0 trains on
            everything and disables early stopping.
        valid_pick: which event of a validation user is held out: ``last`` (the latest, which
            mirrors a chronological split) or ``random`` (one at random, which mirrors a random
            split: with ``last``, a model evaluated on a random split early-stops on the wrong
            question).
        patience: stop after this many epochs without a better validation metric.
        min_delta: an improvement smaller than this does not count.
        max_minutes: stop before starting an epoch that would end after this budget.
        checkpoint_dir: write a checkpoint here after every epoch; ``None`` writes none.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one.
        progress: show a rich progress bar (per batch) on stderr.
    """

    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=256, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip: float | None = Field(default=5.0, gt=0)
    valid_users: int = Field(default=0, ge=0)
    valid_pick: Literal["last", "random"] = "last"
    patience: int = Field(default=3, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    max_minutes: float | None = Field(default=None, gt=0)
    checkpoint_dir: Path | None = None
    resume: bool = True
    progress: bool = False


@dataclass
class TrainResult:
    """What happened during ``Trainer.fit`` (kept in the model's ``fit_info``).

    Attributes:
        epochs_run: epochs completed, including those of a resumed run.
        best_epoch: 1-based epoch whose weights were kept (the last one without validation).
        best_metric: its validation metric, or ``None`` without validation.
        stopped: ``max_epochs``, ``early_stopping`` or ``time_budget``.
        seconds: wall time of this call.
        history: one dict per epoch: ``epoch``, ``loss`` (mean), ``seconds``, and ``metric``.
    """

    epochs_run: int = 0
    best_epoch: int = 0
    best_metric: float | None = None
    stopped: str = "max_epochs"
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "stopped": self.stopped,
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


def set_torch_threads() -> int:
    """Set torch's intra-op threads from ``SCENEREC_THREADS`` (default: all cores)."""
    n = Settings.from_env().resolved_threads()
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
    """

    def __init__(
        self, config: TrainConfig, *, seed: int, fingerprint: str = "", name: str = "model"
    ) -> None:
        self.config = config
        self.seed = seed
        self.fingerprint = fingerprint
        self.name = name

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
            ConfigError: ``resume`` found a checkpoint of another model or data set.
        """
        cfg = self.config
        started = time.perf_counter()
        set_torch_threads()
        inner = model
        opt = optimizer if optimizer is not None else self.make_optimizer(model)
        if wrap is not None:
            model, opt, loader = wrap(model, opt, loader)
        result = TrainResult()
        bad_epochs = 0
        start_epoch = 0
        ckpt = cfg.checkpoint_dir
        if ckpt is not None and cfg.resume and (ckpt / _CHECKPOINT_JSON).exists():
            state = self._load_checkpoint(ckpt, inner, opt)
            result = TrainResult(
                **{
                    k: state[k]
                    for k in ("epochs_run", "best_epoch", "best_metric", "stopped", "history")
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
        if ckpt is not None and (ckpt / _BEST).exists() and result.best_epoch > 0:
            best_state = load_file(str(ckpt / _BEST))
        for epoch in range(start_epoch, cfg.epochs):
            elapsed = time.perf_counter() - started
            if cfg.max_minutes is not None and result.history:
                last = result.history[-1]["seconds"]
                if elapsed + last > cfg.max_minutes * 60.0:
                    result.stopped = "time_budget"
                    break
            t0 = time.perf_counter()
            loss = self._run_epoch(model, opt, loader, loss_fn, epoch)
            row: dict[str, float] = {"epoch": float(epoch + 1), "loss": loss}
            if validate is not None:
                inner.eval()
                with torch.no_grad():
                    metric = float(validate(inner))
                row["metric"] = metric
                best = result.best_metric
                if best is None or metric > best + cfg.min_delta:
                    result.best_metric, result.best_epoch, bad_epochs = metric, epoch + 1, 0
                    best_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
                else:
                    bad_epochs += 1
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
                f" metric {row['metric']:.4f}" if "metric" in row else "",
                row["seconds"],
            )
            stop = validate is not None and bad_epochs >= cfg.patience
            if stop:
                result.stopped = "early_stopping"
            if ckpt is not None:
                self._save_checkpoint(
                    ckpt,
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
        progress = _progress(self.config.progress, f"{self.name} epoch {epoch + 1}", loader)
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

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(
        self,
        path: Path,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        result: TrainResult,
        bad_epochs: int,
        finished: bool,
        best_state: dict[str, torch.Tensor] | None,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt_tensors, opt_meta = _optimizer_to_plain(opt)
        tensors.update(opt_tensors)
        _atomic_save(tensors, path / _LAST)
        if best_state is not None:
            _atomic_save(best_state, path / _BEST)
        meta = {
            "fingerprint": self.fingerprint,
            "bad_epochs": bad_epochs,
            "finished": finished,
            "optimizer": opt_meta,
            **result.to_dict(),
        }
        tmp = path / (_CHECKPOINT_JSON + ".tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, path / _CHECKPOINT_JSON)

    def _load_checkpoint(
        self, path: Path, model: nn.Module, opt: torch.optim.Optimizer
    ) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads((path / _CHECKPOINT_JSON).read_text(encoding="utf-8"))
        if meta.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"{path}: checkpoint belongs to another model config or data set "
                f"(fingerprint {meta.get('fingerprint')!r}, expected {self.fingerprint!r}). "
                "Fix: point train.checkpoint_dir to a new folder or set train.resume=false"
            )
        tensors = load_file(str(path / _LAST))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt.load_state_dict(_optimizer_from_plain(tensors, meta["optimizer"]))
        return meta


def _atomic_save(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def _optimizer_to_plain(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """Optimizer state as tensors (for safetensors) plus JSON metadata (no pickle)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_meta: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        meta: dict[str, Any] = {}
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                meta[k] = v
        state_meta[str(pid)] = meta
    return tensors, {"state": state_meta, "param_groups": sd["param_groups"]}


def _optimizer_from_plain(tensors: Mapping[str, torch.Tensor], meta: Any) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(m) for pid, m in meta["state"].items()}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):  # JSON turned the tuple into a list
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _progress(enabled: bool, label: str, loader: Iterable[Any]) -> Iterable[Any]:
    if not enabled:
        return loader
    from rich.progress import track

    total = len(loader) if isinstance(loader, Sized) else None
    return track(loader, description=label, total=total, transient=True)


# ---------------------------------------------------------------------- data loading
class IndexBatches:
    """Mini-batches over rows ``0..n-1``, reshuffled every epoch from (seed, epoch).

    ``collate(rows, rng)`` turns one batch of row indices (int64) into whatever the loss function
    takes; ``rng`` is a numpy Generator seeded from (seed, epoch, batch), for negative sampling.
    With ``lengths`` (e.g. sequence lengths), rows are grouped into batches of similar length:
    each epoch shuffles the rows, sorts them by length within pools of ``bucket`` batches, cuts
    the pools into batches and shuffles the batches, so padding shrinks while every epoch still
    sees different batch compositions in a random order.

    Args:
        n: number of rows.
        batch_size: rows per batch (the last batch of a pool may be smaller).
        collate: builds a batch.
        seed: shuffling seed.
        shuffle: shuffle rows every epoch.
        lengths: (n,) optional row lengths for length-bucketed batches.
        bucket: batches per sorting pool (with ``lengths``).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        collate: Callable[[IdxArray, np.random.Generator], Any],
        *,
        seed: int = 0,
        shuffle: bool = True,
        lengths: IdxArray | None = None,
        bucket: int = 50,
    ) -> None:
        if lengths is not None and len(lengths) != n:
            raise ConfigError(f"lengths has {len(lengths)} entries for {n} rows")
        self.n = n
        self.batch_size = batch_size
        self.collate = collate
        self.seed = seed
        self.shuffle = shuffle
        self.lengths = lengths
        self.bucket = bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[IdxArray]:
        rng = np.random.default_rng(epoch_seed(self.seed, self.epoch, 1))
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        size = self.batch_size
        if self.lengths is None:
            return [order[i : i + size] for i in range(0, self.n, size)]
        out: list[IdxArray] = []
        pool = size * self.bucket
        for start in range(0, self.n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        if self.shuffle:
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def __len__(self) -> int:
        if self.lengths is None:
            return (self.n + self.batch_size - 1) // self.batch_size
        pool = self.batch_size * self.bucket
        full, rest = divmod(self.n, pool)
        return full * self.bucket + (rest + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Any]:
        for b, rows in enumerate(self._batches()):
            rng = np.random.default_rng(epoch_seed(self.seed, self.epoch, b + 2))
            yield self.collate(rows.astype(np.int64), rng)


# ---------------------------------------------------------------------- histories
def filter_histories(h: Histories, keep: npt.NDArray[np.bool_]) -> Histories:
    """The same histories with only the events where ``keep`` is True (order kept)."""
    users = np.repeat(np.arange(len(h.indptr) - 1), np.diff(h.indptr))[keep]
    indptr = np.zeros(len(h.indptr), np.int64)
    np.cumsum(np.bincount(users, minlength=len(h.indptr) - 1), out=indptr[1:])
    return Histories(
        indptr=indptr,
        item_idx=h.item_idx[keep],
        scenario_idx=h.scenario_idx[keep],
        behavior_idx=h.behavior_idx[keep],
        timestamp=h.timestamp[keep],
        weight=h.weight[keep],
    )


def histories_matrix(h: Histories, n_items: int) -> sp.csr_matrix:
    """(n_users, n_items) binary float32 CSR of who interacted with what in ``h``."""
    users = np.repeat(np.arange(len(h.indptr) - 1), np.diff(h.indptr))
    m = sp.csr_matrix(
        (np.ones(len(users), np.float32), (users, h.item_idx)),
        shape=(len(h.indptr) - 1, n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def last_windows(
    indptr: IdxArray, users: IdxArray, max_len: int, fields: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], npt.NDArray[np.bool_]]:
    """The last ``max_len`` events of each user, left-padded so the newest is in the last column.

    Args:
        indptr: (n_users + 1,) CSR offsets of the event arrays.
        users: (n,) rows to take.
        max_len: window length L.
        fields: name -> (n_events,) array aligned with the offsets.

    Returns:
        ``(windows, valid)``: name -> (n, L) arrays (padding holds 0) and the (n, L) bool mask of
        real events.
    """
    users = np.asarray(users, np.int64)
    ends = indptr[users + 1]
    lens = np.minimum(ends - indptr[users], max_len)
    cols = np.arange(max_len)
    valid = cols[None, :] >= (max_len - lens)[:, None]
    src = np.where(valid, ends[:, None] - max_len + cols[None, :], 0)
    out = {}
    for name, arr in fields.items():
        w = arr[src] if len(arr) else np.zeros(src.shape, arr.dtype)
        out[name] = np.where(valid, w, 0).astype(arr.dtype, copy=False)
    return out, valid


def batch_windows(
    users: UserBatch,
    max_len: int,
    known_indptr: IdxArray,
    known_fields: Mapping[str, np.ndarray],
    fields_of: Callable[[Histories], Mapping[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], npt.NDArray[np.bool_]]:
    """``last_windows`` for a ``UserBatch``: trained users from precomputed arrays, ad-hoc rows
    from ``fields_of(their Histories)`` (a model's own per-event features, e.g. shifted ids).

    Args:
        users: the batch.
        max_len: window length L.
        known_indptr: offsets of ``known_fields`` (the model's view of the training histories).
        known_fields: name -> per-event arrays of the training histories.
        fields_of: per-event arrays of one ad-hoc ``Histories`` (same names; all the same
            length, which may be shorter than the history when the model drops events).

    Returns:
        ``(windows, valid)`` as in ``last_windows``, one row per batch row.
    """
    rows = np.maximum(users.user_idx, 0)
    out, valid = last_windows(known_indptr, rows, max_len, known_fields)
    for i in users.adhoc:
        h, _ = users.history(i)
        fields = fields_of(h)
        # fields_of may drop events (a model reading one scenario): offsets follow its output.
        n = len(next(iter(fields.values()))) if fields else 0
        indptr = np.array([0, n], np.int64)
        one, v = last_windows(indptr, np.zeros(1, np.int64), max_len, fields)
        for name in out:
            out[name][i] = one[name][0]
        valid[i] = v[0]
    return out, valid


@dataclass(frozen=True)
class Holdout:
    """One event of each of a sample of users, held out of training to drive early stopping.

    Attributes:
        keep: (n_events,) bool over the training histories; False at the held-out events.
        users: (n,) user indices.
        items: (n,) held-out item indices.
        scenarios: (n,) their scenario indices.
    """

    keep: npt.NDArray[np.bool_]
    users: IdxArray
    items: IdxArray
    scenarios: IdxArray

    @classmethod
    def none(cls, h: Histories) -> Holdout:
        z = np.zeros(0, np.int64)
        return cls(np.ones(len(h.item_idx), bool), z, z, z)

    @classmethod
    def draw(
        cls,
        h: Histories,
        n_users: int,
        *,
        seed: int,
        scenarios: IdxArray | None = None,
        min_events: int = 2,
        pick: Literal["last", "random"] = "last",
    ) -> Holdout:
        """Hold out one event of each of up to ``n_users`` users drawn at random.

        Only users with at least ``min_events`` events are drawn. ``pick="last"`` holds out a
        user's latest event, and draws only users whose latest event lies in one of
        ``scenarios`` (any, if ``None``); ``pick="random"`` holds out one of the user's events
        in ``scenarios`` drawn at random (users with none there are not drawn).
        """
        lengths = np.diff(h.indptr)
        ok = lengths >= min_events
        rng = np.random.default_rng(epoch_seed(seed, -1, 7))
        if pick == "last":
            in_scope = np.zeros(len(h.item_idx), bool)
            in_scope[np.maximum(h.indptr[1:] - 1, 0)[lengths > 0]] = True
        else:
            in_scope = np.ones(len(h.item_idx), bool)
        if scenarios is not None and len(h.scenario_idx):
            in_scope &= np.isin(h.scenario_idx, scenarios)
        cum = np.concatenate([[0], np.cumsum(in_scope)])
        counts = cum[h.indptr[1:]] - cum[h.indptr[:-1]]
        candidates = np.flatnonzero(ok & (counts > 0))
        if n_users == 0 or len(candidates) == 0:
            return cls.none(h)
        users = np.sort(rng.choice(candidates, size=min(n_users, len(candidates)), replace=False))
        scope_pos = np.flatnonzero(in_scope)  # sorted event positions, grouped by user
        first = np.searchsorted(scope_pos, h.indptr[users])
        nth = (rng.random(len(users)) * counts[users]).astype(np.int64)
        events = scope_pos[first + nth]
        keep = np.ones(len(h.item_idx), bool)
        keep[events] = False
        return cls(keep, users, h.item_idx[events], h.scenario_idx[events])

    def __len__(self) -> int:
        return len(self.users)

    def ndcg(
        self,
        score: Callable[[IdxArray, int, IdxArray], np.ndarray],
        scenario_items: Mapping[int, IdxArray],
        seen: sp.csr_matrix,
        k: int = 10,
    ) -> float:
        """Mean NDCG@k of the held-out items over full rankings of their scenario's items.

        Args:
            score: ``(users, scenario_idx, items) -> (len(users), len(items))`` scores.
            scenario_items: scenario index -> candidate item indices.
            seen: (n_users, n_items) training interactions, removed from each ranking.
            k: cut-off.
        """
        if len(self) == 0:
            return float("nan")
        total = 0.0
        for s in np.unique(self.scenarios):
            rows = np.flatnonzero(self.scenarios == s)
            items = scenario_items.get(int(s), np.zeros(0, np.int64))
            if len(items) == 0:
                continue  # nothing to rank: counts as a miss
            users = self.users[rows]
            scores = np.asarray(score(users, int(s), items), np.float32).copy()
            pos = np.searchsorted(items, self.items[rows])
            found = (pos < len(items)) & (
                items[np.minimum(pos, len(items) - 1)] == self.items[rows]
            )
            sub = seen[users][:, items].tocoo()
            scores[sub.row, sub.col] = -np.inf
            target = scores[np.arange(len(rows)), np.minimum(pos, len(items) - 1)]
            rank = (scores > target[:, None]).sum(axis=1)
            gains = np.where(found & (rank < k), 1.0 / np.log2(rank + 2.0), 0.0)
            total += float(gains.sum())
        return total / len(self)


def log_gap_buckets(timestamp: IdxArray, indptr: IdxArray, n_buckets: int) -> IdxArray:
    """Bucketised log2 time gap to the previous event of the same user (0 for the first).

    Bucket ``b`` >= 1 holds gaps in ``[2**(b-1) - 1, 2**b - 1)`` seconds (gap 0 -> bucket 1);
    gaps beyond the last bucket fall into it.
    """
    gap = np.zeros(len(timestamp), np.float64)
    if len(timestamp) > 1:
        gap[1:] = np.maximum(np.diff(timestamp), 0)
    first = indptr[:-1][np.diff(indptr) > 0]
    buckets = 1 + np.floor(np.log2(1.0 + gap)).astype(np.int64)
    buckets = np.minimum(buckets, n_buckets - 1)
    buckets[first] = 0
    return buckets


# ---------------------------------------------------------------------- torch modules
class CausalEncoder(nn.Module):
    """Pre-LayerNorm transformer blocks with causal self-attention over left-padded sequences.

    Args:
        dim: model width d.
        layers: number of blocks.
        heads: attention heads (``dim`` must divide by it).
        dropout: dropout on attention weights and residual branches.
        ffn_mult: width of the feed-forward layer, in multiples of ``dim``.
    """

    def __init__(
        self, dim: int, layers: int, heads: int, dropout: float, ffn_mult: int = 2
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.dropout = dropout
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout, ffn_mult) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Encode.

        Args:
            x: (B, L, d) float32 token embeddings.
            valid: (B, L) bool, False at padding.

        Returns:
            (B, L, d): position t summarises tokens <= t.
        """
        L = x.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        # Padding keys are hidden; each position still sees itself, so a padding row is never
        # fully masked (that would give NaN) and real rows never see padding.
        eye = torch.eye(L, dtype=torch.bool, device=x.device)
        mask = (causal[None] & valid[:, None, :]) | eye[None]
        mask = mask[:, None]  # (B, 1, L, L), broadcast over heads
        for block in self.blocks:
            x = block(x, mask)
        out: torch.Tensor = self.norm(x)
        return out


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, ffn_mult: int) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.heads, d // self.heads).unbind(2)
        att = functional.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(B, L, d)))
        out: torch.Tensor = x + self.drop(self.ffn(self.norm2(x)))
        return out


def module_arrays(module: nn.Module, prefix: str = "net.") -> dict[str, np.ndarray]:
    """A module's state dict as numpy arrays (for ``BaseRecommender._arrays``)."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_arrays(
    module: nn.Module, arrays: Mapping[str, np.ndarray], prefix: str = "net."
) -> None:
    """Inverse of ``module_arrays``."""
    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    module.load_state_dict(state)


def config_fingerprint(config: FrozenConfig, data_fingerprint: str | None) -> str:
    """Identifies a model config (without its ``train`` section) and the data, for checkpoints."""
    d = {k: v for k, v in config.to_dict().items() if k != "train"}
    raw = json.dumps(d, sort_keys=True) + str(data_fingerprint)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


__all__ = [
    "CausalEncoder",
    "Holdout",
    "IndexBatches",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "Wrapper",
    "batch_windows",
    "config_fingerprint",
    "epoch_seed",
    "filter_histories",
    "histories_matrix",
    "last_windows",
    "load_module_arrays",
    "log_gap_buckets",
    "module_arrays",
    "set_torch_threads",
]
