"""The CrossScenarioRanker's candidate generators: fitted models (or the text scorer) that score
a batch of users over a target scenario's items.

A generator of scope ``all`` is one model fitted on every scenario's events; one of scope
``target`` is one model per target scenario fitted on that scenario's events only. Sub-models are
saved inside the ranker's run (arrays prefixed ``g<i>.<key>.``, configs in the manifest) and share
its training state when loaded.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories
from scenerec.models.base import BaseRecommender
from scenerec.models.flagship.config import GeneratorSpec
from scenerec.models.flagship.text import ItemText
from scenerec.models.query import FitOptions
from scenerec.models.registry import ModelSpec, build_model, model_class
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray
from scenerec.text.encoder import EncoderConfig

BoolArray = npt.NDArray[np.bool_]
ALL = -1  # key of the single model of a scope-``all`` generator


@dataclass
class Generator:
    """One fitted generator: its models by target scenario (``ALL`` for scope ``all``), or the
    text scorer."""

    spec: GeneratorSpec
    models: dict[int, BaseRecommender[Any]] = field(default_factory=dict)
    text: ItemText | None = None
    seconds: float = 0.0  # wall time of its fit (or rebase) in this process

    @property
    def label(self) -> str:
        return self.spec.display

    def scores(
        self, batch: UserBatch, target: int, items: IdxArray
    ) -> tuple[FloatMatrix, BoolArray]:
        """(scores (n, m), rows without signal): those rows hold the fallback's scores for a
        model and NaN for the text scorer."""
        if self.text is not None:
            scored = np.ones(len(items), bool)
            if self.spec.new_items_only:  # only items without an event in the target
                scored = batch.train.popularity_of(None if target < 0 else target)[items] == 0
            if self.spec.params.get("match", "interest") == "nearest":
                near, silent = self.text.nearest(batch, items[scored])
                s = np.full((len(batch), len(items)), np.nan, np.float32)
                s[:, scored] = near
                return s, silent
            s = self.text.scores(batch, target, items)
            # silent: the user has no text evidence (not: the target has no new item now)
            no_text = np.isnan(s).all(axis=1) if s.shape[1] else np.zeros(len(batch), bool)
            s[:, ~scored] = np.nan
            return s, np.asarray(no_text, bool)
        model = self.models.get(ALL if self.spec.scope == "all" else target)
        if model is None:  # a target the generator has no model for (no events there)
            return np.full((len(batch), len(items)), np.nan, np.float32), np.ones(len(batch), bool)
        batch = _rebase(batch, model)
        if self.spec.window is not None:
            batch = recent_batch(batch, self.spec.window, self.spec.decay)
        return model.score_batch(batch, items)


_CACHE: dict[tuple[str, str | None, int | None, int], BaseRecommender[Any]] | None = None


@contextlib.contextmanager
def cached_generators() -> Iterator[None]:
    """Inside this block, a generator model fitted on the same data with the same spec and seed
    is reused instead of fitted again (fits are deterministic, so the result is the same): a
    hyper-parameter search over the ranker then pays for the generators once."""
    global _CACHE
    outer = _CACHE
    _CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _CACHE = outer


def refit_generators(
    fitted: list[Generator],
    state: TrainState,
    targets: list[int],
    *,
    encoder: EncoderConfig | None,
    options: FitOptions,
) -> list[Generator]:
    """The generators for serving on ``state`` (all the training events): refitted, or, for
    specs with ``refit: false``, the fitted models reading ``state``'s histories."""
    keep = [g for g in fitted if not g.spec.refit and g.models]
    redo = fit_generators(
        tuple(g.spec for g in fitted if g.spec.refit or not g.models),
        state,
        targets,
        _text_of(fitted),
        encoder=encoder,
        options=options,
    )
    for g in keep:
        t0 = time.perf_counter()
        for key, model in g.models.items():
            model.rebase(state if key == ALL else scenario_state(state, key))
        g.seconds = time.perf_counter() - t0
    by_label = {g.label: g for g in [*redo, *keep]}
    return [by_label[g.label] for g in fitted]


def _text_of(generators: list[Generator]) -> ItemText | None:
    return next((g.text for g in generators if g.text is not None), None)


def fit_generators(
    specs: tuple[GeneratorSpec, ...],
    state: TrainState,
    targets: list[int],
    text: ItemText | None,
    *,
    encoder: EncoderConfig | None,
    options: FitOptions,
) -> list[Generator]:
    """Fit every generator on ``state`` (target scope: one model per target with events)."""
    out = []
    for spec in specs:
        if spec.model == "text":
            out.append(Generator(spec, text=text))
            continue
        gen = Generator(spec)
        t0 = time.perf_counter()
        keys = [ALL] if spec.scope == "all" else targets
        for key in keys:
            data = state if key == ALL else scenario_state(state, key)
            if data.histories.n_events == 0:
                continue
            ck = (json.dumps(spec.to_dict(), sort_keys=True), data.fingerprint, options.seed, key)
            if _CACHE is not None and ck in _CACHE:
                gen.models[key] = _CACHE[ck]
                continue
            model = build_model(ModelSpec(name=spec.model, params=spec.params), encoder=encoder)
            gen.models[key] = model.fit_state(data, options=options)
            if _CACHE is not None:
                _CACHE[ck] = gen.models[key]
        gen.seconds = time.perf_counter() - t0
        out.append(gen)
    return out


def recent_batch(batch: UserBatch, window: int, decay: float) -> UserBatch:
    """The batch with each row's history cut to its newest ``window`` events (as ad-hoc
    histories), the i-th newest event's weight multiplied by ``decay ** i``."""
    adhoc = {}
    for i in range(len(batch)):
        h, sl = batch.history(i)
        start = max(sl.start, sl.stop - window)
        n = sl.stop - start
        age = np.arange(n - 1, -1, -1, dtype=np.float64)
        adhoc[i] = Histories.of_one(
            h.item_idx[start : sl.stop],
            h.scenario_idx[start : sl.stop],
            h.behavior_idx[start : sl.stop],
            h.timestamp[start : sl.stop],
            h.weight[start : sl.stop] * np.power(decay, age),
        )
    return UserBatch(np.full(len(batch), -1, np.int64), batch.scenario_idx, batch.train, adhoc)


def scenario_state(state: TrainState, scenario: int) -> TrainState:
    """``state`` restricted to one scenario's events (same vocabularies)."""
    keep = state.histories.scenario_idx == scenario
    return state.subset(keep, tag=f"scenario {scenario}")


def _rebase(batch: UserBatch, model: BaseRecommender[Any]) -> UserBatch:
    """The batch as seen by a sub-model: same rows, the sub-model's own training state (its
    users and items are the ranker's; a scoped model's histories hold only its scenario)."""
    if batch.train is model.train_state:
        return batch
    return UserBatch(batch.user_idx, batch.scenario_idx, model.train_state, batch.adhoc)


# ---------------------------------------------------------------------- persistence
def generator_arrays(generators: list[Generator]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for i, gen in enumerate(generators):
        for key, model in gen.models.items():
            out.update({f"g{i}.{key}.{k}": v for k, v in model._arrays().items()})
    return out


def generator_manifest(generators: list[Generator]) -> list[dict[str, Any]]:
    return [
        {
            "spec": gen.spec.to_dict(),
            "models": {
                str(key): {
                    "name": m.name,
                    "config": m.config.to_dict(),
                    "extra": m._manifest_extra(),
                    "fit_info": m.fit_info,
                }
                for key, m in gen.models.items()
            },
        }
        for gen in generators
    ]


def restore_generators(
    manifest: list[dict[str, Any]],
    arrays: dict[str, np.ndarray],
    state: TrainState,
    text: ItemText | None,
    options: FitOptions,
) -> list[Generator]:
    """Rebuild fitted generators from ``generator_manifest`` and ``generator_arrays``."""
    out = []
    for i, entry in enumerate(manifest):
        spec = GeneratorSpec.from_dict(entry["spec"], source="run manifest")
        gen = Generator(spec, text=text if spec.model == "text" else None)
        for key_s, m in entry["models"].items():
            key = int(key_s)
            cls = model_class(m["name"])
            model = cls(cls.config_class.from_dict(m["config"], source="run manifest"))
            model.options = options
            model._train = state if key == ALL else scenario_state(state, key)
            model.data_fingerprint = model._train.fingerprint
            model.fit_info = m.get("fit_info", {})
            model._restore_extra(m.get("extra", {}))
            prefix = f"g{i}.{key}."
            model._restore({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
            gen.models[key] = model
        out.append(gen)
    return out


__all__ = [
    "ALL",
    "Generator",
    "cached_generators",
    "fit_generators",
    "generator_arrays",
    "generator_manifest",
    "recent_batch",
    "refit_generators",
    "restore_generators",
    "scenario_state",
]
