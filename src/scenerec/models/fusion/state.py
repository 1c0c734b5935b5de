"""ScenarioFusion's user state: every user's decayed evidence per scenario.

The text part is ``scenerec.text.users.interest_sums`` (the one definition of a decayed interest
vector) kept un-normalised with a reference time per user (the user's newest event), so that a
new event updates it in O(dim) and gives exactly what a rebuild from all events gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories, decay
from scenerec.schema import FloatMatrix, IdxArray
from scenerec.text.embeddings import QueryEmbeddings
from scenerec.text.users import interest_sums

F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Events:
    """Per-event arrays the fusion model reads (all (n_events,)).

    Attributes:
        user, scenario, item: int64 indices.
        query: int64 row of the event's query vector, -1 without one.
        timestamp: int64 seconds.
        weight: float64 behaviour weight.
    """

    user: IdxArray
    scenario: IdxArray
    item: IdxArray
    query: IdxArray
    timestamp: IdxArray
    weight: F64

    @classmethod
    def of(cls, h: Histories, queries: QueryEmbeddings | None = None) -> Events:
        """The events of ``h`` in its order, with each event's row in ``queries`` (-1 when
        it has no query or ``queries`` is None)."""
        query = np.full(h.n_events, -1, np.int64)
        if queries is not None and h.queries:
            rows = np.append(queries.indices(list(h.queries)), -1)
            query = rows[np.where(h.query_idx >= 0, h.query_idx, -1)]
        return cls(
            user=h.owners(),
            scenario=h.scenario_idx.astype(np.int64),
            item=h.item_idx.astype(np.int64),
            query=query,
            timestamp=h.timestamp.astype(np.int64),
            weight=h.weight.astype(np.float64),
        )

    def __len__(self) -> int:
        return len(self.user)

    def take(self, keep: BoolArray) -> Events:
        return Events(
            self.user[keep],
            self.scenario[keep],
            self.item[keep],
            self.query[keep],
            self.timestamp[keep],
            self.weight[keep],
        )


@dataclass
class UserState:
    """Every user's decayed evidence per scenario, un-normalised so that updates are O(dim).

    Attributes:
        text: float32 (n_users, n_scenarios, d_text) sum of w * decay * (item vector +
            query_weight * query vector); its direction is ``user_interest_vectors``.
        ids: float32 (n_users, n_scenarios, id_dim) sum of w * decay * input id embedding.
        weight: float64 (n_users, n_scenarios) sum of w * decay.
        count: float64 (n_users, n_scenarios) number of events.
        ref: int64 (n_users,) the reference time of the decay (the user's newest event).
    """

    text: FloatMatrix
    ids: FloatMatrix
    weight: F64
    count: F64
    ref: IdxArray

    @classmethod
    def build(
        cls,
        ev: Events,
        n_users: int,
        n_scen: int,
        item_text: FloatMatrix,
        query_text: FloatMatrix,
        id_in: FloatMatrix,
        half_life_s: float,
        query_weight: float,
    ) -> UserState:
        """The state of ``n_users`` users from their events (the refit path).

        Args:
            item_text: float32 (n_items, d_text) item vectors (zero rows without text).
            query_text: float32 (n_queries, d_text) vectors indexed by ``ev.query``.
            id_in: float32 (n_items, id_dim) input id embeddings.
        """
        ref = np.full(n_users, np.iinfo(np.int64).min, np.int64)
        np.maximum.at(ref, ev.user, ev.timestamp)
        ref[ref == np.iinfo(np.int64).min] = 0
        dw = ev.weight * decay(ref[ev.user] - ev.timestamp, half_life_s)
        rows = ev.user * n_scen + ev.scenario
        n_rows = n_users * n_scen
        text = interest_sums(
            rows,
            ev.item,
            dw,
            n_rows,
            item_text,
            queries=ev.query,
            query_vectors=query_text,
            query_weight=query_weight,
        )
        ids = interest_sums(rows, ev.item, dw, n_rows, id_in)
        return cls(
            text=text.astype(np.float32).reshape(n_users, n_scen, item_text.shape[1]),
            ids=ids.astype(np.float32).reshape(n_users, n_scen, -1),
            weight=np.bincount(rows, dw, minlength=n_rows)
            .astype(np.float64)
            .reshape(n_users, n_scen),
            count=np.bincount(rows, minlength=n_rows).astype(np.float64).reshape(n_users, n_scen),
            ref=ref,
        )

    def decayed_weights(self, ev: Events, half_life_s: float) -> F64:
        """Each event's behaviour weight decayed to its user's reference time."""
        out: F64 = ev.weight * decay(self.ref[ev.user] - ev.timestamp, half_life_s)
        return out

    def add(
        self,
        ev: Events,
        item_text: FloatMatrix,
        query_text: FloatMatrix,
        id_in: FloatMatrix,
        half_life_s: float,
        query_weight: float,
    ) -> None:
        """Add events to the decayed sums: O(dim) per event, plus O(S * dim) per touched user
        to move the user's reference time forward."""
        n_scen = self.text.shape[1]
        touched, inv = np.unique(ev.user, return_inverse=True)
        newest = np.full(len(touched), np.iinfo(np.int64).min, np.int64)
        np.maximum.at(newest, inv, ev.timestamp)
        had = self.count[touched].sum(axis=1) > 0
        ref = np.where(had, np.maximum(self.ref[touched], newest), newest)
        scale = np.where(had, decay(ref - self.ref[touched], half_life_s), 1.0)
        self.text[touched] *= scale[:, None, None].astype(np.float32)
        self.ids[touched] *= scale[:, None, None].astype(np.float32)
        self.weight[touched] *= scale[:, None]
        self.ref[touched] = ref
        dw = ev.weight * decay(ref[inv] - ev.timestamp, half_life_s)
        uniq, r_inv = np.unique(ev.user * n_scen + ev.scenario, return_inverse=True)
        add_text = interest_sums(
            r_inv,
            ev.item,
            dw,
            len(uniq),
            item_text,
            queries=ev.query,
            query_vectors=query_text,
            query_weight=query_weight,
        )
        self.text.reshape(-1, self.text.shape[2])[uniq] += add_text.astype(np.float32)
        if self.ids.shape[2]:
            add_ids = interest_sums(r_inv, ev.item, dw, len(uniq), id_in)
            self.ids.reshape(-1, self.ids.shape[2])[uniq] += add_ids.astype(np.float32)
        self.weight.reshape(-1)[uniq] += np.bincount(r_inv, dw, minlength=len(uniq))
        self.count.reshape(-1)[uniq] += np.bincount(r_inv, minlength=len(uniq))

    def grow(self, n_users: int, n_scen: int) -> None:
        """Room for ``n_users`` users and ``n_scen`` scenarios (new rows and columns zero).

        Arrays keep spare rows (``reserve``), so a stream of events from new users costs
        amortised O(dim) per new user instead of a copy of every array each time.
        """
        old_s = self.text.shape[1]
        if n_scen > old_s:

            def widen(a: np.ndarray) -> np.ndarray:
                out = np.zeros((a.shape[0], n_scen, *a.shape[2:]), a.dtype)
                out[:, :old_s] = a
                return out

            self.text, self.ids = widen(self.text), widen(self.ids)
            self.weight, self.count = widen(self.weight), widen(self.count)
        self.text, self.ids = reserve(self.text, n_users), reserve(self.ids, n_users)
        self.weight, self.count = reserve(self.weight, n_users), reserve(self.count, n_users)
        self.ref = reserve(self.ref, n_users)

    def arrays(self, n_users: int) -> dict[str, np.ndarray]:
        """The first ``n_users`` rows (without spare rows), for saving."""
        return {
            "state.text": self.text[:n_users],
            "state.ids": self.ids[:n_users],
            "state.weight": self.weight[:n_users],
            "state.count": self.count[:n_users],
            "state.ref": self.ref[:n_users],
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> UserState:
        return cls(
            a["state.text"], a["state.ids"], a["state.weight"], a["state.count"], a["state.ref"]
        )


def unit(text: np.ndarray) -> FloatMatrix:
    """Rows of ``text`` (..., d) scaled to unit norm (zero rows stay zero), float32."""
    norm = np.linalg.norm(text, axis=-1, keepdims=True)
    out: FloatMatrix = np.divide(text, norm, out=np.zeros(text.shape, np.float32), where=norm > 0)
    return out


def reserve(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for at least ``n`` rows: itself if it has them, else a copy grown by
    half (new rows zero), so that adding rows one by one costs amortised O(row)."""
    if len(a) >= n:
        return a
    out = np.zeros((max(n, len(a) + len(a) // 2 + 16), *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out


__all__ = ["Events", "UserState", "reserve", "unit"]
