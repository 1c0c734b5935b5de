"""Training checkpoints: model and optimizer state as safetensors plus JSON, never pickle.

A checkpoint folder holds ``last.safetensors`` (model and optimizer tensors after the latest
epoch), ``best.safetensors`` (the best epoch's model weights) and ``checkpoint.json`` (the
fingerprint of model config and data, progress counters and the optimizer's non-tensor state).
Files are replaced atomically, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from scenerec.errors import ConfigError

if TYPE_CHECKING:
    from scenerec.models.nn.trainer import TrainResult

CHECKPOINT_JSON = "checkpoint.json"
LAST = "last.safetensors"
BEST = "best.safetensors"


def save_checkpoint(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    result: TrainResult,
    bad_epochs: int,
    finished: bool,
    best_state: dict[str, torch.Tensor] | None,
) -> None:
    """Write the checkpoint after an epoch (``best_state`` only when that epoch was best)."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_to_plain(opt)
    tensors.update(opt_tensors)
    _atomic_save(tensors, path / LAST)
    if best_state is not None:
        _atomic_save(best_state, path / BEST)
    meta = {
        "fingerprint": fingerprint,
        "bad_epochs": bad_epochs,
        "finished": finished,
        "optimizer": opt_meta,
        **result.to_dict(),
    }
    tmp = path / (CHECKPOINT_JSON + ".tmp")
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, path / CHECKPOINT_JSON)


def load_checkpoint(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, fingerprint: str
) -> dict[str, Any]:
    """Restore model and optimizer from ``path``; returns the JSON metadata.

    Raises:
        ConfigError: the checkpoint belongs to another model config or data set.
    """
    meta: dict[str, Any] = json.loads((path / CHECKPOINT_JSON).read_text(encoding="utf-8"))
    if meta.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{path}: checkpoint belongs to another model config or data set "
            f"(fingerprint {meta.get('fingerprint')!r}, expected {fingerprint!r}). "
            "Fix: point train.checkpoint_dir to a new folder or set train.resume=false"
        )
    tensors = load_file(str(path / LAST))
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


__all__ = ["BEST", "CHECKPOINT_JSON", "LAST", "load_checkpoint", "save_checkpoint"]
