"""Events that arrive after a fit (online learning), kept per user in append-only arrays.

``TrainState`` keeps the histories it was fitted on as one frozen ``Histories`` (CSR) and the
events added afterwards here. Adding an event costs amortised O(1): the per-event arrays keep
spare capacity and each user has a list of their rows, so nothing stored is ever rewritten. A
user's full history is their base slice followed by these rows (``TrainState.user_history``);
``TrainState.compact`` merges them into the base when a whole-data view is needed (O(total),
done rarely: before a refit, a save or an evaluation over every user).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from scenerec.data.histories import Histories
from scenerec.schema import FloatMatrix, IdxArray

_COLUMNS = ("item_idx", "scenario_idx", "behavior_idx", "timestamp", "query_idx")


def reserve(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for at least ``n`` rows: ``a`` itself when it has them, else a copy grown
    geometrically (new rows zero), so that adding rows one at a time costs amortised O(row)."""
    if len(a) >= n:
        return a
    grown = np.zeros((max(n, 2 * len(a) + 16), *a.shape[1:]), a.dtype)
    grown[: len(a)] = a
    return grown


@dataclass(frozen=True)
class NewEvents:
    """A batch of events in model indices, in time order (all arrays (n,)).

    Attributes:
        user_idx, item_idx, scenario_idx, behavior_idx: int64 indices.
        timestamp: int64 seconds.
        weight: float32 behaviour weight.
        queries: each event's raw search query, or ``None``.
    """

    user_idx: IdxArray
    item_idx: IdxArray
    scenario_idx: IdxArray
    behavior_idx: IdxArray
    timestamp: IdxArray
    weight: FloatMatrix
    queries: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.user_idx)


class RecentEvents:
    """Append-only per-user event rows (see the module docstring).

    ``queries`` holds the distinct raw queries of these events; ``query_idx`` rows index it.
    """

    def __init__(self) -> None:
        self._cols: dict[str, np.ndarray] = {c: np.zeros(0, np.int64) for c in _COLUMNS}
        self._weight = np.zeros(0, np.float32)
        self._n = 0
        self._rows: dict[int, list[int]] = {}
        self._live = 0
        self.queries: list[str] = []
        self._qpos: dict[str, int] = {}
        # base's queries, their positions, and each recent query's row in base (-1: none)
        self._base_queries: tuple[tuple[str, ...], dict[str, int], list[int]] | None = None

    def __len__(self) -> int:
        """Number of events held (forgotten users' events excluded)."""
        return self._live

    def add(self, ev: NewEvents) -> None:
        """Append ``ev`` (already in time order): O(len(ev)) amortised."""
        n, end = len(ev), self._n + len(ev)
        for c in _COLUMNS:
            self._cols[c] = reserve(self._cols[c], end)
        self._weight = reserve(self._weight, end)
        q = np.full(n, -1, np.int64)
        for j, raw in enumerate(ev.queries):
            if raw:
                pos = self._qpos.setdefault(raw, len(self.queries))
                if pos == len(self.queries):
                    self.queries.append(raw)
                q[j] = pos
        sl = slice(self._n, end)
        self._cols["item_idx"][sl] = ev.item_idx
        self._cols["scenario_idx"][sl] = ev.scenario_idx
        self._cols["behavior_idx"][sl] = ev.behavior_idx
        self._cols["timestamp"][sl] = ev.timestamp
        self._cols["query_idx"][sl] = q
        self._weight[sl] = ev.weight
        for row, u in enumerate(ev.user_idx.tolist(), start=self._n):
            self._rows.setdefault(u, []).append(row)
        self._n = end
        self._live += n

    def count(self, user_idx: int) -> int:
        """How many recent events a user has."""
        return len(self._rows.get(user_idx, ()))

    def counts(self, user_idx: IdxArray) -> IdxArray:
        """(n,) recent events of each user (0 for users without any)."""
        rows = self._rows
        return np.array([len(rows.get(u, ())) for u in user_idx.tolist()], np.int64)

    def users(self) -> list[int]:
        """Users with recent events."""
        return list(self._rows)

    def columns(self, user_idx: int) -> dict[str, np.ndarray]:
        """One user's recent events, in arrival order: the ``Histories`` per-event columns with
        ``query_idx`` rows into ``queries``."""
        rows = np.asarray(self._rows.get(user_idx, ()), np.int64)
        out = {c: a[rows] for c, a in self._cols.items()}
        out["weight"] = self._weight[rows]
        return out

    def forget(self, user_idx: int) -> int:
        """Drop a user's recent events (their array slots are never read again)."""
        rows = self._rows.pop(user_idx, [])
        self._live -= len(rows)
        return len(rows)

    def history_of(self, user_idx: int, base: Histories) -> tuple[Histories, slice]:
        """A user's stored events in ``base`` followed by their recent ones, time-ordered, as a
        one-user ``Histories`` (its ``queries`` are ``base``'s: a recent query that ``base``
        lacks reads as no query). O(user's events)."""
        sl = base.slice_of(user_idx) if user_idx < base.n_users else slice(0, 0)
        new = self.columns(user_idx)
        if self._base_queries is None or self._base_queries[0] is not base.queries:
            self._base_queries = (base.queries, {q: i for i, q in enumerate(base.queries)}, [])
        _, pos, known = self._base_queries
        known.extend(pos.get(q, -1) for q in self.queries[len(known) :])  # amortised O(1)
        q = new["query_idx"]
        new["query_idx"] = np.array([known[i] if i >= 0 else -1 for i in q.tolist()], np.int64)
        cols = {c: np.concatenate([getattr(base, c)[sl], new[c]]) for c in (*_COLUMNS, "weight")}
        order = np.argsort(cols["timestamp"], kind="stable")
        one = Histories(
            indptr=np.array([0, len(order)], np.int64),
            item_idx=cols["item_idx"][order],
            scenario_idx=cols["scenario_idx"][order],
            behavior_idx=cols["behavior_idx"][order],
            timestamp=cols["timestamp"][order],
            weight=cols["weight"][order],
            query_idx=cols["query_idx"][order],
            queries=base.queries,
        )
        return one, slice(0, len(order))

    def merge_into(self, base: Histories, n_users: int) -> Histories:
        """``base`` with these events merged in, for ``n_users`` users, each user's events in
        time order (recent events may be older than stored ones: late arrivals). O(total)."""
        users = sorted(self._rows)
        rows = np.asarray([r for u in users for r in self._rows[u]], np.int64)
        owners = np.repeat(np.asarray(users, np.int64), [len(self._rows[u]) for u in users])
        merged = tuple(sorted(self.queries))
        pos = {q: i for i, q in enumerate(merged)}
        table = np.array([pos[q] for q in self.queries] + [-1], np.int64)
        q = self._cols["query_idx"][rows]
        new = Histories(
            indptr=np.array([0, len(rows)], np.int64),
            item_idx=self._cols["item_idx"][rows],
            scenario_idx=self._cols["scenario_idx"][rows],
            behavior_idx=self._cols["behavior_idx"][rows],
            timestamp=self._cols["timestamp"][rows],
            weight=self._weight[rows],
            query_idx=table[np.where(q >= 0, q, len(self.queries))],
            queries=merged,
        )
        h = base.append(owners, new) if len(rows) else base
        if h.n_users < n_users:  # users known to the vocabulary but without events
            pad = np.full(n_users - h.n_users, h.indptr[-1], np.int64)
            h = replace(h, indptr=np.concatenate([h.indptr, pad]))
        order = np.lexsort((h.timestamp, h.owners()))
        if (order != np.arange(len(order))).any():
            h = replace(h, **{c: getattr(h, c)[order] for c in (*_COLUMNS, "weight")})
        return h

    def copy(self) -> RecentEvents:
        """An independent copy (O(events held))."""
        out = RecentEvents()
        out._cols = {c: a[: self._n].copy() for c, a in self._cols.items()}
        out._weight = self._weight[: self._n].copy()
        out._n, out._live = self._n, self._live
        out._rows = {u: list(r) for u, r in self._rows.items()}
        out.queries, out._qpos = list(self.queries), dict(self._qpos)
        return out


__all__ = ["NewEvents", "RecentEvents", "reserve"]
