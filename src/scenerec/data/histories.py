"""Per-user event histories: the one view of training events that every model reads.

``Histories`` keeps every user's events across scenarios in time order, in CSR layout: the events
of user ``u`` are rows ``indptr[u]:indptr[u+1]`` of every per-event array (item, scenario,
behaviour, time, behaviour weight and search query). It is built once from an events table
(``Histories.from_events``) and everything else derives from it: the user x item matrix
(``matrix``, the one sparse builder), item popularity, training windows.

Also the one home of two small formulas used across the library:

- ``weigh_behaviors``: behaviour name -> weight (behaviours not listed weigh 1);
- ``decay``: exponential time decay ``0.5 ** (age / half_life)``, with both in **seconds**
  (configs that speak in days convert with ``DAY_SECONDS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from scenerec.errors import SchemaError
from scenerec.schema import C, FloatMatrix, IdxArray

DAY_SECONDS: Final = 86_400.0
BoolArray = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]


def weigh_behaviors(behaviors: pl.Series, weights: Mapping[str, float]) -> pl.Series:
    """Float32 weight of each behaviour value; behaviours not in ``weights`` weigh 1."""
    return behaviors.cast(pl.String).replace_strict(
        list(weights), list(weights.values()), default=1.0, return_dtype=pl.Float32
    )


def decay(age_s: npt.ArrayLike, half_life_s: float) -> F64:
    """``0.5 ** (age / half_life)`` elementwise, float64; ``math.inf`` disables decay (all 1).

    Args:
        age_s: ages in seconds (>= 0 for past events).
        half_life_s: an event this many seconds old counts half; must be > 0.
    """
    if not half_life_s > 0:
        raise SchemaError(
            f"half-life must be > 0 seconds (got {half_life_s})",
            fix="use math.inf (or half_life_days: null) for no decay",
        )
    age = np.asarray(age_s, np.float64)
    if math.isinf(half_life_s):
        return np.ones(age.shape)
    out: F64 = np.exp2(-age / half_life_s)
    return out


def interaction_matrix(
    rows: IdxArray,
    cols: IdxArray,
    shape: tuple[int, int],
    values: npt.ArrayLike | None = None,
    *,
    binary: bool = False,
) -> sp.csr_matrix:
    """Float32 CSR with ``values`` (default 1) summed over repeated (row, col) pairs; with
    ``binary`` every stored entry is 1. The one place a sparse interaction matrix is built."""
    vals = np.ones(len(rows), np.float32) if values is None or binary else values
    m = sp.csr_matrix(
        (np.asarray(vals, np.float32), (np.asarray(rows), np.asarray(cols))), shape=shape
    )
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


@dataclass(frozen=True)
class Histories:
    """Per-user time-ordered event arrays across all scenarios (CSR layout).

    The events of user ``u`` are rows ``indptr[u]:indptr[u+1]`` of the other arrays, ordered by
    timestamp (ties keep input order).

    Attributes:
        indptr: (n_users + 1,) int64 offsets.
        item_idx, scenario_idx, behavior_idx: (n_events,) int64; ``scenario_idx`` is -1 for an
            event whose scenario is unknown (ad-hoc histories only).
        timestamp: (n_events,) int64 seconds.
        weight: (n_events,) float32 behaviour weight.
        query_idx: (n_events,) int64 row into ``queries``; -1 when the event has no query.
        queries: the distinct non-blank raw search queries, sorted.
    """

    indptr: IdxArray
    item_idx: IdxArray
    scenario_idx: IdxArray
    behavior_idx: IdxArray
    timestamp: IdxArray
    weight: FloatMatrix
    query_idx: IdxArray
    queries: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_events(
        cls,
        events: pl.DataFrame,
        n_users: int,
        behaviors: Sequence[str],
        weights: Mapping[str, float],
    ) -> Histories:
        """Histories of an events table carrying ``user_idx``, ``item_idx``, ``scenario_idx``,
        ``behavior``, ``timestamp`` (and optionally ``query``) columns.

        Args:
            events: the events; row order breaks timestamp ties.
            n_users: number of users (rows of ``indptr``).
            behaviors: the behaviour vocabulary (``behavior_idx`` positions; unknown -> 0).
            weights: behaviour weights (``weigh_behaviors``).
        """
        cols = [C.USER_IDX, C.ITEM_IDX, C.SCENARIO_IDX, C.BEHAVIOR, C.TIMESTAMP]
        has_query = C.QUERY in events.columns
        ev = (
            events.select([*cols, C.QUERY] if has_query else cols)
            .with_row_index("_order")
            .sort([C.USER_IDX, C.TIMESTAMP, "_order"])
        )
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(ev[C.USER_IDX].to_numpy(), minlength=n_users), out=indptr[1:])
        beh = pl.Series(list(behaviors), dtype=pl.String)
        behavior_idx = (
            ev[C.BEHAVIOR]
            .replace_strict(
                beh, pl.arange(0, len(beh), eager=True), default=0, return_dtype=pl.Int64
            )
            .to_numpy()
        )
        queries: tuple[str, ...] = ()
        query_idx = np.full(ev.height, -1, np.int64)
        if has_query:
            raw = ev[C.QUERY].cast(pl.String)
            blank = raw.is_null() | (raw.str.strip_chars() == "")
            queries = tuple(sorted(raw.filter(~blank).unique().to_list()))
            pos = pl.Series(list(queries), dtype=pl.String)
            found = raw.replace_strict(
                pos, pl.arange(0, len(pos), eager=True), default=-1, return_dtype=pl.Int64
            )
            query_idx = np.where(blank.to_numpy(), -1, found.to_numpy())
        return cls(
            indptr=indptr,
            item_idx=ev[C.ITEM_IDX].to_numpy().astype(np.int64),
            scenario_idx=ev[C.SCENARIO_IDX].to_numpy().astype(np.int64),
            behavior_idx=behavior_idx.astype(np.int64),
            timestamp=ev[C.TIMESTAMP].to_numpy().astype(np.int64),
            weight=weigh_behaviors(ev[C.BEHAVIOR], weights).to_numpy().astype(np.float32),
            query_idx=query_idx.astype(np.int64),
            queries=queries,
        )

    @classmethod
    def of_one(
        cls,
        item_idx: IdxArray,
        scenario_idx: IdxArray,
        behavior_idx: IdxArray,
        timestamp: IdxArray,
        weight: npt.ArrayLike,
    ) -> Histories:
        """One user's history from per-event arrays (already in time order), without queries."""
        n = len(item_idx)
        return cls(
            indptr=np.array([0, n], np.int64),
            item_idx=np.asarray(item_idx, np.int64),
            scenario_idx=np.asarray(scenario_idx, np.int64),
            behavior_idx=np.asarray(behavior_idx, np.int64),
            timestamp=np.asarray(timestamp, np.int64),
            weight=np.asarray(weight, np.float32),
            query_idx=np.full(n, -1, np.int64),
        )

    @classmethod
    def empty(cls, n_users: int = 1) -> Histories:
        """``n_users`` users without events."""
        z = np.zeros(0, np.int64)
        return cls(np.zeros(n_users + 1, np.int64), z, z, z, z, np.zeros(0, np.float32), z)

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_events(self) -> int:
        return len(self.item_idx)

    def lengths(self) -> IdxArray:
        """(n_users,) events per user."""
        return np.diff(self.indptr)

    def owners(self) -> IdxArray:
        """(n_events,) the user of each event."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths())

    def items_of(self, user_idx: int) -> IdxArray:
        return self.item_idx[self.indptr[user_idx] : self.indptr[user_idx + 1]]

    def slice_of(self, user_idx: int) -> slice:
        return slice(int(self.indptr[user_idx]), int(self.indptr[user_idx + 1]))

    def filter(self, keep: BoolArray) -> Histories:
        """The same users with only the events where ``keep`` is True (order kept)."""
        indptr = np.zeros(len(self.indptr), np.int64)
        np.cumsum(np.bincount(self.owners()[keep], minlength=self.n_users), out=indptr[1:])
        return replace(self, indptr=indptr, **{n: getattr(self, n)[keep] for n in _EVENT_ARRAYS})

    def in_scenario(self, scenario_idx: int | None) -> Histories:
        """Only the events of one scenario (all of them for ``None``)."""
        return self if scenario_idx is None else self.filter(self.scenario_idx == scenario_idx)

    def matrix(
        self, n_items: int, *, scenario_idx: int | None = None, binary: bool = False
    ) -> sp.csr_matrix:
        """(n_users, n_items) float32 CSR of summed behaviour weights (1s with ``binary``),
        over one scenario's events or all."""
        users = self.owners()
        sel = slice(None) if scenario_idx is None else self.scenario_idx == scenario_idx
        return interaction_matrix(
            users[sel],
            self.item_idx[sel],
            (self.n_users, n_items),
            None if binary else self.weight[sel],
            binary=binary,
        )

    def item_counts(self, n_items: int, scenario_idx: int | None = None) -> FloatMatrix:
        """(n_items,) float32 number of events per item (in one scenario, or all)."""
        items = (
            self.item_idx
            if scenario_idx is None
            else self.item_idx[self.scenario_idx == scenario_idx]
        )
        return np.bincount(items, minlength=n_items).astype(np.float32)

    def home_scenarios(self, n_items: int, n_scenarios: int) -> IdxArray:
        """(n_items,) each item's most frequent scenario in the events (lowest on ties); -1
        for items without events."""
        home = np.full(n_items, -1, np.int64)
        known = self.scenario_idx >= 0
        if not known.any():
            return home
        counts = np.zeros((n_items, n_scenarios), np.int64)
        np.add.at(counts, (self.item_idx[known], self.scenario_idx[known]), 1)
        has = counts.sum(axis=1) > 0
        home[has] = counts[has].argmax(axis=1)
        return home

    # ------------------------------------------------------------------ growth
    def append(self, users: IdxArray, events: Histories) -> Histories:
        """These histories with one user's worth of new events per entry of ``users`` added.

        Args:
            users: (n_new,) owner of each new event, in the same order as ``events``' arrays
                (which must be in time order; each new event goes after its user's existing
                ones). Users beyond ``n_users`` grow the histories.
            events: the new events (its ``indptr`` is ignored; its query rows index its own
                ``queries``, which are merged into these).
        """
        n_users = max(self.n_users, int(users.max()) + 1 if len(users) else 0)
        indptr = np.concatenate(
            [self.indptr, np.full(n_users + 1 - len(self.indptr), self.indptr[-1])]
        )
        order = np.argsort(users, kind="stable")
        pos = indptr[users[order] + 1]
        merged = tuple(sorted(set(self.queries) | set(events.queries)))
        new_q = _remap_queries(events.query_idx, events.queries, merged)
        own_q = _remap_queries(self.query_idx, self.queries, merged)
        counts = np.bincount(users, minlength=n_users)
        grown = {
            n: np.insert(getattr(self, n), pos, getattr(events, n)[order])
            for n in _EVENT_ARRAYS
            if n != "query_idx"
        }
        return Histories(
            indptr=indptr + np.concatenate([[0], np.cumsum(counts)]),
            query_idx=np.insert(own_q, pos, new_q[order]),
            queries=merged,
            **grown,
        )

    # ------------------------------------------------------------------ persistence
    def arrays(self, prefix: str = "h.") -> dict[str, np.ndarray]:
        """Plain arrays for safetensors (queries are saved separately, as JSON)."""
        return {prefix + n: getattr(self, n) for n in ("indptr", *_EVENT_ARRAYS)}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], queries: Sequence[str], prefix: str = "h."
    ) -> Histories:
        """Inverse of ``arrays``."""
        try:
            return cls(
                **{n: arrays[prefix + n] for n in ("indptr", *_EVENT_ARRAYS)},
                queries=tuple(queries),
            )
        except KeyError as exc:
            raise SchemaError(f"histories lack array {exc.args[0]!r}") from None


def _remap_queries(
    query_idx: IdxArray, queries: tuple[str, ...], merged: tuple[str, ...]
) -> IdxArray:
    """Query rows into ``queries`` re-expressed as rows into ``merged`` (-1 stays -1)."""
    if queries == merged:
        return query_idx
    pos = {q: i for i, q in enumerate(merged)}
    table = np.array([pos[q] for q in queries] + [-1], np.int64)
    out: IdxArray = table[np.where(query_idx >= 0, query_idx, len(queries))]
    return out


_EVENT_ARRAYS: Final = tuple(
    f.name for f in fields(Histories) if f.name not in ("indptr", "queries")
)

__all__ = [
    "DAY_SECONDS",
    "Histories",
    "decay",
    "interaction_matrix",
    "weigh_behaviors",
]
