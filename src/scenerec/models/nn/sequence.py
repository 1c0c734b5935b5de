"""What the sequence models (SASRec, the CrossScenarioTransformer) share in training: the windows
that make every event of a history a training target, and the next-item softmax.

- ``SequenceConfig``: the settings of both (window length, which windows train, the softmax).
- ``history_windows``: each history cut into windows of ``max_len + 1`` events, newest first,
  so that every event but a user's first is a training target once per epoch (``windows="all"``),
  or only each user's newest window (``"last"``, as the full-cross-entropy SASRec paper trains).
  A window predicts the next event at every position (causal attention); where windows overlap
  (``window_stride < max_len``), a target counts in the newest window only.
- ``NegativeSampler`` / ``Candidates``: what a target is ranked against: every item of its pool
  (full softmax) where the pool has at most ``softmax_max_items`` items, else ``n_negatives``
  shared draws with probability ``q`` proportional to ``(training count + 1) ** negative_power``.
- ``softmax_loss``: cross-entropy over the full pool, or the sampled softmax with the log-q
  correction (every logit minus ``log(n_negatives * q)``, the positive's too, so that the
  sampled loss's gradient follows the full one's; accidental hits of the positive are masked).
  The full softmax is computed a block of rows at a time (``_FullSoftmax``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from pydantic import Field

from scenerec.models.nn.model import NeuralConfig
from scenerec.schema import FloatMatrix, IdxArray

BoolArray = npt.NDArray[np.bool_]


class SequenceConfig(NeuralConfig):
    """Settings every sequence model shares (its ``train`` section holds the loop's).

    Attributes:
        dim: width of item vectors and hidden states.
        layers: transformer blocks.
        heads: attention heads (``dim`` must be a multiple).
        ffn_mult: width of the feed-forward layers, in multiples of ``dim``.
        dropout: dropout on token embeddings and residual branches.
        attention_dropout: dropout on attention weights. 0 by default: on a CPU any attention
            dropout forces torch's unfused attention kernel (several times slower per step).
        max_len: events of each history the model reads (the most recent ones).
        windows: ``all``: every event of a history is a training target each epoch (a long
            history gives several windows); ``last``: only each user's newest ``max_len + 1``
            events train.
        window_stride: how far consecutive windows of one history are apart (``None``:
            ``max_len``, so they share one event). A smaller stride gives the oldest targets of
            each window more context (at least ``max_len - window_stride`` events): the
            encoder's work grows ``max_len / window_stride`` times, the softmax's (once per
            target) does not.
        softmax_max_items: a target whose candidate pool has at most this many items is ranked
            against all of them (full softmax); a larger pool trains with a sampled softmax.
        n_negatives: negatives drawn per batch (and pool) for the sampled softmax.
        negative_power: negatives are drawn with probability proportional to
            ``(training count + 1) ** negative_power``: 0 draws uniformly, 1 by popularity
            (the log-q correction removes the sampling bias either way).
    """

    dim: int = Field(default=64, ge=2)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    ffn_mult: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    attention_dropout: float = Field(default=0.0, ge=0, lt=1)
    max_len: int = Field(default=50, ge=2)
    windows: Literal["all", "last"] = "all"
    window_stride: int | None = Field(default=None, ge=1)
    softmax_max_items: int = Field(default=20_000, ge=0)
    n_negatives: int = Field(default=1024, ge=1)
    negative_power: float = Field(default=0.0, ge=0)


@dataclass(frozen=True)
class Windows:
    """Training windows over CSR histories, left-padded (the newest event in the last column).

    Attributes:
        src: (W, max_len + 1) event positions in the histories' arrays, -1 at padding.
        target: (W, max_len) bool: the event in column ``c + 1`` is a training target of the
            output at column ``c`` (False at padding and at targets of a newer window).
        lengths: (W,) real events per window (for length-bucketed batches).
    """

    src: IdxArray
    target: BoolArray
    lengths: IdxArray

    def __len__(self) -> int:
        return len(self.src)

    @property
    def n_targets(self) -> int:
        return int(self.target.sum())

    def take(self, rows: IdxArray) -> tuple[IdxArray, BoolArray, BoolArray]:
        """``(src, valid, target)`` of some windows, cut to their longest window's columns."""
        src, target = self.src[rows], self.target[rows]
        valid = src >= 0
        first = int(np.argmax(valid.any(axis=0))) if len(rows) else 0
        first = min(first, src.shape[1] - 2)
        return src[:, first:], valid[:, first:], target[:, first:]


def history_windows(
    indptr: IdxArray,
    max_len: int,
    *,
    windows: Literal["all", "last"] = "all",
    stride: int | None = None,
    users: IdxArray | None = None,
) -> Windows:
    """Cut each user's history into training windows (see the module docstring).

    Args:
        indptr: (n_users + 1,) CSR offsets of the histories.
        max_len: inputs per window (a window holds ``max_len + 1`` events).
        windows: ``all`` or ``last``.
        stride: targets a window adds before the next older one (default ``max_len``).
        users: the users to cut (default: all); users with fewer than two events give none.

    Returns:
        ``Windows``; every event but each user's first is a target exactly once (``all``).
    """
    step = max_len if stride is None else min(stride, max_len)
    rows = np.arange(len(indptr) - 1) if users is None else np.asarray(users, np.int64)
    start, n = indptr[rows], indptr[rows + 1] - indptr[rows]
    ok = n >= 2
    start, n = start[ok], n[ok]
    # windows needed to cover targets 1..n-1 (one: the newest, with "last")
    count = np.ones(len(n), np.int64) if windows == "last" else (n - 1 + step - 1) // step
    owner = np.repeat(np.arange(len(n)), count)
    j = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    end = n[owner] - 1 - j * step  # the newest event of each window, within its user
    cols = np.arange(max_len + 1)
    pos = end[:, None] - max_len + cols[None, :]  # event index within the user
    valid = pos >= 0
    src = np.where(valid, start[owner][:, None] + pos, -1).astype(np.int64)
    # targets: columns 1..max_len; a newer window already covers targets above end - step
    is_last = j == count[owner] - 1
    lowest = np.where(is_last | (windows == "last"), 1, end - step + 1)
    t_pos = pos[:, 1:]
    target = (t_pos >= np.maximum(lowest, 1)[:, None]) & valid[:, 1:] & valid[:, :-1]
    return Windows(src, target, valid.sum(axis=1).astype(np.int64))


@dataclass(frozen=True)
class Candidates:
    """What a group of targets is ranked against in one batch.

    Attributes:
        items: the candidate keys: the whole sorted pool (full softmax) or the draws.
        sampled: whether ``items`` are sampled negatives.
        log_q: (len(items),) ``log(n_negatives * q)`` of each draw (sampled only).
    """

    items: IdxArray
    sampled: bool
    log_q: FloatMatrix | None = None


class NegativeSampler:
    """Candidates per pool: the full pool when small enough, else shared sampled negatives.

    Args:
        pools: group (e.g. target scenario) -> sorted item keys that group's targets rank.
        counts: training events per item key (indexable by every pool's keys).
        config: ``softmax_max_items``, ``n_negatives`` and ``negative_power``.
    """

    def __init__(
        self, pools: Mapping[int, IdxArray], counts: FloatMatrix, config: SequenceConfig
    ) -> None:
        self.pools = {int(g): np.asarray(p, np.int64) for g, p in pools.items()}
        self.n = config.n_negatives
        self.full = {g: len(p) <= config.softmax_max_items for g, p in self.pools.items()}
        self._q: dict[int, FloatMatrix] = {}
        for g, pool in self.pools.items():
            if not self.full[g]:
                w = (np.asarray(counts, np.float64)[pool] + 1.0) ** config.negative_power
                self._q[g] = w / w.sum()

    def draw(self, group: int, rng: np.random.Generator) -> Candidates:
        pool = self.pools[group]
        if self.full[group]:
            return Candidates(pool, False)
        q = self._q[group]
        pick = (
            rng.choice(len(pool), size=self.n, p=q)
            if q.std() > 0
            else rng.integers(0, len(pool), self.n)
        )
        return Candidates(pool[pick], True, np.log(self.n * q[pick]).astype(np.float32))

    def log_q(self, group: int, items: IdxArray) -> FloatMatrix:
        """``log(n_negatives * q)`` of items of a sampled pool (the targets' correction)."""
        pool = self.pools[group]
        where = np.searchsorted(pool, items)
        out: FloatMatrix = np.log(self.n * self._q[group][where]).astype(np.float32)
        return out


def softmax_loss(
    user: torch.Tensor,
    cand_vecs: torch.Tensor,
    cands: Candidates,
    targets: torch.Tensor,
    target_vecs: torch.Tensor | None = None,
    target_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summed next-item cross-entropy of N targets against their candidates.

    Args:
        user: (N, d) interest vectors.
        cand_vecs: (M, d) vectors of ``cands.items``.
        cands: the candidates (full pool or sampled).
        targets: (N,) target keys (full: present in the sorted ``cands.items``).
        target_vecs: (N, d) target vectors (sampled only).
        target_log_q: (N,) the targets' ``log(n_negatives * q)`` (sampled only).

    Returns:
        The summed loss (divide by the number of targets of the batch).
    """
    if not cands.sampled:
        labels = torch.searchsorted(torch.from_numpy(cands.items), targets)
        out: torch.Tensor = _FullSoftmax.apply(user, cand_vecs, labels)  # type: ignore[no-untyped-call]
        return out
    if target_vecs is None or target_log_q is None or cands.log_q is None:
        raise ValueError("a sampled softmax needs the targets' vectors and log q")
    pos = (user * target_vecs).sum(-1, keepdim=True) - target_log_q[:, None]
    neg = user @ cand_vecs.T - torch.from_numpy(cands.log_q)[None, :]
    hit = torch.from_numpy(cands.items)[None, :] == targets[:, None]
    neg = neg.masked_fill(hit, float("-inf"))
    logits = torch.cat([pos, neg], dim=1)
    labels = torch.zeros(len(user), dtype=torch.long)
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


# The forward keeps the softmax for the backward when it has at most this many entries (20 MiB
# of float32); a larger one is recomputed there a block at a time. `benchmarks/softmax.py`
# (3,416 items, 64 dimensions, 2 cores): from 6,400 targets (the benchmarks' batches) recomputing
# is 1.2-1.3x faster, since writing and reading the softmax through memory costs more than one
# more cache-sized matrix product per block; below 2,560 the two runs so far disagree (0.7-1.3x).
_STORE_ENTRIES = 5 * 2**20


class _FullSoftmax(torch.autograd.Function):
    """Summed cross-entropy of ``user @ table.T`` against ``labels``, a block of rows at a time.

    The forward works through row blocks whose logits stay in cache: each block's log-sum-exp,
    and, when the whole (N, M) softmax fits ``_STORE_ENTRIES``, the block's softmax, written
    once for the backward. The backward turns each block into ``softmax - onehot`` in place and
    multiplies (recomputing the block's logits first when the softmax was not kept: one more
    matrix product). On a CPU this runs 2-2.5x faster than ``cross_entropy`` over the full
    logits (ML-1M, 12,800 targets x 3,416 items).
    """

    @staticmethod
    def forward(
        ctx: Any, user: torch.Tensor, table: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        rows = _block_rows(len(table))
        lse = torch.empty(len(user), dtype=user.dtype)
        keep = any(ctx.needs_input_grad[:2]) and len(user) * len(table) <= _STORE_ENTRIES
        probs = torch.empty(len(user), len(table), dtype=user.dtype) if keep else None
        for s in range(0, len(user), rows):
            logits = user[s : s + rows] @ table.T
            block_lse = torch.logsumexp(logits, dim=1)
            lse[s : s + rows] = block_lse
            if probs is not None:
                torch.exp(logits.sub_(block_lse[:, None]), out=probs[s : s + rows])
        ctx.save_for_backward(user, table, labels, lse)
        ctx.probs = probs
        return (lse - (user * table[labels]).sum(-1)).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        user, table, labels, lse = ctx.saved_tensors
        probs, ctx.probs = ctx.probs, None
        rows = _block_rows(len(table))
        g_user = torch.empty_like(user)
        g_table = torch.zeros_like(table)
        for s in range(0, len(user), rows):
            u = user[s : s + rows]
            if probs is not None:
                p = probs[s : s + rows]
            else:
                p = torch.sub(u @ table.T, lse[s : s + rows, None]).exp_()
            p[torch.arange(len(u)), labels[s : s + rows]] -= 1.0
            g_user[s : s + rows] = p @ table
            g_table.addmm_(p.T, u)
        return g_user * grad, g_table * grad, None


def _block_rows(n_items: int) -> int:
    """Rows per block so that a block of logits holds about 2 MB."""
    return int(min(max(2**19 // max(n_items, 1), 16), 4096))


__all__ = [
    "Candidates",
    "NegativeSampler",
    "SequenceConfig",
    "Windows",
    "history_windows",
    "softmax_loss",
]
