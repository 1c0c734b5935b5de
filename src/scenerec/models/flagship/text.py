"""Language-model features of the CrossScenarioRanker: item text vectors and, per user, interest
vectors over their history in the target scenario, in the other scenarios and overall.

Two ways to score an item by text: ``scores`` (cosine with the user's interest vector: one point
per user, the centre of their history) and ``nearest`` (the item's best cosine with any one item
the user had: a user of several distinct interests is matched on each). The second finds new
items better where they must be picked from thousands without an event (BENCHMARKS.md).

An interest vector is ``scenerec.text.users.interest_sums`` (the one decayed-interest definition)
over the user's events, each weighted by its behaviour weight times ``recency ** age``, where age
counts events, not seconds (the newest event has age 0): data that only has an order works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scenerec.data.histories import Histories
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray
from scenerec.text.embeddings import encode_items
from scenerec.text.encoder import EncoderConfig, l2_normalize, make_encoder
from scenerec.text.templates import ItemTextTemplate
from scenerec.text.users import interest_sums

BoolArray = npt.NDArray[np.bool_]
LAST = 3  # the user's newest events compared one by one with each candidate
_BLOCK = 1 << 24  # most (history event x item) cosines held at once by ``nearest``


@dataclass
class UserText:
    """Unit interest vectors of a batch of users (zero rows without text evidence).

    Attributes:
        target: (n, d) over the user's events in the target scenario.
        other: (n, d) over their events in other scenarios.
        overall: (n, d) over all their events.
        last: (n, LAST, d) vectors of their newest events' items (zero where none).
    """

    target: FloatMatrix
    other: FloatMatrix
    overall: FloatMatrix
    last: FloatMatrix


class ItemText:
    """Item text vectors (from the catalog at fit time) and user interest vectors."""

    def __init__(self, vectors: FloatMatrix, has_text: BoolArray, recency: float) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.has_text = has_text.astype(bool)
        self.recency = recency

    @classmethod
    def encode(
        cls,
        state: TrainState,
        encoder: EncoderConfig,
        template: ItemTextTemplate,
        *,
        cache: bool,
        recency: float,
    ) -> ItemText:
        """Encode every catalog item's text (zero vectors for items without text)."""
        n = state.n_items
        if state.catalog is None:
            return cls(np.zeros((n, 1), np.float32), np.zeros(n, bool), recency)
        emb = encode_items(state.catalog, make_encoder(encoder, cache=cache), template)
        return cls(emb.vectors, emb.has_text, recency)

    @property
    def n_with_text(self) -> int:
        return int(self.has_text.sum())

    def users(self, batch: UserBatch, target: int) -> UserText:
        """Interest vectors of the batch's users for ``target``."""
        h = batch.histories()
        n, d = len(batch), self.vectors.shape[1]
        owner = h.owners()
        age = _age(h)
        w = h.weight.astype(np.float64) * np.power(self.recency, age)
        other = (h.scenario_idx != target).astype(np.int64)
        sums = interest_sums(owner * 2 + other, h.item_idx, w, 2 * n, self.vectors)
        sums = sums.reshape(n, 2, d)
        last = np.zeros((n, LAST, d), np.float32)
        newest = age < LAST
        last[owner[newest], age[newest]] = self.vectors[h.item_idx[newest]]
        return UserText(
            target=l2_normalize(sums[:, 0]).astype(np.float32),
            other=l2_normalize(sums[:, 1]).astype(np.float32),
            overall=l2_normalize(sums.sum(axis=1)).astype(np.float32),
            last=last,
        )

    def scores(self, batch: UserBatch, target: int, items: IdxArray) -> FloatMatrix:
        """Cosine of each user's overall interest vector with each item's text; a NaN row for
        users without text evidence (no signal)."""
        u = self.users(batch, target).overall
        out: FloatMatrix = (u @ self.vectors[items].T).astype(np.float32)
        out[~u.any(axis=1)] = np.nan
        return out

    def nearest(self, batch: UserBatch, items: IdxArray) -> tuple[FloatMatrix, BoolArray]:
        """(scores (n, m), rows without signal): each item's best cosine with an item of the
        user's history (events of positive weight on items with text, in any scenario); NaN
        rows for users without such events, NaN columns for items without text."""
        h = batch.histories()
        n, m = len(batch), len(items)
        out = np.full((n, m), np.nan, np.float32)
        keep = (h.weight > 0) & self.has_text[h.item_idx]
        owner, hist = h.owners()[keep], h.item_idx[keep]
        silent = np.bincount(owner, minlength=n) == 0
        cols = np.flatnonzero(self.has_text[items])
        if not len(cols) or not len(owner):
            return out, silent
        e = self.vectors[items[cols]].T  # (d, m')
        # users in blocks of about _BLOCK cosines; a user's events are contiguous (owner sorted)
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ends = np.r_[starts[1:], len(owner)]
        lo = 0
        while lo < len(starts):
            hi = lo + 1
            while hi < len(starts) and (ends[hi] - starts[lo]) * len(cols) <= _BLOCK:
                hi += 1
            a, b = starts[lo], ends[hi - 1]
            sims = self.vectors[hist[a:b]] @ e
            best = np.maximum.reduceat(sims, starts[lo:hi] - a, axis=0)
            out[np.ix_(owner[starts[lo:hi]], cols)] = best
            lo = hi
        return out, silent


def _age(h: Histories) -> IdxArray:
    """(n_events,) how many of the user's events are newer than each event."""
    pos = np.arange(h.n_events, dtype=np.int64)
    ends = np.repeat(h.indptr[1:], h.lengths())
    out: IdxArray = ends - 1 - pos
    return out


__all__ = ["LAST", "ItemText", "UserText"]
