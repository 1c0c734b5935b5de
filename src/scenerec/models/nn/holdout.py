"""The validation holdout that drives early stopping of the neural models.

One event of each of a random sample of users is held out of training; after every epoch the
model ranks each held-out item among its scenario's items (training items removed) and the mean
NDCG@k is the metric early stopping watches. (Evaluation proper lives in ``scenerec.eval``; this
is the training loop's own signal and depends on nothing above ``models``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scenerec.data.histories import Histories
from scenerec.models.nn.trainer import epoch_seed
from scenerec.schema import IdxArray


@dataclass(frozen=True)
class Holdout:
    """One event of each of a sample of users, held out of training to drive early stopping.

    Attributes:
        keep: (n_events,) bool over the training histories; False at the held-out events.
        users: (n,) user indices.
        items: (n,) held-out item indices.
        scenarios: (n,) their scenario indices.
    """

    keep: npt.NDArray[np.bool_]
    users: IdxArray
    items: IdxArray
    scenarios: IdxArray

    @classmethod
    def none(cls, h: Histories) -> Holdout:
        """Nothing held out."""
        z = np.zeros(0, np.int64)
        return cls(np.ones(h.n_events, bool), z, z, z)

    @classmethod
    def draw(
        cls,
        h: Histories,
        n_users: int,
        *,
        seed: int,
        scenarios: IdxArray | None = None,
        min_events: int = 2,
        pick: Literal["last", "random"] = "last",
    ) -> Holdout:
        """Hold out one event of each of up to ``n_users`` users drawn at random.

        Only users with at least ``min_events`` events are drawn. ``pick="last"`` holds out a
        user's latest event, and draws only users whose latest event lies in one of
        ``scenarios`` (any, if ``None``); ``pick="random"`` holds out one of the user's events
        in ``scenarios`` drawn at random (users with none there are not drawn).
        """
        lengths = np.diff(h.indptr)
        ok = lengths >= min_events
        rng = np.random.default_rng(epoch_seed(seed, -1, 7))
        if pick == "last":
            in_scope = np.zeros(len(h.item_idx), bool)
            in_scope[np.maximum(h.indptr[1:] - 1, 0)[lengths > 0]] = True
        else:
            in_scope = np.ones(len(h.item_idx), bool)
        if scenarios is not None and len(h.scenario_idx):
            in_scope &= np.isin(h.scenario_idx, scenarios)
        cum = np.concatenate([[0], np.cumsum(in_scope)])
        counts = cum[h.indptr[1:]] - cum[h.indptr[:-1]]
        candidates = np.flatnonzero(ok & (counts > 0))
        if n_users == 0 or len(candidates) == 0:
            return cls.none(h)
        users = np.sort(rng.choice(candidates, size=min(n_users, len(candidates)), replace=False))
        scope_pos = np.flatnonzero(in_scope)  # sorted event positions, grouped by user
        first = np.searchsorted(scope_pos, h.indptr[users])
        nth = (rng.random(len(users)) * counts[users]).astype(np.int64)
        events = scope_pos[first + nth]
        keep = np.ones(len(h.item_idx), bool)
        keep[events] = False
        return cls(keep, users, h.item_idx[events], h.scenario_idx[events])

    def __len__(self) -> int:
        return len(self.users)

    def ndcg(
        self,
        score: Callable[[IdxArray, int, IdxArray], np.ndarray],
        scenario_items: Mapping[int, IdxArray],
        seen: sp.csr_matrix,
        k: int = 10,
        batch_size: int = 512,
    ) -> float:
        """Mean NDCG@k of the held-out items over full rankings of their scenario's items.

        Args:
            score: ``(users, scenario_idx, items) -> (len(users), len(items))`` scores.
            scenario_items: scenario index -> candidate item indices.
            seen: (n_users, n_items) training interactions, removed from each ranking.
            k: cut-off.
            batch_size: users scored at once.
        """
        if len(self) == 0:
            return float("nan")
        total = 0.0
        for s in np.unique(self.scenarios):
            items = scenario_items.get(int(s), np.zeros(0, np.int64))
            if len(items) == 0:
                continue  # nothing to rank: counts as a miss
            in_s = np.flatnonzero(self.scenarios == s)
            for start in range(0, len(in_s), batch_size):
                rows = in_s[start : start + batch_size]
                total += self._gains(score, int(s), items, rows, seen, k)
        return total / len(self)

    def _gains(
        self,
        score: Callable[[IdxArray, int, IdxArray], np.ndarray],
        s: int,
        items: IdxArray,
        rows: IdxArray,
        seen: sp.csr_matrix,
        k: int,
    ) -> float:
        users = self.users[rows]
        scores = np.asarray(score(users, s, items), np.float32).copy()
        pos = np.searchsorted(items, self.items[rows])
        found = (pos < len(items)) & (items[np.minimum(pos, len(items) - 1)] == self.items[rows])
        sub = seen[users][:, items].tocoo()
        scores[sub.row, sub.col] = -np.inf
        target = scores[np.arange(len(rows)), np.minimum(pos, len(items) - 1)]
        rank = (scores > target[:, None]).sum(axis=1)
        gains = np.where(found & (rank < k), 1.0 / np.log2(rank + 2.0), 0.0)
        return float(gains.sum())


__all__ = ["Holdout"]
