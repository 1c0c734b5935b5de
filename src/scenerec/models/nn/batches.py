"""Batches for the neural models: a reproducible shuffled loader and windows over histories.

``IndexBatches`` yields mini-batches of row indices reshuffled every epoch from (seed, epoch),
optionally grouped by length; ``last_windows`` / ``batch_windows`` cut the newest events of each
history into left-padded fixed-length arrays; ``log_gap_buckets`` turns time gaps into tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories
from scenerec.errors import ConfigError
from scenerec.models.nn.trainer import epoch_seed
from scenerec.models.state import UserBatch
from scenerec.schema import IdxArray


class IndexBatches:
    """Mini-batches over rows ``0..n-1``, reshuffled every epoch from (seed, epoch).

    ``collate(rows, rng)`` turns one batch of row indices (int64) into whatever the loss function
    takes; ``rng`` is a numpy Generator seeded from (seed, epoch, batch), for negative sampling.
    With ``lengths`` (e.g. sequence lengths), rows are grouped into batches of similar length:
    each epoch shuffles the rows, sorts them by length within pools of ``bucket`` batches, cuts
    the pools into batches and shuffles the batches, so padding shrinks while every epoch still
    sees different batch compositions in a random order.

    Args:
        n: number of rows.
        batch_size: rows per batch (the last batch of a pool may be smaller).
        collate: builds a batch.
        seed: shuffling seed.
        shuffle: shuffle rows every epoch.
        lengths: (n,) optional row lengths for length-bucketed batches.
        bucket: batches per sorting pool (with ``lengths``).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        collate: Callable[[IdxArray, np.random.Generator], Any],
        *,
        seed: int = 0,
        shuffle: bool = True,
        lengths: IdxArray | None = None,
        bucket: int = 50,
    ) -> None:
        if lengths is not None and len(lengths) != n:
            raise ConfigError(f"lengths has {len(lengths)} entries for {n} rows")
        self.n = n
        self.batch_size = batch_size
        self.collate = collate
        self.seed = seed
        self.shuffle = shuffle
        self.lengths = lengths
        self.bucket = bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[IdxArray]:
        rng = np.random.default_rng(epoch_seed(self.seed, self.epoch, 1))
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        size = self.batch_size
        if self.lengths is None:
            return [order[i : i + size] for i in range(0, self.n, size)]
        out: list[IdxArray] = []
        pool = size * self.bucket
        for start in range(0, self.n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        if self.shuffle:
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def __len__(self) -> int:
        if self.lengths is None:
            return (self.n + self.batch_size - 1) // self.batch_size
        pool = self.batch_size * self.bucket
        full, rest = divmod(self.n, pool)
        return full * self.bucket + (rest + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Any]:
        for b, rows in enumerate(self._batches()):
            rng = np.random.default_rng(epoch_seed(self.seed, self.epoch, b + 2))
            yield self.collate(rows.astype(np.int64), rng)


def last_windows(
    indptr: IdxArray, users: IdxArray, max_len: int, fields: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], npt.NDArray[np.bool_]]:
    """The last ``max_len`` events of each user, left-padded so the newest is in the last column.

    Args:
        indptr: (n_users + 1,) CSR offsets of the event arrays.
        users: (n,) rows to take.
        max_len: window length L.
        fields: name -> (n_events,) array aligned with the offsets.

    Returns:
        ``(windows, valid)``: name -> (n, L) arrays (padding holds 0) and the (n, L) bool mask of
        real events.
    """
    users = np.asarray(users, np.int64)
    ends = indptr[users + 1]
    lens = np.minimum(ends - indptr[users], max_len)
    cols = np.arange(max_len)
    valid = cols[None, :] >= (max_len - lens)[:, None]
    src = np.where(valid, ends[:, None] - max_len + cols[None, :], 0)
    out = {}
    for name, arr in fields.items():
        w = arr[src] if len(arr) else np.zeros(src.shape, arr.dtype)
        out[name] = np.where(valid, w, 0).astype(arr.dtype, copy=False)
    return out, valid


def batch_windows(
    users: UserBatch,
    max_len: int,
    known_indptr: IdxArray,
    known_fields: Mapping[str, np.ndarray],
    fields_of: Callable[[Histories], Mapping[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], npt.NDArray[np.bool_]]:
    """``last_windows`` for a ``UserBatch``: trained users from precomputed arrays, ad-hoc rows
    from ``fields_of(their Histories)`` (a model's own per-event features, e.g. shifted ids).

    Args:
        users: the batch.
        max_len: window length L.
        known_indptr: offsets of ``known_fields`` (the model's view of the training histories).
        known_fields: name -> per-event arrays of the training histories.
        fields_of: per-event arrays of one ad-hoc ``Histories`` (same names; all the same
            length, which may be shorter than the history when the model drops events).

    Returns:
        ``(windows, valid)`` as in ``last_windows``, one row per batch row.
    """
    rows = np.maximum(users.user_idx, 0)
    out, valid = last_windows(known_indptr, rows, max_len, known_fields)
    for i in users.adhoc:
        h, _ = users.history(i)
        fields = fields_of(h)
        # fields_of may drop events (a model reading one scenario): offsets follow its output.
        n = len(next(iter(fields.values()))) if fields else 0
        indptr = np.array([0, n], np.int64)
        one, v = last_windows(indptr, np.zeros(1, np.int64), max_len, fields)
        for name in out:
            out[name][i] = one[name][0]
        valid[i] = v[0]
    return out, valid


def log_gap_buckets(timestamp: IdxArray, indptr: IdxArray, n_buckets: int) -> IdxArray:
    """Bucketised log2 time gap to the previous event of the same user (0 for the first).

    Bucket ``b`` >= 1 holds gaps in ``[2**(b-1) - 1, 2**b - 1)`` seconds (gap 0 -> bucket 1);
    gaps beyond the last bucket fall into it.
    """
    gap = np.zeros(len(timestamp), np.float64)
    if len(timestamp) > 1:
        gap[1:] = np.maximum(np.diff(timestamp), 0)
    first = indptr[:-1][np.diff(indptr) > 0]
    buckets = 1 + np.floor(np.log2(1.0 + gap)).astype(np.int64)
    buckets = np.minimum(buckets, n_buckets - 1)
    buckets[first] = 0
    return buckets


__all__ = ["IndexBatches", "batch_windows", "last_windows", "log_gap_buckets"]
