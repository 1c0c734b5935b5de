"""Labels a model learns its ranking from, drawn from its own training events.

For each target scenario, a sample of users lends their newest event there as a label: the
model's parts fit without those events, and what combines them (the CrossScenarioRanker's
ranker, ScenarioFusion's scenario weights) learns to put the held-out items first. A share of the
sampled users lend their *whole* target history instead (label: their newest target event), so
that it also sees users who are cold in the target and learns to rely on their other scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories
from scenerec.schema import IdxArray

BoolArray = npt.NDArray[np.bool_]

if TYPE_CHECKING:
    from scenerec.models.state import TrainState


@dataclass(frozen=True)
class Labels:
    """Held-out events per target scenario.

    Attributes:
        keep: (n_events,) False at every held-out event (the generators fit on the rest).
        users: target scenario -> (n,) label users, sorted.
        items: target scenario -> (n,) their held-out item.
        cold: target scenario -> (n,) True where the user's whole target history is held out.
    """

    keep: BoolArray
    users: dict[int, IdxArray]
    items: dict[int, IdxArray]
    cold: dict[int, BoolArray]

    def count(self, target: int) -> int:
        return len(self.users.get(target, ()))


def draw_labels(
    h: Histories, targets: list[int], *, max_users: int | None, cold_share: float, seed: int
) -> Labels:
    """Draw label users and held-out events for every target scenario (see the module)."""
    rng = np.random.default_rng([seed, 7_001])
    owner = h.owners()
    total = h.lengths()
    keep = np.ones(h.n_events, bool)
    users: dict[int, IdxArray] = {}
    items: dict[int, IdxArray] = {}
    cold: dict[int, BoolArray] = {}
    for t in targets:
        in_t = h.scenario_idx == t
        n_t = np.bincount(owner[in_t], minlength=h.n_users)
        # the newest event in t of every user (events are time-ordered within a user)
        newest = np.full(h.n_users, -1, np.int64)
        newest[owner[in_t]] = np.flatnonzero(in_t)
        warm_ok = (n_t >= 1) & (total >= 2)
        chosen = np.flatnonzero(warm_ok)
        if max_users is not None and len(chosen) > max_users:
            chosen = np.sort(rng.choice(chosen, size=max_users, replace=False))
        # cold: every target event hidden, so the user needs events elsewhere
        can_cold = (total[chosen] - n_t[chosen]) >= 1
        is_cold = can_cold & (rng.random(len(chosen)) < cold_share)
        keep[newest[chosen[~is_cold]]] = False
        hide_all = np.isin(owner, chosen[is_cold]) & in_t
        keep[hide_all] = False
        users[t] = chosen
        items[t] = h.item_idx[newest[chosen]]
        cold[t] = is_cold
    return Labels(keep=keep, users=users, items=items, cold=cold)


def split_labels(
    data: TrainState, *, max_users: int | None, cold_share: float, seed: int, tag: str
) -> tuple[list[int], Labels, TrainState]:
    """The target scenarios (those with items), their labels (``draw_labels``) and the
    training state without the held-out events (what a model fits on before it learns from the
    labels)."""
    targets = [s for s in range(data.n_scenarios) if len(data.items_of_scenario(s))]
    labels = draw_labels(
        data.histories, targets, max_users=max_users, cold_share=cold_share, seed=seed
    )
    return targets, labels, data.subset(labels.keep, tag=tag)


__all__ = ["Labels", "draw_labels", "split_labels"]
