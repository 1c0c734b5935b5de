"""The recommender interface and the base class that every model shares.

A model implements ``_fit(data)`` and ``_score(users, items)`` on dense indices only. The base
class does the rest once: id mapping, seen-item filtering, candidate restriction, exclusion,
routing of users the model has no signal for to the fallback (popularity in the target
scenario), top-k selection, the ``Ranked`` output, and the run directory (``save`` / ``load``)
without pickle. ``recommend`` (one query) and ``rank_users`` / ``score_users`` (many known users,
used by evaluation) go through the same scoring and ranking path.

Conventions for ``_score``: return float32 ``(len(users), len(items))``, higher is better; a row
of NaN means "no signal for this user" and is routed to the fallback like a user without
history; other non-finite entries rank last.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from scenerec import __version__
from scenerec.config import FrozenConfig
from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.errors import ConfigError, NotFittedError, SchemaError, UnknownEntityError
from scenerec.models.explain import Explanation, cooccurrence_because
from scenerec.models.query import FitOptions, Ranked, RecQuery
from scenerec.models.runs import read_manifest, seal, verify_run
from scenerec.models.state import TrainState, UserBatch, VocabKind
from scenerec.models.topk import topk
from scenerec.schema import SCHEMA_VERSION, FloatMatrix, IdxArray

BoolArray = npt.NDArray[np.bool_]


class ModelConfig(FrozenConfig):
    """Base of every model config."""

    seed: int = 0


ConfigT = TypeVar("ConfigT", bound=ModelConfig)


@runtime_checkable
class Recommender(Protocol):
    """What every model offers. See ``BaseRecommender`` for the shared implementation."""

    def fit(self, dataset: Dataset, *, options: FitOptions | None = None) -> Self: ...
    def recommend(self, query: RecQuery, *, k: int = 10) -> Ranked: ...
    def save(self, path: str | Path) -> Path: ...


class BaseRecommender(Generic[ConfigT]):
    """Shared machinery; subclasses set ``config_class`` and implement ``_fit`` / ``_score``.

    Subclasses that keep learned arrays implement ``_arrays()`` (name -> ndarray to save) and
    ``_restore(arrays)`` (the inverse), so runs load without executing code.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: Registry name, used in manifests and YAML configs.
    name: ClassVar[str] = "base"

    def __init__(self, config: ConfigT | None = None) -> None:
        if config is None:
            config = self.config_class()  # type: ignore[assignment]
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config: ConfigT = config
        self.options = FitOptions()
        self._train: TrainState | None = None
        self.data_fingerprint: str | None = None
        self.fit_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ to implement
    def _fit(self, data: TrainState) -> None:
        raise NotImplementedError

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        """Scores ``(len(users), len(items))`` float32; higher is better (see the module)."""
        raise NotImplementedError

    def _has_signal(self, users: UserBatch) -> BoolArray:
        """Rows the model can personalise; the rest get the fallback. Default: any history.
        Models that read only part of a history (one scenario) narrow it."""
        out: BoolArray = users.lengths() > 0
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        return None

    def _manifest_extra(self) -> dict[str, Any]:
        return {}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        return None

    # ------------------------------------------------------------------ fitting
    @property
    def seed(self) -> int:
        """The seed of the current fit: ``options.seed`` when given, else ``config.seed``."""
        return self.config.seed if self.options.seed is None else self.options.seed

    @property
    def is_fitted(self) -> bool:
        return self._train is not None

    @property
    def train_state(self) -> TrainState:
        """What the model kept of its training data (see ``TrainState``)."""
        if self._train is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load()")
        return self._train

    def fit(self, dataset: Dataset, *, options: FitOptions | None = None) -> Self:
        """Learn from ``dataset`` (the train part only; never the test events).

        Args:
            dataset: the training data.
            options: threads, seed override, progress display (defaults: all cores, the
                config's seed, no progress).
        """
        if dataset.n_events == 0:
            raise SchemaError(f"cannot fit {type(self).__name__} on an empty dataset")
        self.fit_state(TrainState.from_dataset(dataset), options=options)
        self.train_state.catalog = None  # what the model needs of it, it has kept
        return self

    def fit_state(self, state: TrainState, *, options: FitOptions | None = None) -> Self:
        """Learn from a ``TrainState`` directly (models built from other models fit their
        parts this way, on subsets of their own training state; see ``TrainState.subset``)."""
        if state.histories.n_events == 0:
            raise SchemaError(f"cannot fit {type(self).__name__} on an empty dataset")
        self.options = options or FitOptions()
        self._train = state
        self.data_fingerprint = state.fingerprint
        self.fit_info = {}
        self._fit(state)
        self.fit_info["seed"] = self.seed
        return self

    def rebase(self, state: TrainState) -> Self:
        """Score from now on with ``state``'s histories, keeping what was learned.

        ``state`` must have the same users, items and scenarios (e.g. the full training data
        after a fit on part of it); models that keep per-user state refresh it
        (``_on_rebase``). Cheaper than a refit when only the histories grew a little.
        """
        own = self.train_state
        if any(len(state.vocabularies[k]) != len(own.vocabularies[k]) for k in own.vocabularies):
            raise ConfigError(
                f"{type(self).__name__}.rebase: the new state has other users, items or "
                "scenarios; refit instead"
            )
        self._train = state
        self._on_rebase()
        return self

    def _on_rebase(self) -> None:
        """Refresh per-user state after ``rebase`` (models that read histories need nothing)."""
        return None

    # ------------------------------------------------------------------ lookups
    def vocab(self, kind: VocabKind) -> Vocabulary:
        return self.train_state.vocabularies[kind]

    def scenario_idx(self, scenario: str | None) -> int | None:
        return None if scenario is None else self.train_state.scenario_index(scenario)

    def items_of_scenario(self, scenario: str | None) -> IdxArray:
        """Sorted item indices a scenario's rankings draw from (every item for ``None``)."""
        return self.train_state.items_of_scenario(self.scenario_idx(scenario))

    # ------------------------------------------------------------------ scoring and ranking
    def score_users(
        self, user_idx: IdxArray, *, scenario: str | None = None, items: IdxArray | None = None
    ) -> FloatMatrix:
        """Scores of known users over ``items`` (default: the scenario's items); users the
        model has no signal for get the fallback's scores."""
        s = self.scenario_idx(scenario)
        cand = self.train_state.items_of_scenario(s) if items is None else np.asarray(items)
        batch = UserBatch(np.asarray(user_idx, np.int64), s, self.train_state)
        return self._routed_scores(batch, cand)[0]

    def score_batch(self, batch: UserBatch, items: IdxArray) -> tuple[FloatMatrix, BoolArray]:
        """Scores of a ``UserBatch`` (known users and ad-hoc histories) over ``items``, with
        rows the model has no signal for answered by the fallback; returns the scores and the
        (len(batch),) mask of those fallback rows."""
        return self._routed_scores(batch, np.asarray(items, np.int64))

    def rank_users(
        self,
        user_idx: IdxArray,
        *,
        scenario: str | None,
        k: int,
        exclude: sp.csr_matrix | None = None,
        items: IdxArray | None = None,
        batch_size: int = 1024,
    ) -> tuple[IdxArray, FloatMatrix]:
        """Vectorised top-k for many known users (used by evaluation).

        Args:
            user_idx: (n,) dense user indices.
            scenario: target scenario; candidates are its items unless ``items`` is given.
            k: list length.
            exclude: optional (n_users_total, n_items) matrix; nonzero entries are removed.
            items: candidate item indices.
            batch_size: users scored at once.

        Returns:
            ``(top_items (n, k) int64, top_scores (n, k) float32)``; rows with fewer than k
            candidates are padded with -1 and -inf.
        """
        s = self.scenario_idx(scenario)
        cand = self.train_state.items_of_scenario(s) if items is None else np.asarray(items)
        users = np.asarray(user_idx, np.int64)
        out_i = np.full((len(users), k), -1, np.int64)
        out_s = np.full((len(users), k), -np.inf, np.float32)
        for start in range(0, len(users), batch_size):
            ub = users[start : start + batch_size]
            mask = None if exclude is None else exclude[ub][:, cand]
            top, top_s, _ = self._rank(UserBatch(ub, s, self.train_state), cand, k, mask)
            out_i[start : start + len(ub)] = top
            out_s[start : start + len(ub)] = top_s
        return out_i, out_s

    def recommend(self, query: RecQuery, *, k: int = 10) -> Ranked:
        """Top-k item ids for one query; see ``RecQuery``."""
        if k < 1:
            raise ConfigError(f"k must be >= 1 (got {k})")
        s = self.scenario_idx(query.scenario)
        cand = self._candidates(query, s)
        batch = self._batch_for(query, s)
        mask = np.zeros(len(cand), bool)
        if query.exclude:
            items_v = self.vocab("items")
            ex = {items_v.get(i) for i in query.exclude} - {None}
            mask |= np.isin(cand, np.fromiter(ex, np.int64, len(ex)))
        if query.exclude_seen:
            h, sl = batch.history(0)
            mask |= np.isin(cand, h.item_idx[sl])
        top, top_s, fallback = self._rank(batch, cand, k, sp.csr_matrix(mask[None, :]))
        keep = top[0] >= 0
        ids = self.vocab("items").to_ids(top[0][keep])
        return Ranked(tuple(ids), top_s[0][keep], fallback=bool(fallback[0]))

    def explain(
        self, query: RecQuery, item_ids: Sequence[str], *, top: int = 3
    ) -> list[Explanation]:
        """Why each of ``item_ids`` is recommended for ``query``: the model part behind its
        score and the user's past items (with their scenario) that support it."""
        s = self.scenario_idx(query.scenario)
        batch = self._batch_for(query, s)
        items_v = self.vocab("items")
        items = np.array([items_v.index(i) for i in item_ids], np.int64)
        h, sl = batch.history(0)
        because = cooccurrence_because(self.train_state, h, sl, items, top)
        if not self._has_signal(batch)[0]:
            parts = [{"popularity fallback": 1.0} for _ in items]
        else:
            parts = self._contributions(batch, items)
        return [
            Explanation(iid, max(p, key=lambda k: p[k]), p, b)
            for iid, p, b in zip(item_ids, parts, because, strict=True)
        ]

    def _contributions(self, batch: UserBatch, items: IdxArray) -> list[dict[str, float]]:
        """Which parts of the model drove each item's score for the one user of ``batch``
        (``explain`` asks one query at a time), as shares; one part by default."""
        return [{self.name: 1.0} for _ in items]

    def _rank(
        self, batch: UserBatch, cand: IdxArray, k: int, exclude: sp.csr_matrix | None
    ) -> tuple[IdxArray, FloatMatrix, BoolArray]:
        """Top-k of ``cand`` for each row: (item indices, scores, rows that used the fallback).
        ``exclude`` is (len(batch), len(cand)); its nonzero entries are removed."""
        scores, fallback = self._routed_scores(batch, cand)
        if exclude is not None and exclude.nnz:
            sub = exclude.tocoo()
            scores[sub.row, sub.col] = -np.inf
        top, top_s = topk(scores, k)
        top = np.where(top >= 0, cand[np.maximum(top, 0)], -1)
        return top, top_s, fallback

    def _routed_scores(self, batch: UserBatch, items: IdxArray) -> tuple[FloatMatrix, BoolArray]:
        """Model scores for rows with signal, fallback scores for the others (the one place
        that routes); returns the scores and the mask of fallback rows."""
        scores = np.empty((len(batch), len(items)), np.float32)
        signal = self._has_signal(batch)
        rows = np.flatnonzero(signal)
        if len(rows):
            sub = batch if len(rows) == len(batch) else _take(batch, rows)
            part = np.asarray(self._score(sub, items), dtype=np.float32)
            silent = np.isnan(part).all(axis=1) if len(items) else np.zeros(len(rows), bool)
            signal[rows[silent]] = False
            top = float(np.finfo(np.float32).max)  # -inf stays -inf: never ranked (see models.topk)
            part = np.nan_to_num(part, nan=-np.inf, posinf=top, neginf=-np.inf)
            scores[rows] = part
        fallback = ~signal
        if fallback.any():
            scores[fallback] = self._fallback_scores(batch.scenario_idx, items)
        return scores, fallback

    def _fallback_scores(self, scenario_idx: int | None, items: IdxArray) -> FloatMatrix:
        """What users without signal get: item popularity in the target scenario."""
        out: FloatMatrix = self.train_state.popularity_of(scenario_idx)[items].astype(np.float32)
        return out

    def _candidates(self, query: RecQuery, s: int | None) -> IdxArray:
        if query.candidates is None:
            return self.train_state.items_of_scenario(s)
        items_v = self.vocab("items")
        idx = []
        for raw in query.candidates:
            i = items_v.get(raw)
            if i is None:
                raise UnknownEntityError("item", raw, fix="candidates must be known item ids")
            idx.append(i)
        return np.array(idx, dtype=np.int64)

    def _batch_for(self, query: RecQuery, s: int | None) -> UserBatch:
        """A one-row UserBatch (a row without history when the fallback must answer)."""
        state = self.train_state
        if query.history is not None:
            h = state.adhoc_history(query.history)
            return UserBatch(np.array([-1]), s, state, adhoc={0: h})
        if query.user_id is None:
            raise ConfigError("a RecQuery needs a user_id or a history")
        u = self.vocab("users").get(query.user_id)
        if u is None:
            if query.unknown_user == "fallback":
                return UserBatch(np.array([-1]), s, state)
            raise UnknownEntityError(
                "user",
                query.user_id,
                fix="pass unknown_user='fallback' (CLI: --fallback) or an ad-hoc history",
            )
        return UserBatch(np.array([u]), s, state)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the run directory: manifest.json, train state, model arrays (safetensors)."""
        state = self.train_state
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        state.write(p)
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}
        save_file(arrays, p / "model.safetensors")
        manifest = {
            "model": self.name,
            "config": self.config.to_dict(),
            "schema_version": SCHEMA_VERSION,
            "data_fingerprint": self.data_fingerprint,
            "behavior_weights": state.behavior_weights,
            "fit_info": self.fit_info,
            "extra": self._manifest_extra(),
            "versions": _versions(),
        }
        seal(p, manifest)  # checksums, shapes, version; written last (models/runs.py)
        return p

    @classmethod
    def load(cls, path: str | Path, *, options: FitOptions | None = None) -> Self:
        """Load a run directory written by ``save`` (no code is executed)."""
        p = Path(path)
        manifest = verify_run(p)  # refuses tampered, truncated, foreign or non-finite runs
        if manifest["model"] != cls.name and cls.name != "base":
            raise ConfigError(f"{p}: holds a {manifest['model']!r} model, not {cls.name!r}")
        model = cls(cls.config_class.from_dict(manifest["config"], source=str(p)))  # type: ignore[arg-type]
        model.options = options or FitOptions()
        fingerprint = manifest.get("data_fingerprint")
        model._train = TrainState.read(p, manifest["behavior_weights"], fingerprint)
        model.data_fingerprint = fingerprint
        model.fit_info = manifest.get("fit_info", {})
        model._restore_extra(manifest.get("extra", {}))
        model._restore(dict(load_file(p / "model.safetensors")))
        return model


def _take(batch: UserBatch, rows: IdxArray) -> UserBatch:
    """The sub-batch of ``rows`` (ad-hoc histories follow their rows)."""
    where = {int(r): j for j, r in enumerate(rows)}
    adhoc = {where[i]: h for i, h in batch.adhoc.items() if i in where}
    return UserBatch(batch.user_idx[rows], batch.scenario_idx, batch.train, adhoc)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"scenerec": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "polars", "torch", "scipy"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


__all__ = [
    "BaseRecommender",
    "ConfigT",
    "ModelConfig",
    "Recommender",
    "read_manifest",
]
