"""Label users a model learns its ranking from: held-out items new to the user with hide_item."""

from __future__ import annotations

import dataclasses

import numpy as np

from scenerec.data.histories import Histories
from scenerec.models.labels import AUTO_FALLBACK, draw_labels, first_choice_rate, hidden_new

TARGET, OTHER = 0, 1


def _histories(users: list[list[tuple[int, int]]]) -> Histories:
    """One list of (item, scenario) events per user, oldest first."""
    flat = [e for u in users for e in u]
    n = len(flat)
    return Histories(
        indptr=np.concatenate([[0], np.cumsum([len(u) for u in users])]).astype(np.int64),
        item_idx=np.array([i for i, _ in flat], np.int64),
        scenario_idx=np.array([s for _, s in flat], np.int64),
        behavior_idx=np.zeros(n, np.int64),
        timestamp=np.arange(n, dtype=np.int64),
        weight=np.ones(n, np.float32),
        query_idx=np.full(n, -1, np.int64),
    )


# user 0 views 5 and 6, then buys 5 (the label repeats an item they have);
# user 1 acts only on item 7 in the target: hiding it would leave nothing;
# user 2 acts on item 8 twice in the target and on 9 elsewhere: hiding 8 makes them cold.
H = _histories(
    [
        [(5, TARGET), (6, TARGET), (5, TARGET)],
        [(7, TARGET), (7, TARGET)],
        [(9, OTHER), (8, TARGET), (8, TARGET)],
    ]
)


def _kept_items(keep: np.ndarray, user: int) -> list[int]:
    sl = H.slice_of(user)
    return [int(i) for i, k in zip(H.item_idx[sl], keep[sl], strict=True) if k]


def test_by_default_only_the_newest_event_is_held_out_even_when_it_repeats_an_item() -> None:
    lab = draw_labels(H, [TARGET], max_users=None, cold_share=0.0, seed=0)
    assert lab.users[TARGET].tolist() == [0, 1, 2]
    assert lab.items[TARGET].tolist() == [5, 7, 8]
    assert _kept_items(lab.keep, 0) == [5, 6]  # the label's item is still in the history
    assert not lab.cold[TARGET].any()


def test_hide_item_holds_out_every_event_on_the_label_item() -> None:
    lab = draw_labels(H, [TARGET], max_users=None, cold_share=0.0, seed=0, hide_item=True)
    assert lab.users[TARGET].tolist() == [0, 2]  # user 1 would be left with no event at all
    assert lab.items[TARGET].tolist() == [5, 8]
    assert _kept_items(lab.keep, 0) == [6]  # the label is an item new to the user
    assert _kept_items(lab.keep, 1) == [7, 7]  # no label: nothing held out
    assert _kept_items(lab.keep, 2) == [9]
    assert lab.cold[TARGET].tolist() == [False, True]  # user 2 has no target event left


def test_new_share_holds_out_every_event_on_the_new_label_items() -> None:
    lab = draw_labels(H, [TARGET], max_users=None, cold_share=0.0, seed=0, new_share=1.0)
    # every label item (5, 7, 8) is new: nobody keeps an event on it
    assert lab.new[TARGET].all()
    kept = H.item_idx[lab.keep]
    assert not np.isin(kept, lab.items[TARGET]).any()
    # user 1 only ever had item 7: no label; users 0 and 2 keep their other items
    assert lab.users[TARGET].tolist() == [0, 2]
    assert _kept_items(lab.keep, 0) == [6]
    assert _kept_items(lab.keep, 2) == [9]
    assert lab.cold[TARGET].tolist() == [False, True]


def test_a_new_item_share_leaves_the_other_items_untouched() -> None:
    # 40 users, each with their own target item twice and a shared item elsewhere
    users = [[(100, OTHER), (i, TARGET), (i, TARGET)] for i in range(40)]
    h = _histories(users)
    lab = draw_labels(h, [TARGET], max_users=None, cold_share=0.0, seed=3, new_share=0.25)
    new = lab.items[TARGET][lab.new[TARGET]]
    assert len(new) == 10  # a quarter of the 40 distinct label items
    on_new = np.isin(h.item_idx, new)
    assert not lab.keep[on_new].any()
    # the others lose only their label event (the newest), as without new items
    assert lab.keep[~on_new].sum() == 40 + 30
    assert lab.cold[TARGET].tolist() == lab.new[TARGET].tolist()


def test_new_items_are_drawn_from_the_less_used_half_of_the_target() -> None:
    # 40 label items used once each, except item 0, which 30 more users had before their label
    users = [[(100, OTHER), (i, TARGET)] for i in range(10)]
    users += [[(0, TARGET), (20 + j, TARGET)] for j in range(30)]
    h = _histories(users)
    lab = draw_labels(h, [TARGET], max_users=None, cold_share=0.0, seed=1, new_share=0.5)
    new = set(lab.items[TARGET][lab.new[TARGET]].tolist())
    assert len(new) == 20
    assert 0 not in new  # the popular item keeps its events (all but user 0's label)
    assert lab.keep[h.item_idx == 0].sum() == 30


# users 0 and 2 choose an item nobody had used in the target before; users 1 and 3 follow
FIRSTS = _histories(
    [
        [(9, OTHER), (1, TARGET)],
        [(9, OTHER), (1, TARGET)],
        [(9, OTHER), (2, TARGET)],
        [(9, OTHER), (2, TARGET)],
    ]
)


def test_first_choice_rate_counts_label_events_that_were_first_on_their_item() -> None:
    newest = np.array([1, 3, 5, 7])  # each user's target event
    assert first_choice_rate(FIRSTS, TARGET, newest) == 0.5
    assert first_choice_rate(FIRSTS, TARGET, newest[[1, 3]]) == 0.0
    no_time = dataclasses.replace(FIRSTS, timestamp=np.zeros(8, np.int64))
    assert first_choice_rate(no_time, TARGET, newest) == AUTO_FALLBACK


def test_an_auto_new_item_share_follows_the_targets_first_choice_rate() -> None:
    lab = draw_labels(FIRSTS, [TARGET], max_users=None, cold_share=0.0, seed=0, new_share="auto")
    assert lab.new_share[TARGET] == 0.5
    # one of the two distinct label items (1 and 2) loses every event
    (new_item,) = set(lab.items[TARGET][lab.new[TARGET]].tolist())
    assert not lab.keep[FIRSTS.item_idx == new_item].any()
    assert lab.keep[FIRSTS.scenario_idx == OTHER].all()
    assert lab.new[TARGET].sum() == 2  # both users who chose it are labels on a new item


def test_each_label_user_sees_a_few_label_new_items_and_always_their_own_answer() -> None:
    catalog = np.arange(100, 140)  # the target's items
    new_items = np.arange(100, 130, 3)  # ten label-new items
    answers = np.array([103, 131, 100, 139])  # rows 0 and 2 answer a new item
    hide = hidden_new(new_items, answers, catalog, 4, np.random.default_rng(0))
    new_cols = np.searchsorted(catalog, new_items)
    shown = (~hide[:, new_cols]).sum(axis=1)
    assert shown.tolist() == [4, 4, 4, 4]  # as many new items as serving will show
    assert not hide[0, 3] and not hide[2, 0]  # their own answer is one of them
    known = np.setdiff1d(np.arange(len(catalog)), new_cols)
    assert not hide[:, known].any()  # every other item stays in every catalogue
    # the sample differs between users (not the same few new items for everyone)
    assert len({tuple(np.flatnonzero(~hide[i, new_cols])) for i in (1, 3)}) == 2
    # with none to show, a new answer is still shown, alone
    none = hidden_new(new_items, answers, catalog, 0, np.random.default_rng(0))
    assert (~none[:, new_cols]).sum(axis=1).tolist() == [1, 0, 1, 0]
