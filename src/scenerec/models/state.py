"""What a model reads at fit time and keeps afterwards (``TrainState``; the users it scores,
``UserBatch``, live in ``models.batch`` and are re-exported here).

``TrainState`` is the one view of the training data: the ``Histories`` built once by the
``Dataset`` (every per-event column: item, scenario, behaviour, time, weight, query), the id
vocabularies, each scenario's items, popularity counts and, at fit time only, the catalog. Models
read nothing else, so what a model saw is what its run directory holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.data.histories import Histories, weigh_behaviors
from scenerec.errors import ConfigError, UnknownEntityError
from scenerec.models.batch import UserBatch
from scenerec.models.query import HistoryEvent
from scenerec.models.recent import NewEvents, RecentEvents, reserve
from scenerec.schema import C, FloatMatrix, IdxArray

VocabKind = Literal["users", "items", "scenarios", "behaviors"]
GLOBAL = -1  # popularity key of "every scenario"


class TrainState:
    """The training data as a model sees it (saved with the run, except ``catalog``).

    Events added after the fit (``append``, online learning) go to ``recent`` (per-user
    append-only rows, O(events added)), never into a rewrite of the stored histories. Per-user
    reads (``user_history``, ``UserBatch``) see both; whole-data views (``histories``,
    ``matrix``) merge them first (``compact``: O(total), so scoring paths read users through
    ``UserBatch``).

    Attributes:
        vocabularies: ``users``, ``items``, ``scenarios``, ``behaviors``.
        histories: every user's events, time-ordered.
        recent: the events appended since the last ``compact``.
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
        self._base = histories
        self.recent = RecentEvents()
        self._scenario_items = dict(scenario_items)
        self.behavior_weights = behavior_weights
        self.catalog = catalog
        self.fingerprint = fingerprint
        n_items = len(vocabularies["items"])
        # popularity rows keep spare capacity (see ``reserve``): read them through
        # ``popularity`` / ``popularity_of``, which cut them to n_items
        self._pop: dict[int, FloatMatrix] = {GLOBAL: histories.item_counts(n_items)}
        for s in range(len(vocabularies["scenarios"])):
            self._pop[s] = histories.item_counts(n_items, s)
        self._matrices: dict[tuple[int | None, bool], sp.csr_matrix] = {}
        self._member: dict[int, np.ndarray] | None = None  # scenario -> item mask, when growing
        self._stale: set[int] = set()  # scenarios whose item list lags their mask
        self._owned = False  # vocabularies copied before the first in-place growth

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

    def subset(self, keep: npt.NDArray[np.bool_], *, tag: str = "subset") -> TrainState:
        """The same users, items and vocabularies with only the events where ``keep`` is True
        (a view for fitting parts of a model; its fingerprint derives from this one's)."""
        return TrainState(
            self.vocabularies,
            self.histories.filter(keep),
            self.scenario_items,
            self.behavior_weights,
            catalog=self.catalog,
            fingerprint=_derived_fingerprint(self.fingerprint, tag, keep),
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
        return self._pop.get(key, self._pop[GLOBAL])[: self.n_items]

    @property
    def popularity(self) -> dict[int, FloatMatrix]:
        """Scenario index (``GLOBAL`` = all) -> (n_items,) float32 event counts."""
        return {k: v[: self.n_items] for k, v in self._pop.items()}

    @property
    def scenario_items(self) -> dict[int, IdxArray]:
        """Scenario index -> sorted item indices that belong to it."""
        if self._stale and self._member is not None:
            for s in self._stale:
                self._scenario_items[s] = np.flatnonzero(self._member[s][: self.n_items])
            self._stale.clear()
        return self._scenario_items

    @property
    def histories(self) -> Histories:
        """Every user's events, time-ordered (``compact`` first when events were appended)."""
        self.compact()
        return self._base

    @property
    def base_histories(self) -> Histories:
        """The stored histories without the events appended since the last ``compact``."""
        return self._base

    def matrix(self, scenario_idx: int | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """(n_users, n_items) training interactions (cached; see ``Histories.matrix``)."""
        self.compact()
        return self.base_matrix(scenario_idx, binary=binary)

    def base_matrix(self, scenario_idx: int | None, *, binary: bool) -> sp.csr_matrix:
        """``matrix`` of the histories without the events appended since the last compact
        (rows of users who have such events are incomplete: see ``recent``)."""
        key = (scenario_idx, binary)
        if key not in self._matrices:
            self._matrices[key] = self._base.matrix(
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

    # ------------------------------------------------------------------ online growth
    def append(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add typed events (schema columns) to the state, growing the vocabularies in place.

        Costs O(events added) (amortised): the events go to ``recent``, the stored histories are
        not rewritten.

        Returns:
            The events with ``user_idx``, ``item_idx``, ``scenario_idx`` and ``weight``
            columns, in time order, for the model's own update.
        """
        v = self._own_vocabularies()
        idx: dict[str, np.ndarray] = {}
        for kind, col, out in (
            ("users", C.USER_ID, C.USER_IDX),
            ("items", C.ITEM_ID, C.ITEM_IDX),
            ("scenarios", C.SCENARIO, C.SCENARIO_IDX),
            ("behaviors", C.BEHAVIOR, "behavior_idx"),
        ):
            raw = events[col].cast(pl.String).to_list()
            v[kind].add(raw)
            get = v[kind].get
            idx[out] = np.fromiter((get(r) for r in raw), np.int64, len(raw))
        if events.height > 256:
            weight = weigh_behaviors(events[C.BEHAVIOR], self.behavior_weights).to_numpy()
        else:  # small batches (one event at a time): the same rule, without polars' overhead
            bw = self.behavior_weights
            weight = np.array([bw.get(b, 1.0) for b in events[C.BEHAVIOR].to_list()], np.float32)
        ts = events[C.TIMESTAMP].cast(pl.Int64).to_numpy()
        order = np.argsort(ts, kind="stable")
        queries = events[C.QUERY].cast(pl.String).to_list() if C.QUERY in events.columns else []
        self.recent.add(
            NewEvents(
                user_idx=idx[C.USER_IDX][order],
                item_idx=idx[C.ITEM_IDX][order],
                scenario_idx=idx[C.SCENARIO_IDX][order],
                behavior_idx=idx["behavior_idx"][order],
                timestamp=ts[order],
                weight=weight[order],
                queries=[queries[i] for i in order.tolist()] if queries else [None] * len(ts),
            )
        )
        self._count(idx[C.ITEM_IDX], idx[C.SCENARIO_IDX], 1.0)
        derived = [c for c in (C.USER_IDX, C.ITEM_IDX, C.SCENARIO_IDX, C.WEIGHT) if c in events]
        ev = (events.drop(derived) if derived else events).hstack(
            [
                pl.Series(C.USER_IDX, idx[C.USER_IDX]),
                pl.Series(C.ITEM_IDX, idx[C.ITEM_IDX]),
                pl.Series(C.SCENARIO_IDX, idx[C.SCENARIO_IDX]),
                pl.Series(C.WEIGHT, weight),
            ]
        )
        return ev if (np.diff(ts) >= 0).all() else ev[order]

    def add_items(self, item_ids: Sequence[str], scenarios: Sequence[str | None]) -> IdxArray:
        """Add catalog items (no events): each belongs to its scenario, or to every scenario
        for ``None``. Returns their indices (known items keep theirs and gain the scenario)."""
        v = self._own_vocabularies()
        v["items"].add(item_ids)
        v["scenarios"].add(s for s in scenarios if s is not None)
        items = np.array([v["items"].index(i) for i in item_ids], np.int64)
        member = self._grow()
        for i, scen in zip(items.tolist(), scenarios, strict=True):
            for s in range(self.n_scenarios) if scen is None else [v["scenarios"].index(scen)]:
                if not member[s][i]:
                    member[s][i] = True
                    self._stale.add(s)
        return items

    def _own_vocabularies(self) -> dict[str, Vocabulary]:
        """The vocabularies, copied once before they first grow in place (a Dataset or another
        state may share them)."""
        if not self._owned:
            self.vocabularies = {k: v.copy() for k, v in self.vocabularies.items()}
            self._owned = True
        return self.vocabularies

    def _grow(self) -> dict[int, np.ndarray]:
        """Room in the popularity rows and scenario item masks for every item and scenario
        (amortised O(1) per new row); returns the masks (built once, on the first growth)."""
        n_items = self.n_items
        if len(self._pop[GLOBAL]) < n_items:
            self._matrices.clear()
        for key in [GLOBAL, *range(self.n_scenarios)]:
            self._pop[key] = reserve(self._pop.get(key, np.zeros(0, np.float32)), n_items)
        if self._member is None:
            self._member = {}
            for s, items in self.scenario_items.items():
                self._member[s] = np.zeros(self.n_items, bool)
                self._member[s][items] = True
        for s in range(self.n_scenarios):
            self._member[s] = reserve(self._member.get(s, np.zeros(0, bool)), self.n_items)
            self._scenario_items.setdefault(s, np.zeros(0, np.int64))
        return self._member

    def _count(self, items: IdxArray, scenarios: IdxArray, by: float) -> None:
        """Add ``by`` to the popularity of each (item, scenario); a positive ``by`` also makes
        the item a member of the scenario."""
        member = self._grow()
        np.add.at(self._pop[GLOBAL], items, by)
        for s in np.unique(scenarios).tolist():
            sel = items[scenarios == s]
            np.add.at(self._pop[s], sel, by)
            if by > 0 and not member[s][sel].all():
                member[s][sel] = True
                self._stale.add(s)

    def user_history(self, user_idx: int) -> tuple[Histories, slice]:
        """One user's time-ordered events: the stored slice, plus recent events when the user
        has any (then a one-user ``Histories``; O(user's events), never O(total))."""
        if self.recent.count(user_idx):
            return self.recent.history_of(user_idx, self._base)
        if user_idx >= self._base.n_users:
            return Histories.empty(), slice(0, 0)
        return self._base, self._base.slice_of(user_idx)

    def lengths_of(self, user_idx: IdxArray) -> IdxArray:
        """(n,) number of events of each user (stored and recent); 0 for -1 rows."""
        base = self._base.lengths()
        known = (user_idx >= 0) & (user_idx < len(base))
        out = np.where(known, base[np.where(known, user_idx, 0)], 0)
        if len(self.recent):
            out = out + np.where(user_idx >= 0, self.recent.counts(user_idx), 0)
        return out.astype(np.int64)

    def compact(self) -> None:
        """Merge the recent events into the stored histories (O(total events): called before
        whole-data reads, not per event)."""
        if len(self.recent) or self._base.n_users != self.n_users:
            self._base = self.recent.merge_into(self._base, self.n_users)
            self.recent = RecentEvents()
            self._matrices.clear()

    def forget(self, user_id: str) -> Histories | None:
        """Remove a user: their events leave the histories and the popularity counts, and their
        id becomes unknown (``Vocabulary.retire``). Returns their removed events (a one-user
        ``Histories``), or ``None`` for an unknown user. O(total events): it rewrites the
        stored histories, as removing data must."""
        u = self.vocabularies["users"].get(user_id)
        if u is None:
            return None
        h, sl = self.user_history(u)
        gone = Histories.of_one(
            h.item_idx[sl], h.scenario_idx[sl], h.behavior_idx[sl], h.timestamp[sl], h.weight[sl]
        )
        self.recent.forget(u)
        if u < self._base.n_users:
            self._base = self._base.filter(self._base.owners() != u)
        self._count(gone.item_idx, gone.scenario_idx, -1.0)
        self._own_vocabularies()["users"].retire(user_id)
        self._matrices.clear()
        return gone

    def copy(self) -> TrainState:
        """An independent snapshot (the stored histories are shared: they are never changed in
        place). O(recent events + vocabularies + items x scenarios)."""
        out = TrainState.__new__(TrainState)
        out.__dict__.update(self.__dict__)
        out.vocabularies = {k: v.copy() for k, v in self.vocabularies.items()}
        out._owned = True
        out.recent = self.recent.copy()
        out._scenario_items = dict(self.scenario_items)
        out._pop = {k: v.copy() for k, v in self._pop.items()}
        out._member = (
            None if self._member is None else {k: m.copy() for k, m in self._member.items()}
        )
        out._stale = set()
        out._matrices = dict(self._matrices)
        return out

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


def _derived_fingerprint(parent: str | None, tag: str, keep: npt.NDArray[np.bool_]) -> str:
    h = hashlib.sha256(f"{parent}:{tag}".encode())
    h.update(np.packbits(keep).tobytes())
    return h.hexdigest()[:16]


def _or_minus_one(idx: int | None) -> int:
    return -1 if idx is None else idx


__all__ = ["GLOBAL", "TrainState", "UserBatch", "VocabKind"]
