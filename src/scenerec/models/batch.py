"""The users a model scores (``UserBatch``): known users, online users and ad-hoc histories,
read the same way (see ``models.state.TrainState``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from scenerec.data.histories import Histories
from scenerec.schema import IdxArray

if TYPE_CHECKING:
    from scenerec.models.state import TrainState


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
        return self.train.user_history(u)

    def lengths(self) -> IdxArray:
        """(n,) number of events of each row."""
        out = self.train.lengths_of(self.user_idx)
        for i, h in self.adhoc.items():
            out[i] = h.n_events
        return out

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
        t = self.train
        if (
            not self.adhoc
            and (self.user_idx >= 0).all()
            and (self.user_idx < t.base_histories.n_users).all()
            and not (len(t.recent) and t.recent.counts(self.user_idx).any())
        ):
            return t.base_matrix(scenario_idx, binary=binary)[self.user_idx]
        return self.histories().matrix(self.train.n_items, scenario_idx=scenario_idx, binary=binary)

    def with_recent(self, n_stored: int) -> UserBatch:
        """This batch with each row whose user has events beyond the stored histories (added
        online, or a user new since; ``n_stored`` = the stored histories' users) turned into an
        ad-hoc history of its own: a model that reads precomputed arrays of the stored
        histories reads those users' new events in O(their events)."""
        t = self.train
        rows = [
            i
            for i, u in enumerate(self.user_idx.tolist())
            if i not in self.adhoc and u >= 0 and (u >= n_stored or t.recent.count(u))
        ]
        if not rows:
            return self
        adhoc = dict(self.adhoc)
        for i in rows:
            h, sl = t.user_history(int(self.user_idx[i]))
            adhoc[i] = Histories.of_one(
                h.item_idx[sl],
                h.scenario_idx[sl],
                h.behavior_idx[sl],
                h.timestamp[sl],
                h.weight[sl],
            )
        idx = self.user_idx.copy()
        idx[rows] = -1  # read from ``adhoc``, not from the stored histories
        return UserBatch(idx, self.scenario_idx, t, adhoc)


__all__ = ["UserBatch"]
