"""Batches: the shuffled loader, length buckets, history windows, time-gap tokens."""

from __future__ import annotations

import numpy as np

from scenerec.models.nn import IndexBatches, last_windows, log_gap_buckets
from tests.models.nn.helpers import histories


def test_index_batches_cover_every_row_and_reshuffle_per_epoch() -> None:
    batches = IndexBatches(10, 3, lambda rows, _rng: rows, seed=0)
    epoch0 = list(batches)
    assert [len(b) for b in epoch0] == [3, 3, 3, 1]
    assert sorted(np.concatenate(epoch0).tolist()) == list(range(10))
    assert [b.tolist() for b in batches] == [b.tolist() for b in epoch0]  # same epoch, same order
    batches.set_epoch(1)
    assert np.concatenate(list(batches)).tolist() != np.concatenate(epoch0).tolist()


def test_last_windows_left_pads_and_keeps_the_newest_events() -> None:
    h = histories([5, 0, 2])
    win, valid = last_windows(h.indptr, np.array([0, 1, 2]), 3, {"item": h.item_idx})
    assert win["item"].tolist() == [[102, 103, 104], [0, 0, 0], [0, 105, 106]]
    assert valid.tolist() == [[True] * 3, [False] * 3, [False, True, True]]


def test_log_gap_buckets_grow_with_the_gap_and_reset_per_user() -> None:
    ts = np.array([0, 1, 5, 1000, 50, 50], np.int64)
    indptr = np.array([0, 4, 6], np.int64)
    b = log_gap_buckets(ts, indptr, 8)
    assert b[0] == 0 and b[4] == 0  # first event of each user
    assert b[1] < b[2] < b[3] and b[3] == 7  # capped at the last bucket
    assert b[5] == 1  # zero gap


def test_length_buckets_group_similar_lengths_and_cover_every_row() -> None:
    lengths = np.random.default_rng(0).integers(1, 100, size=1000)
    batches = IndexBatches(1000, 10, lambda rows, _rng: rows, seed=0, lengths=lengths, bucket=20)
    got = list(batches)
    assert len(got) == len(batches)
    assert sorted(np.concatenate(got).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in got])
    assert spread < 15  # random batches of 10 would spread over ~80
    starts = [int(b[0]) for b in got]
    batches.set_epoch(1)
    assert [int(b[0]) for b in batches] != starts
