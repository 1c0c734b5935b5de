"""Labels a model learns its ranking from, drawn from its own training events.

For each target scenario, a sample of users lends their newest event there as a label: the
model's parts fit without those events, and what combines them (the CrossScenarioRanker's
ranker, ScenarioFusion's scenario weights) learns to put the held-out items first. A share of the
sampled users lend their *whole* target history instead (label: their newest target event), so
that it also sees users who are cold in the target and learns to rely on their other scenarios.

Recommendations and evaluation leave out the items a user already has, so a label that repeats
one of them (a purchase after a view of the same item) teaches the wrong task: with
``hide_item`` every event of the user on the label's item is held out with it, and the label is
an item new to the user, as the items a model is judged on are.

Items new to the catalogue (known by their text only) are never a label unless some are made
so: with ``new_share``, that share of a target's distinct label items (drawn among the less
used half of the target's items, so that the generators lose few events) loses every event,
by every user, and the labels on them teach a ranker when text alone should bring an item
forward (otherwise it learns that an item nobody has used is never the answer). With
``new_share="auto"`` the share is the target's own rate of new items among answers: the share of
the label events that were the first event on their item in the target (an item chosen when
nobody had used it before), so a ranker learns to bring new items forward as often as the
target's history shows them chosen (on the benchmarks' releases 3-4% on Food and Kitchen, 10-11%
on Art and Office, where it did no better than a fixed 0.1). Without time (one timestamp for
the whole target) it is ``AUTO_FALLBACK``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories
from scenerec.schema import IdxArray

BoolArray = npt.NDArray[np.bool_]

if TYPE_CHECKING:
    from scenerec.models.state import TrainState

AUTO_FALLBACK = 0.1
"""The new-item share of ``new_share="auto"`` for a target whose events carry no time."""


@dataclass(frozen=True)
class Labels:
    """Held-out events per target scenario.

    Attributes:
        keep: (n_events,) False at every held-out event (the generators fit on the rest).
        users: target scenario -> (n,) label users, sorted.
        items: target scenario -> (n,) their held-out item.
        cold: target scenario -> (n,) True where the user has no target event left.
        new: target scenario -> (n,) True where the held-out item is one of the target's
            label-new items (every event on it held out: known by its text only).
        new_share: target scenario -> the share of distinct label items made new there.
        new_items: target scenario -> the label-new items there, sorted.
    """

    keep: BoolArray
    users: dict[int, IdxArray]
    items: dict[int, IdxArray]
    cold: dict[int, BoolArray]
    new: dict[int, BoolArray] = field(default_factory=dict)
    new_share: dict[int, float] = field(default_factory=dict)
    new_items: dict[int, IdxArray] = field(default_factory=dict)

    def count(self, target: int) -> int:
        return len(self.users.get(target, ()))


def draw_labels(
    h: Histories,
    targets: list[int],
    *,
    max_users: int | None,
    cold_share: float,
    seed: int,
    hide_item: bool = False,
    new_share: float | Literal["auto"] = 0.0,
) -> Labels:
    """Draw label users and held-out events for every target scenario (see the module;
    ``hide_item``: also hold out the user's other events on the label's item; ``new_share``:
    that share of the distinct label items, drawn among the less used half of the target's
    items, loses every event, by every user; ``"auto"``: the target's rate of first-time
    choices, ``first_choice_rate``)."""
    rng = np.random.default_rng([seed, 7_001])
    owner = h.owners()
    total = h.lengths()
    n_items = int(h.item_idx.max()) + 1 if h.n_events else 1
    keep = np.ones(h.n_events, bool)
    used = np.bincount(h.item_idx, minlength=n_items)  # events per item
    users: dict[int, IdxArray] = {}
    items: dict[int, IdxArray] = {}
    new_items: dict[int, IdxArray] = {}
    shares: dict[int, float] = {}
    for t in targets:
        in_t = h.scenario_idx == t
        n_t = np.bincount(owner[in_t], minlength=h.n_users)
        # the newest event in t of every user (events are time-ordered within a user)
        newest = np.full(h.n_users, -1, np.int64)
        newest[owner[in_t]] = np.flatnonzero(in_t)
        chosen = np.flatnonzero((n_t >= 1) & (total >= 2))
        if max_users is not None and len(chosen) > max_users:
            chosen = np.sort(rng.choice(chosen, size=max_users, replace=False))
        # cold: every target event hidden, so the user needs events elsewhere
        can_cold = (total[chosen] - n_t[chosen]) >= 1
        is_cold = can_cold & (rng.random(len(chosen)) < cold_share)
        label_item = h.item_idx[newest[chosen]]
        own = np.zeros(h.n_events, bool)  # events held out for the sake of a label user
        own[newest[chosen[~is_cold]]] = True
        own |= np.isin(owner, chosen[is_cold]) & in_t
        if hide_item and len(chosen):
            own |= np.isin(owner * n_items + h.item_idx, chosen * n_items + label_item)
        distinct = np.unique(label_item)
        # new items come from the less used half of the target's items: few events are lost
        # to the generators (those not refitted never learn the items made new)
        tail = distinct[used[distinct] <= np.median(used[np.unique(h.item_idx[in_t])])]
        share = first_choice_rate(h, t, newest[chosen]) if new_share == "auto" else new_share
        shares[t] = round(share, 4)
        n_new = min(round(len(distinct) * share), len(tail))
        new_items[t] = np.sort(rng.choice(tail, size=n_new, replace=False)) if n_new else tail[:0]
        on_new = np.isin(h.item_idx, new_items[t])
        keep &= ~own & ~on_new
        # a user left with no event at all is no label (new users get the fallback): what was
        # held out for them comes back, except events on label-new items
        empty = np.bincount(owner[keep], minlength=h.n_users)[chosen] == 0
        keep[own & ~on_new & np.isin(owner, chosen[empty])] = True
        users[t], items[t] = chosen[~empty], label_item[~empty]
    # a later target's new items may leave an earlier target's label user with nothing: drop
    # such users; whoever has no target event left (all held out, or all on the label's item
    # or on new items) is cold there
    left = np.bincount(owner[keep], minlength=h.n_users)
    cold: dict[int, BoolArray] = {}
    new: dict[int, BoolArray] = {}
    for t in targets:
        ok = left[users[t]] > 0
        users[t], items[t] = users[t][ok], items[t][ok]
        in_t = (h.scenario_idx == t) & keep
        cold[t] = np.bincount(owner[in_t], minlength=h.n_users)[users[t]] == 0
        new[t] = np.isin(items[t], new_items[t])
    return Labels(
        keep=keep,
        users=users,
        items=items,
        cold=cold,
        new=new,
        new_share=shares,
        new_items=new_items,
    )


def first_choice_rate(h: Histories, target: int, events: IdxArray) -> float:
    """The share of ``events`` (rows of ``h`` in ``target``) that are the first event on their
    item in the target, by time (ties count as first): how often the target's users choose an
    item nobody had used there before. ``AUTO_FALLBACK`` when the target's events all share
    one timestamp (no time to tell first from later)."""
    in_t = np.flatnonzero(h.scenario_idx == target)
    if len(events) == 0 or len(in_t) == 0:
        return 0.0
    stamps = h.timestamp[in_t]
    if stamps.min() == stamps.max():
        return AUTO_FALLBACK
    n_items = int(h.item_idx.max()) + 1
    first = np.full(n_items, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, h.item_idx[in_t], stamps)
    return float(np.mean(h.timestamp[events] <= first[h.item_idx[events]]))


def split_labels(
    data: TrainState,
    *,
    max_users: int | None,
    cold_share: float,
    seed: int,
    tag: str,
    hide_item: bool = False,
    new_share: float | Literal["auto"] = 0.0,
) -> tuple[list[int], Labels, TrainState]:
    """The target scenarios (those with items), their labels (``draw_labels``) and the
    training state without the held-out events (what a model fits on before it learns from the
    labels)."""
    targets = [s for s in range(data.n_scenarios) if len(data.items_of_scenario(s))]
    labels = draw_labels(
        data.histories,
        targets,
        max_users=max_users,
        cold_share=cold_share,
        seed=seed,
        hide_item=hide_item,
        new_share=new_share,
    )
    return targets, labels, data.subset(labels.keep, tag=tag)


def hidden_new(
    new_items: IdxArray,
    answers: IdxArray,
    catalog: IdxArray,
    visible: int,
    rng: np.random.Generator,
) -> BoolArray:
    """(n, m) True where a label user's catalogue (``catalog``, sorted) leaves out a label-new
    item: each user sees ``visible`` of them at random, their own answer among them when it
    is one (``answers``: each user's held-out item). A ranker that learns on as many new
    items per user as it will meet when serving learns how often one is the answer; shown
    every label-new item at once, it learns that any one of them rarely is."""
    n, m = len(answers), len(catalog)
    out = np.zeros((n, m), bool)
    cols = np.searchsorted(catalog, new_items)
    cols = cols[(cols < m) & (catalog[np.minimum(cols, m - 1)] == new_items)] if m else cols[:0]
    if len(cols) == 0 or n == 0:
        return out
    out[:, cols] = True
    # a random order of the new items per user, the user's own answer first
    key = rng.random((n, len(cols)))
    key[catalog[cols][None, :] == answers[:, None]] = -1.0
    shown = np.argsort(key, axis=1)[:, : max(visible, 0)]
    rows = np.repeat(np.arange(n), shown.shape[1])
    out[rows, cols[shown.ravel()]] = False
    own = np.isin(answers, new_items)  # an answer is always shown, even with ``visible`` 0
    own_col = np.searchsorted(catalog, answers[own])
    out[np.flatnonzero(own), np.minimum(own_col, m - 1)] = False
    return out


__all__ = [
    "AUTO_FALLBACK",
    "Labels",
    "draw_labels",
    "first_choice_rate",
    "hidden_new",
    "split_labels",
]
