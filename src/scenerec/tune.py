"""Hyper-parameter search with Optuna on the validation split: the same trial budget for every
model, nothing tuned on test.

``tune_model`` searches one model's space (TPE sampler, seeded): each trial merges the sampled
values into the model's params (dotted names such as ``train.lr`` set one field of a section),
fits on the train part and scores NDCG@k with full ranking on the validation events (the user's
training items excluded). ``run_tuning`` does it for every model of an experiment config and
writes the chosen parameters as a ready-to-run experiment config (``scenerec tune``).

Search spaces: ``DEFAULT_SPACES`` per model name; an experiment's ``tune.spaces`` replaces the
space of a model label.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from scenerec.config import FrozenConfig, merge_params
from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.eval.protocol import evaluate
from scenerec.models.query import FitOptions
from scenerec.models.registry import ModelSpec, build_model
from scenerec.text.encoder import EncoderConfig

log = logging.getLogger(__name__)


class Space(FrozenConfig):
    """One searched parameter.

    Attributes:
        type: ``int``, ``float`` or ``categorical``.
        low, high: the range (``int`` / ``float``).
        log: sample on a log scale.
        choices: the values (``categorical``).
    """

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Space:
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError("a categorical space needs choices")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise ConfigError(
                f"an {self.type} space needs low <= high (got {self.low}, {self.high})"
            )
        return self


def _f(low: float, high: float, log: bool = True) -> Space:
    return Space(type="float", low=low, high=high, log=log)


def _i(low: int, high: int, log: bool = False) -> Space:
    return Space(type="int", low=low, high=high, log=log)


def _c(*choices: Any) -> Space:
    return Space(type="categorical", choices=choices)


#: model name -> parameter (dotted) -> space. Ranges cover the values the literature and
#: RecBole search for each model.
DEFAULT_SPACES: dict[str, dict[str, Space]] = {
    "popularity": {"scope": _c("scenario", "global")},
    "itemknn": {"k": _i(10, 1000, log=True), "shrink": _f(0.01, 100.0), "binary": _c(True, False)},
    "ease": {"reg": _f(1.0, 10_000.0)},
    "als": {
        "factors": _c(32, 64, 128, 256),
        "regularization": _f(0.01, 100.0),
        "alpha": _f(0.1, 20.0),
        "iterations": _i(5, 30),
    },
    "cmf": {"factors": _c(32, 64, 128), "regularization": _f(0.01, 100.0), "alpha": _f(0.1, 20.0)},
    "bpr": {"factors": _c(32, 64, 128), "reg": _f(1e-6, 1e-2), "train.lr": _f(1e-4, 1e-2)},
    "emcdr": {"factors": _c(16, 32, 64), "regularization": _f(0.01, 10.0)},
    "sasrec": {
        "train.lr": _f(3e-4, 1e-2),
        "dropout": _f(0.05, 0.5, log=False),
        "max_len": _c(50, 100, 200),
    },
    "cross_scenario_transformer": {
        "train.lr": _f(3e-4, 1e-2),
        "dropout": _f(0.05, 0.5, log=False),
        "id_dropout": _f(0.0, 0.6, log=False),
    },
    # ScenarioFusion: its base factor model (the vectors it fuses) and the weights' step size
    "fusion": {
        "base.factors": _c(32, 64, 128, 256),
        "base.regularization": _f(0.01, 100.0),
        "base.alpha": _f(0.1, 20.0),
        "train.lr": _f(0.005, 0.2),
    },
    "cross_scenario_ranker": {
        "ranker.learning_rate": _f(0.01, 0.2),
        "ranker.num_leaves": _i(7, 127, log=True),
        "ranker.min_child_samples": _i(10, 400, log=True),
        "ranker.colsample_bytree": _f(0.4, 1.0, log=False),
    },
}


class TuneSpec(FrozenConfig):
    """The ``tune:`` section of an experiment config.

    Attributes:
        trials: trials per model (the same budget for every model).
        k: the cut-off of the NDCG that is maximised.
        seed: the sampler's seed.
        spaces: model label -> parameter -> space, replacing that model's default space.
    """

    trials: int = Field(default=20, ge=1)
    k: int = Field(default=10, ge=1)
    seed: int = 0
    spaces: dict[str, dict[str, Space]] = Field(default_factory=dict)


@dataclass
class TuneResult:
    """One model's search: its best params (the merged config params) and every trial."""

    label: str
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "best_params": self.best_params,
            "best_value": self.best_value,
            "trials": self.trials,
            "seconds": round(self.seconds, 1),
        }


def space_of(spec: ModelSpec, spaces: dict[str, dict[str, Space]]) -> dict[str, Space]:
    """The space searched for ``spec``: its label's entry in ``spaces``, else the default."""
    if spec.display in spaces:
        return spaces[spec.display]
    if spec.name not in DEFAULT_SPACES:
        raise ConfigError(
            f"no search space for model {spec.name!r}; give one under tune.spaces.{spec.display}"
        )
    return DEFAULT_SPACES[spec.name]


def tune_model(
    spec: ModelSpec,
    train: Dataset,
    valid: pl.DataFrame,
    *,
    trials: int,
    space: dict[str, Space],
    k: int = 10,
    seed: int = 0,
    encoder: EncoderConfig | None = None,
    options: FitOptions | None = None,
    scenarios: Sequence[str] | None = None,
    on_trial: Callable[[int, float, dict[str, Any]], None] | None = None,
) -> TuneResult:
    """Search ``space`` for ``spec`` with ``trials`` Optuna trials on ``valid``.

    Args:
        spec: the model and its base params (the searched values are merged into them).
        train: what every trial fits on.
        valid: validation events (never the test events).
        trials: the budget.
        space: parameter -> space.
        k: NDCG cut-off.
        seed: sampler seed.
        encoder: the experiment-wide language model (see ``build_model``).
        options: fit options.
        scenarios: target scenarios (default: those in ``valid``); the objective is the mean
            NDCG@k over them.
        on_trial: called with (trial number, value, params) after each trial.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    targets = list(scenarios) if scenarios else sorted(valid["scenario"].unique().to_list())
    started = time.perf_counter()
    records: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        sampled = {name: _suggest(trial, name, s) for name, s in space.items()}
        params = merge_params(spec.params, sampled)
        model = build_model(
            ModelSpec(name=spec.name, label=spec.label, params=params), encoder=encoder
        )
        t0 = time.perf_counter()
        model.fit(train, options=options)
        res = evaluate(model, valid, train=train, ks=(k,), scenarios=targets, beyond_accuracy=False)
        value = sum(res.scenarios[t].mean()[f"ndcg@{k}"] for t in targets) / len(targets)
        records.append(
            {
                "trial": trial.number,
                "value": value,
                "params": sampled,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        if on_trial is not None:
            on_trial(trial.number, value, sampled)
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    best = merge_params(spec.params, study.best_trial.params)
    return TuneResult(
        label=spec.display,
        best_params=best,
        best_value=float(study.best_value),
        trials=records,
        seconds=time.perf_counter() - started,
    )


def _suggest(trial: Any, name: str, s: Space) -> Any:
    if s.type == "categorical":
        return trial.suggest_categorical(name, list(s.choices or ()))
    if s.type == "int":
        return trial.suggest_int(name, int(s.low or 0), int(s.high or 0), log=s.log)
    return trial.suggest_float(name, float(s.low or 0.0), float(s.high or 0.0), log=s.log)


def write_results(results: list[TuneResult], config: dict[str, Any], out: Path) -> Path:
    """``out/tune.json`` (every trial) and ``out/tuned.yaml`` (the config with the chosen
    params, ready for ``scenerec experiment``); returns the YAML path."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(
        json.dumps([r.to_dict() for r in results], indent=2, default=str), encoding="utf-8"
    )
    chosen = {r.label: r.best_params for r in results}
    tuned = dict(config)
    tuned["models"] = [
        {**m, "params": chosen.get(m.get("label") or m["name"], m.get("params", {}))}
        for m in config.get("models", [])
    ]
    tuned.pop("tune", None)
    path = out / "tuned.yaml"
    path.write_text(yaml.safe_dump(tuned, sort_keys=False), encoding="utf-8")
    return path


__all__ = [
    "DEFAULT_SPACES",
    "Space",
    "TuneResult",
    "TuneSpec",
    "space_of",
    "tune_model",
    "write_results",
]
