"""Label users a model learns its ranking from: held-out items new to the user with hide_item."""

from __future__ import annotations

import numpy as np

from scenerec.data.histories import Histories
from scenerec.models.labels import draw_labels

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
