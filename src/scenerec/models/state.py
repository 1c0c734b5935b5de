"""What a model reads at fit time and keeps afterwards (``TrainState``), and the users it scores
(``UserBatch``).

``TrainState`` is the one view of the training data: the ``Histories`` built once by the
``Dataset`` (every per-event column: item, scenario, behaviour, time, weight, query), the id
vocabularies, each scenario's items, popularity counts and, at fit time only, the catalog. Models
read nothing else, so what a model saw is what its run directory holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.data.histories import Histories, weigh_behaviors
from scenerec.errors import ConfigError, UnknownEntityError
from scenerec.models.query import HistoryEvent
from scenerec.schema import C, FloatMatrix, IdxArray

VocabKind = Literal["users", "items", "scenarios", "behaviors"]
GLOBAL = -1  # popularity key of "every scenario"


class TrainState:
    """The training data as a model sees it (saved with the run, except ``catalog``).

    Attributes:
        vocabularies: ``users``, ``items``, ``scenarios``, ``behaviors``.
        histories: every user's events, time-ordered.
        scenario_items: scenario index -> sorted item indices that belong to it.
        popularity: scenario index (``GLOBAL`` = all) -> (n_items,) float32 event counts.
        behavior_weights: behaviour -> weight.
        catalog: item rows in ``item_idx`` order (text columns), at fit time; ``None`` after
            ``read`` (models keep what they need of it, e.g. text vectors).
        fingerprint: the training data's content hash.
    """

    def __init__(
        self,
        vocabularies: dict[str, Vocabulary],
        histories: Histories,
        scenario_items: dict[int, IdxArray],
        behavior_weights: dict[str, float],
        *,
        catalog: pl.DataFrame | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.vocabularies = vocabularies
        self.histories = histories
        self.scenario_items = scenario_items
        self.behavior_weights = behavior_weights
        self.catalog = catalog
        self.fingerprint = fingerprint
        n_items = len(vocabularies["items"])
        self.popularity: dict[int, FloatMatrix] = {GLOBAL: histories.item_counts(n_items)}
        for s in range(len(vocabularies["scenarios"])):
            self.popularity[s] = histories.item_counts(n_items, s)
        self._matrices: dict[tuple[int | None, bool], sp.csr_matrix] = {}

    @classmethod
    def from_dataset(cls, ds: Dataset) -> TrainState:
        items = {s: ds.scenario_items(name) for s, name in enumerate(ds.scenarios)}
        return cls(
            ds.vocabularies,
            ds.histories,
            items,
            dict(ds.behavior_weights),
            catalog=ds.catalog,
            fingerprint=ds.fingerprint,
        )

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_users(self) -> int:
        return len(self.vocabularies["users"])

    @property
    def n_items(self) -> int:
        return len(self.vocabularies["items"])

    @property
    def n_scenarios(self) -> int:
        return len(self.vocabularies["scenarios"])

    @property
    def scenarios(self) -> list[str]:
        """Scenario names in index order."""
        return self.vocabularies["scenarios"].to_list()

    def scenario_index(self, scenario: str) -> int:
        """Index of a scenario name; UnknownEntityError naming the choices."""
        v = self.vocabularies["scenarios"]
        idx = v.get(scenario)
        if idx is None:
            raise UnknownEntityError("scenario", scenario, fix=f"choose one of {v.to_list()}")
        return idx

    def items_of_scenario(self, scenario_idx: int | None) -> IdxArray:
        """Sorted item indices of a scenario (every item for ``None``)."""
        if scenario_idx is None:
            return np.arange(self.n_items, dtype=np.int64)
        return self.scenario_items.get(scenario_idx, np.zeros(0, np.int64))

    def popularity_of(self, scenario_idx: int | None) -> FloatMatrix:
        """(n_items,) event counts in a scenario (all scenarios for ``None``)."""
        key = GLOBAL if scenario_idx is None else scenario_idx
        return self.popularity.get(key, self.popularity[GLOBAL])

    def matrix(self, scenario_idx: int | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """(n_users, n_items) training interactions (cached; see ``Histories.matrix``)."""
        key = (scenario_idx, binary)
        if key not in self._matrices:
            self._matrices[key] = self.histories.matrix(
                self.n_items, scenario_idx=scenario_idx, binary=binary
            )
        return self._matrices[key]

    # ------------------------------------------------------------------ ad-hoc and new events
    def adhoc_history(self, events: Sequence[HistoryEvent]) -> Histories:
        """An ad-hoc history in model indices, time-ordered; items the model has never seen
        are left out (they carry no signal for it), unknown scenarios become -1."""
        items_v = self.vocabularies["items"]
        scen_v = self.vocabularies["scenarios"]
        beh_v = self.vocabularies["behaviors"]
        known = [e for e in sorted(events, key=lambda e: e.timestamp) if e.item_id in items_v]
        behaviors = pl.Series([e.behavior for e in known], dtype=pl.String)
        return Histories.of_one(
            item_idx=np.array([items_v.index(e.item_id) for e in known], np.int64),
            scenario_idx=np.array(
                [
                    -1 if e.scenario is None else _or_minus_one(scen_v.get(e.scenario))
                    for e in known
                ],
                np.int64,
            ),
            behavior_idx=np.array([beh_v.get(e.behavior) or 0 for e in known], np.int64),
            timestamp=np.array([e.timestamp for e in known], np.int64),
            weight=weigh_behaviors(behaviors, self.behavior_weights).to_numpy(),
        )

    def append(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add typed events (schema columns) to the state, growing the vocabularies.

        Returns:
            The events with ``user_idx``, ``item_idx``, ``scenario_idx`` and ``weight``
            columns, in time order, for the model's own update.
        """
        v = self.vocabularies
        for kind, col in (
            ("users", C.USER_ID),
            ("items", C.ITEM_ID),
            ("scenarios", C.SCENARIO),
            ("behaviors", C.BEHAVIOR),
        ):
            v[kind] = v[kind].extend(events[col].cast(pl.String).to_list())
        ev = events.with_columns(
            v["users"].indices(events[C.USER_ID]).alias(C.USER_IDX),
            v["items"].indices(events[C.ITEM_ID]).alias(C.ITEM_IDX),
            v["scenarios"].indices(events[C.SCENARIO]).alias(C.SCENARIO_IDX),
            weigh_behaviors(events[C.BEHAVIOR], self.behavior_weights).alias(C.WEIGHT),
        ).sort(C.TIMESTAMP, maintain_order=True)
        chunk = Histories.from_events(
            ev, self.n_users, v["behaviors"].to_list(), self.behavior_weights
        )
        self.histories = self.histories.append(chunk.owners(), chunk)
        n_items = self.n_items
        for key in list(self.popularity):
            grown = np.zeros(n_items, np.float32)
            grown[: len(self.popularity[key])] = self.popularity[key]
            self.popularity[key] = grown
        for s in range(self.n_scenarios):
            self.popularity.setdefault(s, np.zeros(n_items, np.float32))
        np.add.at(self.popularity[GLOBAL], chunk.item_idx, 1.0)
        for s_idx, i_idx in zip(chunk.scenario_idx, chunk.item_idx, strict=True):
            self.popularity[int(s_idx)][i_idx] += 1.0
            items = self.scenario_items.get(int(s_idx), np.zeros(0, np.int64))
            if not np.isin(i_idx, items):
                self.scenario_items[int(s_idx)] = np.sort(np.append(items, i_idx))
        self._matrices.clear()
        return ev

    # ------------------------------------------------------------------ persistence
    def write(self, path: Path) -> None:
        """``train_state.safetensors`` (arrays) and ``vocabularies.json`` (ids, queries)."""
        arrays = self.histories.arrays()
        for s, items in self.scenario_items.items():
            arrays[f"scenario_items.{s}"] = items
        save_file(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            path / "train_state.safetensors",
        )
        vocab: dict[str, list[str]] = {k: v.to_list() for k, v in self.vocabularies.items()}
        vocab["queries"] = list(self.histories.queries)
        (path / "vocabularies.json").write_text(json.dumps(vocab), encoding="utf-8")

    @classmethod
    def read(
        cls, path: Path, behavior_weights: dict[str, float], fingerprint: str | None
    ) -> TrainState:
        arrays = load_file(path / "train_state.safetensors")
        raw = json.loads((path / "vocabularies.json").read_text(encoding="utf-8"))
        queries = raw.pop("queries", [])
        vocabs = {k: Vocabulary(v, kind=k.rstrip("s")) for k, v in raw.items()}
        missing = {"users", "items", "scenarios", "behaviors"} - set(vocabs)
        if missing:
            raise ConfigError(f"{path}: vocabularies.json lacks {sorted(missing)}; retrain")
        items = {
            int(k.split(".")[1]): v for k, v in arrays.items() if k.startswith("scenario_items.")
        }
        h = Histories.from_arrays(arrays, queries)
        return cls(vocabs, h, items, behavior_weights, fingerprint=fingerprint)


def _or_minus_one(idx: int | None) -> int:
    return -1 if idx is None else idx


@dataclass
class UserBatch:
    """The users being scored, with access to their histories.

    ``user_idx[i]`` is a trained user's dense index, or -1 for a row without a trained user:
    then ``adhoc[i]`` holds its ad-hoc history (a -1 row without one has no history). Models
    read histories through ``history(i)``, ``histories()`` or ``matrix()`` so both kinds of
    users look the same to them.
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
            return h, slice(0, h.n_events)
        u = int(self.user_idx[i])
        if u < 0:
            return Histories.empty(), slice(0, 0)
        return self.train.histories, self.train.histories.slice_of(u)

    def lengths(self) -> IdxArray:
        """(n,) number of events of each row."""
        known = np.maximum(self.user_idx, 0)
        out = np.where(self.user_idx >= 0, self.train.histories.lengths()[known], 0)
        for i, h in self.adhoc.items():
            out[i] = h.n_events
        return out.astype(np.int64)

    def histories(self) -> Histories:
        """The rows' histories as one ``Histories`` whose users are the batch rows (search
        queries are not carried over)."""
        rows = [self.history(i) for i in range(len(self))]
        lens = [sl.stop - sl.start for _, sl in rows]

        def cat(name: str, dtype: type) -> np.ndarray:
            arrs = [getattr(h, name)[sl] for h, sl in rows]
            return np.concatenate(arrs).astype(dtype) if arrs else np.zeros(0, dtype)

        return Histories(
            indptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
            item_idx=cat("item_idx", np.int64),
            scenario_idx=cat("scenario_idx", np.int64),
            behavior_idx=cat("behavior_idx", np.int64),
            timestamp=cat("timestamp", np.int64),
            weight=cat("weight", np.float32),
            query_idx=np.full(sum(lens), -1, np.int64),
        )

    def matrix(self, scenario_idx: int | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """(n, n_items) weighted interactions of the rows, for one scenario or all."""
        if not self.adhoc and (self.user_idx >= 0).all():
            return self.train.matrix(scenario_idx, binary=binary)[self.user_idx]
        return self.histories().matrix(self.train.n_items, scenario_idx=scenario_idx, binary=binary)


__all__ = ["GLOBAL", "TrainState", "UserBatch", "VocabKind"]
