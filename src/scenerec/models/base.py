"""The recommender interface and the base class that every model shares.

A model implements ``_fit(data)`` and ``_score(users, items)`` on dense indices only. The base
class does the rest once: id mapping, seen-item filtering, candidate restriction, exclusion,
cold-start routing (unknown users by policy), top-k selection, the ``Ranked`` output, and the
run directory (``save`` / ``load``) without pickle.
"""

from __future__ import annotations

import contextlib
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import polars as pl
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from scenerec import __version__
from scenerec.config import FrozenConfig
from scenerec.data.dataset import Dataset, Histories, Vocabulary
from scenerec.errors import ConfigError, NotFittedError, SchemaError, UnknownEntityError
from scenerec.schema import SCHEMA_VERSION, C, FloatMatrix, IdxArray

UnknownUserPolicy = Literal["raise", "fallback"]


class ModelConfig(FrozenConfig):
    """Base of every model config."""

    seed: int = 0


ConfigT = TypeVar("ConfigT", bound=ModelConfig)


@dataclass(frozen=True)
class HistoryEvent:
    """One event of an ad-hoc history (a user the model was not trained on)."""

    item_id: str
    scenario: str | None = None
    behavior: str = "click"
    timestamp: int = 0


@dataclass(frozen=True)
class RecQuery:
    """What to recommend.

    Attributes:
        user_id: a user known from training, or ``None`` with ``history``.
        history: an ad-hoc history; used instead of (not added to) a known user's history.
        scenario: the target scenario; ``None`` ranks all items.
        candidates: rank only these item ids.
        exclude: never return these item ids.
        exclude_seen: drop items the user already interacted with (in any scenario).
        unknown_user: ``raise`` UnknownEntityError, or ``fallback`` to popularity in the scenario.
    """

    user_id: str | None = None
    history: Sequence[HistoryEvent] | None = None
    scenario: str | None = None
    candidates: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    exclude_seen: bool = True
    unknown_user: UnknownUserPolicy = "raise"


@dataclass(frozen=True)
class Ranked:
    """An immutable ranking: item ids and float32 scores, best first."""

    item_ids: tuple[str, ...]
    scores: np.ndarray
    fallback: bool = False  # True when the popularity fallback produced it

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float32)
        scores.setflags(write=False)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass
class UserBatch:
    """The users being scored, with access to their histories.

    ``user_idx[i]`` is a trained user's dense index, or -1 for an ad-hoc history (then
    ``adhoc[i]`` holds it). Models read histories through ``history(i)`` or ``matrix()`` so both
    kinds of users look the same to them.
    """

    user_idx: IdxArray
    scenario_idx: int | None
    train: TrainState
    adhoc: dict[int, Histories] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.user_idx)

    def history(self, i: int) -> tuple[Histories, slice]:
        """The arrays and slice holding row ``i``'s time-ordered events."""
        if i in self.adhoc:
            h = self.adhoc[i]
            return h, slice(0, len(h.item_idx))
        u = int(self.user_idx[i])
        return self.train.histories, self.train.histories.slice_of(u)

    def matrix(self, scenario_idx: int | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """(n_users, n_items) weighted interactions, for one scenario or all."""
        n_items = self.train.n_items
        if not self.adhoc:
            return self.train.matrix(scenario_idx, binary=binary)[self.user_idx]
        rows, cols, vals = [], [], []
        for i in range(len(self)):
            h, sl = self.history(i)
            items = h.item_idx[sl]
            w = h.weight[sl]
            if scenario_idx is not None:
                keep = h.scenario_idx[sl] == scenario_idx
                items, w = items[keep], w[keep]
            rows.append(np.full(len(items), i))
            cols.append(items)
            vals.append(np.ones_like(w) if binary else w)
        m = sp.csr_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(self), n_items),
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m


class TrainState:
    """What a fitted model keeps from its training data (saved with the run)."""

    def __init__(
        self,
        vocabularies: dict[str, Vocabulary],
        histories: Histories,
        scenario_items: dict[int, IdxArray],
        popularity: dict[int, FloatMatrix],
        behavior_weights: dict[str, float],
    ) -> None:
        self.vocabularies = vocabularies
        self.histories = histories
        self.scenario_items = scenario_items
        self.popularity = popularity  # scenario_idx (-1 = all) -> (n_items,) event counts
        self.behavior_weights = behavior_weights
        self._matrices: dict[tuple[int | None, bool], sp.csr_matrix] = {}

    @property
    def n_users(self) -> int:
        return len(self.vocabularies["users"])

    @property
    def n_items(self) -> int:
        return len(self.vocabularies["items"])

    @classmethod
    def from_dataset(cls, ds: Dataset) -> TrainState:
        h = ds.histories
        pop: dict[int, FloatMatrix] = {
            -1: np.bincount(h.item_idx, minlength=ds.n_items).astype(np.float32)
        }
        for s in range(len(ds.scenario_vocab)):
            sel = h.scenario_idx == s
            pop[s] = np.bincount(h.item_idx[sel], minlength=ds.n_items).astype(np.float32)
        items = {s: ds.scenario_items(name) for s, name in enumerate(ds.scenarios)}
        return cls(ds.vocabularies, h, items, pop, dict(ds.behavior_weights))

    def matrix(self, scenario_idx: int | None = None, *, binary: bool = False) -> sp.csr_matrix:
        key = (scenario_idx, binary)
        if key not in self._matrices:
            h = self.histories
            users = np.repeat(np.arange(self.n_users), np.diff(h.indptr))
            sel = slice(None) if scenario_idx is None else (h.scenario_idx == scenario_idx)
            vals = np.ones(len(users), np.float32) if binary else h.weight
            m = sp.csr_matrix(
                (vals[sel].astype(np.float32), (users[sel], h.item_idx[sel])),
                shape=(self.n_users, self.n_items),
            )
            m.sum_duplicates()
            if binary:
                m.data[:] = 1.0
            self._matrices[key] = m
        return self._matrices[key]

    def append(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add typed events (schema columns) to the state, growing the vocabularies.

        Returns the events with ``user_idx``, ``item_idx``, ``scenario_idx``, ``weight`` and
        ``behavior_idx`` columns, in time order, for the model's own update.
        """
        v = self.vocabularies
        for kind, col in (
            ("users", C.USER_ID),
            ("items", C.ITEM_ID),
            ("scenarios", C.SCENARIO),
            ("behaviors", C.BEHAVIOR),
        ):
            v[kind] = v[kind].extend(events[col].cast(pl.String).to_list())
        weights = [self.behavior_weights.get(b, 1.0) for b in events[C.BEHAVIOR].to_list()]
        ev = events.with_columns(
            v["users"].indices(events[C.USER_ID]).alias(C.USER_IDX),
            v["items"].indices(events[C.ITEM_ID]).alias(C.ITEM_IDX),
            v["scenarios"].indices(events[C.SCENARIO]).alias(C.SCENARIO_IDX),
            v["behaviors"].indices(events[C.BEHAVIOR]).alias("behavior_idx"),
            pl.Series(C.WEIGHT, weights, dtype=pl.Float32),
        ).sort(C.TIMESTAMP, maintain_order=True)
        h = self.histories
        n_users, n_items = self.n_users, self.n_items
        indptr = np.concatenate([h.indptr, np.full(n_users + 1 - len(h.indptr), h.indptr[-1])])
        users = ev[C.USER_IDX].to_numpy().astype(np.int64)
        # new events go after each user's existing ones (they are the newest)
        order = np.argsort(users, kind="stable")
        pos = indptr[users[order] + 1]
        cols: dict[str, np.ndarray] = {
            "item_idx": ev[C.ITEM_IDX].to_numpy().astype(np.int64)[order],
            "scenario_idx": ev[C.SCENARIO_IDX].to_numpy().astype(np.int64)[order],
            "behavior_idx": ev["behavior_idx"].to_numpy().astype(np.int64)[order],
            "timestamp": ev[C.TIMESTAMP].to_numpy().astype(np.int64)[order],
            "weight": ev[C.WEIGHT].to_numpy().astype(np.float32)[order],
        }
        counts = np.bincount(users, minlength=n_users)
        self.histories = Histories(
            indptr=indptr + np.concatenate([[0], np.cumsum(counts)]),
            **{name: np.insert(getattr(h, name), pos, vals) for name, vals in cols.items()},
        )
        for key in list(self.popularity):
            grown = np.zeros(n_items, np.float32)
            grown[: len(self.popularity[key])] = self.popularity[key]
            self.popularity[key] = grown
        for s in range(len(v["scenarios"])):
            self.popularity.setdefault(s, np.zeros(n_items, np.float32))
        np.add.at(self.popularity[-1], cols["item_idx"], 1.0)
        for s_idx, i_idx in zip(cols["scenario_idx"], cols["item_idx"], strict=True):
            self.popularity[int(s_idx)][i_idx] += 1.0
            items = self.scenario_items.get(int(s_idx), np.zeros(0, np.int64))
            if not np.isin(i_idx, items):
                self.scenario_items[int(s_idx)] = np.sort(np.append(items, i_idx))
        self._matrices.clear()
        return ev

    def items_of_scenario(self, scenario_idx: int | None) -> IdxArray:
        if scenario_idx is None:
            return np.arange(self.n_items, dtype=np.int64)
        return self.scenario_items.get(scenario_idx, np.zeros(0, np.int64))

    # -- persistence: plain arrays and JSON only
    def arrays(self) -> dict[str, np.ndarray]:
        h = self.histories
        out: dict[str, np.ndarray] = {
            "h.indptr": h.indptr,
            "h.item_idx": h.item_idx,
            "h.scenario_idx": h.scenario_idx,
            "h.behavior_idx": h.behavior_idx,
            "h.timestamp": h.timestamp,
            "h.weight": h.weight,
        }
        for s, v in self.scenario_items.items():
            out[f"scenario_items.{s}"] = v
        for s, counts in self.popularity.items():
            out[f"popularity.{s}"] = counts
        return out

    def write(self, path: Path) -> None:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.arrays().items()},
            path / "train_state.safetensors",
        )
        vocab = {k: v.to_list() for k, v in self.vocabularies.items()}
        (path / "vocabularies.json").write_text(json.dumps(vocab), encoding="utf-8")

    @classmethod
    def read(cls, path: Path, behavior_weights: dict[str, float]) -> TrainState:
        arr = load_file(path / "train_state.safetensors")
        vocab_raw = json.loads((path / "vocabularies.json").read_text(encoding="utf-8"))
        vocabs = {k: Vocabulary(v, kind=k.rstrip("s")) for k, v in vocab_raw.items()}
        h = Histories(
            indptr=arr["h.indptr"],
            item_idx=arr["h.item_idx"],
            scenario_idx=arr["h.scenario_idx"],
            behavior_idx=arr["h.behavior_idx"],
            timestamp=arr["h.timestamp"],
            weight=arr["h.weight"],
        )
        items = {int(k.split(".")[1]): v for k, v in arr.items() if k.startswith("scenario_items.")}
        pop = {int(k.split(".")[1]): v for k, v in arr.items() if k.startswith("popularity.")}
        return cls(vocabs, h, items, pop, behavior_weights)


@runtime_checkable
class Recommender(Protocol):
    """What every model offers. See ``BaseRecommender`` for the shared implementation."""

    def fit(self, dataset: Dataset) -> Self: ...
    def recommend(self, query: RecQuery, *, k: int = 10) -> Ranked: ...
    def save(self, path: str | Path) -> Path: ...


@runtime_checkable
class OnlineRecommender(Recommender, Protocol):
    """A model that learns from new events without a refit."""

    def partial_fit(self, events: pl.DataFrame) -> Self: ...


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
        self._train: TrainState | None = None
        self.data_fingerprint: str | None = None
        self.fit_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ to implement
    def _fit(self, data: Dataset) -> None:
        raise NotImplementedError

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        """Scores ``(len(users), len(items))`` float32; higher is better."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        return None

    # ------------------------------------------------------------------ public API
    @property
    def is_fitted(self) -> bool:
        return self._train is not None

    @property
    def train_state(self) -> TrainState:
        if self._train is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load()")
        return self._train

    def fit(self, dataset: Dataset) -> Self:
        """Learn from ``dataset`` (the train part only; never the test events)."""
        if dataset.n_events == 0:
            raise SchemaError(f"cannot fit {type(self).__name__} on an empty dataset")
        self._train = TrainState.from_dataset(dataset)
        self.data_fingerprint = dataset.fingerprint
        self._fit(dataset)
        return self

    def partial_fit(self, events: pl.DataFrame) -> Self:
        """Learn from new typed events without a refit (models that support it).

        Unseen users and items grow the vocabularies. Only models that implement
        ``_partial_fit`` accept this; they satisfy the ``OnlineRecommender`` protocol.
        """
        if type(self)._partial_fit is BaseRecommender._partial_fit:
            raise NotImplementedError(f"{type(self).__name__} does not learn online; refit it")
        missing = [
            c
            for c in (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP)
            if c not in events.columns
        ]
        if missing:
            raise SchemaError(f"partial_fit events lack column(s) {missing}")
        if events.height == 0:
            return self
        mapped = self.train_state.append(events)
        self._partial_fit(mapped)
        return self

    def _partial_fit(self, events: pl.DataFrame) -> None:
        """Update the model with new events (index columns added, time-ordered)."""
        raise NotImplementedError

    def vocab(self, kind: Literal["users", "items", "scenarios", "behaviors"]) -> Vocabulary:
        return self.train_state.vocabularies[kind]

    def scenario_idx(self, scenario: str | None) -> int | None:
        if scenario is None:
            return None
        v = self.vocab("scenarios")
        idx = v.get(scenario)
        if idx is None:
            raise UnknownEntityError("scenario", scenario, fix=f"choose one of {v.to_list()}")
        return idx

    def score_users(
        self, user_idx: IdxArray, *, scenario: str | None = None, items: IdxArray | None = None
    ) -> FloatMatrix:
        """Raw scores for known users over ``items`` (default: the scenario's items)."""
        s = self.scenario_idx(scenario)
        cand = self.train_state.items_of_scenario(s) if items is None else items
        batch = UserBatch(np.asarray(user_idx, np.int64), s, self.train_state)
        return self._finite(self._score(batch, cand))

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
            scores = self._finite(self._score(UserBatch(ub, s, self.train_state), cand))
            empty = self.train_state.histories.lengths()[ub] == 0
            if empty.any():  # same routing as recommend(): no history -> popularity
                pop = self.train_state.popularity.get(-1 if s is None else s)
                scores[empty] = (self.train_state.popularity[-1] if pop is None else pop)[cand]
            if exclude is not None:
                sub = exclude[ub][:, cand].tocoo()
                scores[sub.row, sub.col] = -np.inf
            top, top_s = _topk(scores, k)
            out_i[start : start + len(ub)] = np.where(top >= 0, cand[np.maximum(top, 0)], -1)
            out_s[start : start + len(ub)] = top_s
        return out_i, out_s

    def recommend(self, query: RecQuery, *, k: int = 10) -> Ranked:
        """Top-k item ids for one query; see ``RecQuery``."""
        if k < 1:
            raise ConfigError(f"k must be >= 1 (got {k})")
        state = self.train_state
        items_v = self.vocab("items")
        s = self.scenario_idx(query.scenario)
        cand = self._candidates(query, s)
        batch, known = self._batch_for(query, s)
        if batch is None:
            pop = state.popularity.get(-1 if s is None else s, state.popularity[-1])
            scores = pop[cand].astype(np.float32)
            fallback = True
        else:
            scores = self._finite(self._score(batch, cand))[0]
            fallback = False
        mask = np.zeros(len(cand), bool)
        if query.exclude:
            ex = {items_v.get(i) for i in query.exclude} - {None}
            mask |= np.isin(cand, np.fromiter(ex, np.int64, len(ex)))
        if query.exclude_seen and batch is not None:
            h, sl = batch.history(0)
            mask |= np.isin(cand, h.item_idx[sl])
        elif query.exclude_seen and known is not None:
            mask |= np.isin(cand, state.histories.items_of(known))
        scores = np.where(mask, -np.inf, scores).astype(np.float32)
        top, top_s = _topk(scores[None, :], k)
        keep = top[0] >= 0
        ids = items_v.to_ids(cand[top[0][keep]])
        return Ranked(tuple(ids), top_s[0][keep], fallback=fallback)

    def _candidates(self, query: RecQuery, s: int | None) -> IdxArray:
        items_v = self.vocab("items")
        if query.candidates is None:
            return self.train_state.items_of_scenario(s)
        idx = []
        for raw in query.candidates:
            i = items_v.get(raw)
            if i is None:
                raise UnknownEntityError("item", raw, fix="candidates must be known item ids")
            idx.append(i)
        return np.array(idx, dtype=np.int64)

    def _batch_for(self, query: RecQuery, s: int | None) -> tuple[UserBatch | None, int | None]:
        """A one-row UserBatch, or ``None`` to use the popularity fallback."""
        state = self.train_state
        if query.history is not None:
            h = self._adhoc_history(query.history)
            if len(h.item_idx) == 0:
                return None, None
            return UserBatch(np.array([-1]), s, state, adhoc={0: h}), None
        if query.user_id is None:
            raise ConfigError("a RecQuery needs a user_id or a history")
        u = self.vocab("users").get(query.user_id)
        if u is None:
            if query.unknown_user == "fallback":
                return None, None
            raise UnknownEntityError(
                "user",
                query.user_id,
                fix="pass unknown_user='fallback' (CLI: --fallback) or an ad-hoc history",
            )
        if state.histories.indptr[u] == state.histories.indptr[u + 1]:
            return None, u  # known but no training events: nothing to personalise with
        return UserBatch(np.array([u]), s, state), u

    def _adhoc_history(self, events: Sequence[HistoryEvent]) -> Histories:
        state = self.train_state
        items_v, scen_v, beh_v = (
            self.vocab("items"),
            self.vocab("scenarios"),
            self.vocab("behaviors"),
        )
        rows = []
        for e in sorted(events, key=lambda e: e.timestamp):
            i = items_v.get(e.item_id)
            if i is None:
                continue  # an item the model has never seen carries no signal for it
            sc = scen_v.get(e.scenario) if e.scenario is not None else None
            rows.append(
                (
                    i,
                    -1 if sc is None else sc,
                    beh_v.get(e.behavior) or 0,
                    e.timestamp,
                    state.behavior_weights.get(e.behavior, 1.0),
                )
            )
        arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return Histories(
            indptr=np.array([0, len(rows)], np.int64),
            item_idx=arr[:, 0].astype(np.int64),
            scenario_idx=arr[:, 1].astype(np.int64),
            behavior_idx=arr[:, 2].astype(np.int64),
            timestamp=arr[:, 3].astype(np.int64),
            weight=arr[:, 4].astype(np.float32),
        )

    @staticmethod
    def _finite(scores: FloatMatrix) -> FloatMatrix:
        scores = np.asarray(scores, dtype=np.float32)
        if not np.all(np.isfinite(scores)):
            scores = np.nan_to_num(scores, nan=-np.inf, posinf=float(np.finfo(np.float32).max))
        return scores

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
        (p / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return p

    def _manifest_extra(self) -> dict[str, Any]:
        return {}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        return None

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load a run directory written by ``save`` (no code is executed)."""
        p = Path(path)
        manifest = read_manifest(p)
        if manifest["model"] != cls.name and cls.name != "base":
            raise ConfigError(f"{p}: holds a {manifest['model']!r} model, not {cls.name!r}")
        model = cls(cls.config_class.from_dict(manifest["config"], source=str(p)))  # type: ignore[arg-type]
        model._train = TrainState.read(p, manifest["behavior_weights"])
        model.data_fingerprint = manifest.get("data_fingerprint")
        model.fit_info = manifest.get("fit_info", {})
        model._restore_extra(manifest.get("extra", {}))
        model._restore(dict(load_file(p / "model.safetensors")))
        return model


def read_manifest(path: Path) -> dict[str, Any]:
    f = path / "manifest.json"
    if not f.exists():
        raise ConfigError(f"{path}: not a run directory (no manifest.json)")
    manifest: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: schema version {manifest.get('schema_version')} != {SCHEMA_VERSION}; retrain"
        )
    return manifest


def _topk(scores: FloatMatrix, k: int) -> tuple[IdxArray, FloatMatrix]:
    """Row-wise top-k, best first; equal scores are ordered by lower column index, also at
    the k-th place (so the result does not depend on the partition algorithm). Entries that
    are -inf become -1 with score -inf.
    """
    n, m = scores.shape
    kk = min(k, m)
    out_i = np.full((n, k), -1, np.int64)
    out_s = np.full((n, k), -np.inf, np.float32)
    if kk == 0 or n == 0:
        return out_i, out_s
    # the k-th best score of each row, then everything strictly better plus the first ties
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]
    better = scores > kth
    tied = scores == kth
    need = kk - better.sum(axis=1, keepdims=True)
    chosen = better | (tied & (np.cumsum(tied, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(n, kk)  # row-major: ascending column per row
    vals = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top = np.take_along_axis(cols, order, axis=1)
    top_s = np.take_along_axis(vals, order, axis=1)
    valid = np.isfinite(top_s)
    out_i[:, :kk] = np.where(valid, top, -1)
    out_s[:, :kk] = np.where(valid, top_s, -np.inf)
    return out_i, out_s


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"scenerec": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "polars", "torch", "scipy"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


__all__ = [
    "BaseRecommender",
    "HistoryEvent",
    "ModelConfig",
    "OnlineRecommender",
    "Ranked",
    "RecQuery",
    "Recommender",
    "TrainState",
    "UserBatch",
    "read_manifest",
]
