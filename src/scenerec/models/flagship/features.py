"""Candidates and their features for the CrossScenarioRanker.

For a batch of users and a target scenario, every generator scores the target's items; each
generator's top items (``GeneratorSpec.candidates``) form the candidate set. A candidate's features:

- per generator: its score, the gap to the user's best score from that generator, the log of its
  rank among the target's items, and whether the generator had no signal for the user;
- the item: log popularity in the target and overall, whether it has text;
- the user: log event counts in the target and elsewhere (how cold the user is in the target);
- text: cosine of the item's text with the user's interest vectors in the target, elsewhere,
  overall, and the best cosine with the user's newest items;
- how often the user already had the item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scenerec.models.flagship.generators import Generator
from scenerec.models.flagship.text import LAST, ItemText
from scenerec.models.state import UserBatch
from scenerec.schema import FloatMatrix, IdxArray

BoolArray = npt.NDArray[np.bool_]
RANK_DEPTH = 1000  # ranks are exact this deep; deeper items share rank RANK_DEPTH
_GEN = ("score", "gap", "log_rank", "no_signal")
_COMMON = (
    "item_log_pop_target",
    "item_log_pop_all",
    "item_has_text",
    "user_log_n_target",
    "user_log_n_other",
    "repeat_count",
)
_TEXT = ("text_cos_target", "text_cos_other", "text_cos_overall", "text_cos_last")


def feature_names(generators: list[Generator], text: bool) -> list[str]:
    names = [f"{g.label}:{f}" for g in generators for f in _GEN] + list(_COMMON)
    return names + list(_TEXT) if text else names


@dataclass
class Candidates:
    """Candidate (user row, item) pairs of a batch, with their features.

    Attributes:
        rows: (N,) batch row of each candidate, ascending (candidates of a row are contiguous).
        cols: (N,) position of the item in the scored ``items`` array.
        features: (N, F) float32.
        best: (n, m) float32 rank-based fallback scores in [-1, 0) from the generators (for
            ordering the items outside the candidate set); NaN rows where no generator has
            signal.
        scores: with ``keep_scores``, each generator's (n, m) scores by label (-inf where it
            scores nothing or ``hide`` hides the item, NaN rows where it has no signal), so
            that the gate compares generators without scoring twice; else empty.
    """

    rows: IdxArray
    cols: IdxArray
    features: FloatMatrix
    best: FloatMatrix
    scores: dict[str, FloatMatrix]

    def sizes(self, n_rows: int) -> IdxArray:
        """(n_rows,) candidates per batch row."""
        out: IdxArray = np.bincount(self.rows, minlength=n_rows)
        return out


def build_candidates(
    generators: list[Generator],
    text: ItemText | None,
    batch: UserBatch,
    target: int,
    items: IdxArray,
    pop_target: FloatMatrix,
    pop_all: FloatMatrix,
    hide: BoolArray | None = None,
    *,
    keep_scores: bool = False,
) -> Candidates:
    """Score ``items`` with every generator and gather the candidates' features; ``hide``
    (n, m): entries that are no item of that row's catalogue (no generator scores them);
    ``keep_scores``: also return each generator's score matrix (``Candidates.scores``)."""
    n, m = len(batch), len(items)
    union = np.zeros((n, m), bool)
    scored: list[tuple[FloatMatrix, FloatMatrix, BoolArray, FloatMatrix]] = []
    rank_sum = np.zeros((n, m), np.float32)
    with_signal = np.zeros(n, np.int64)
    for gen in generators:
        scores, silent = gen.scores(batch, target, items)
        # every entry finite or -inf from here on
        scores = np.where(np.isfinite(scores), scores, -np.inf).astype(np.float32, copy=False)
        if hide is not None:
            scores[hide] = -np.inf
        rank, head, vals = _ranks(scores)
        # the generator's best items, read off its sorted head; an item it does not score (-inf)
        # is none of its candidates
        k = min(gen.spec.candidates, m)
        if k <= head.shape[1]:
            ok = (vals[:, :k] > -np.inf) & ~silent[:, None]
            union[np.nonzero(ok)[0], head[:, :k][ok]] = True
        else:
            union |= (rank < k) & ~silent[:, None] & (scores > -np.inf)
        top = vals[:, 0] if m else np.zeros(n, np.float32)  # each row's best score
        scored.append((scores, rank, silent, top))
        np.add(rank_sum, rank, out=rank_sum, where=~silent[:, None])
        with_signal += ~silent
    rows, cols = np.nonzero(union)
    feats = []
    kept: dict[str, FloatMatrix] = {}
    for gen, (scores, rank, silent, top) in zip(generators, scored, strict=True):
        top = np.where(np.isfinite(top), top, 0.0)
        s = scores[rows, cols]
        hit = s > -np.inf
        s = np.where(hit, s, -1e6)
        gap = np.where(hit, s - top[rows], -1e6)
        feats.append(np.stack([s, gap, np.log1p(rank[rows, cols]), silent[rows]], axis=1))
        if keep_scores:  # this function's own copy, read for the last time above
            scores[silent] = np.nan
            kept[gen.label] = scores
    h = batch.histories()
    owner = h.owners()
    in_t = h.scenario_idx == target
    n_t = np.bincount(owner[in_t], minlength=n)
    n_o = np.bincount(owner[~in_t], minlength=n)
    pos = np.full(batch.train.n_items, -1, np.int64)
    pos[items] = np.arange(m)
    seen = pos[h.item_idx] >= 0
    repeat = np.zeros((n, m), np.float32)
    np.add.at(repeat, (owner[seen], pos[h.item_idx[seen]]), 1.0)
    item = items[cols]
    common = [
        np.log1p(pop_target[item]),
        np.log1p(pop_all[item]),
        (text.has_text[item] if text is not None else np.zeros(len(item), bool)),
        np.log1p(n_t[rows]),
        np.log1p(n_o[rows]),
        repeat[rows, cols],
    ]
    feats.append(np.stack(common, axis=1).astype(np.float32))
    if text is not None:
        feats.append(_text_features(text, batch, target, rows, cols, items))
    # outside the candidates: order by the mean rank over the generators with signal
    mean_rank = rank_sum / np.maximum(with_signal, 1)[:, None]
    best = (-(mean_rank + 1.0) / (m + 1.0)).astype(np.float32)
    best[with_signal == 0] = np.nan
    return Candidates(
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int64),
        features=np.concatenate(feats, axis=1).astype(np.float32),
        best=best,
        scores=kept,
    )


def _text_features(
    text: ItemText, batch: UserBatch, target: int, rows: IdxArray, cols: IdxArray, items: IdxArray
) -> FloatMatrix:
    """Cosines of each candidate with the user's interest vectors and newest items: dense
    (users x items) products, gathered at the candidates (BLAS, not per-candidate gathers)."""
    u = text.users(batch, target)
    n = len(batch)
    e = text.vectors[items].T  # (d, m)
    users = np.concatenate([u.target, u.other, u.overall, u.last.reshape(n * LAST, -1)])
    sims = (users @ e).astype(np.float32)
    last = sims[3 * n :].reshape(n, LAST, -1).max(axis=1)
    out = np.stack(
        [
            sims[:n][rows, cols],
            sims[n : 2 * n][rows, cols],
            sims[2 * n : 3 * n][rows, cols],
            last[rows, cols],
        ],
        axis=1,
    )
    return out.astype(np.float32)


def _ranks(
    scores: FloatMatrix, depth: int = RANK_DEPTH
) -> tuple[FloatMatrix, IdxArray, FloatMatrix]:
    """(n, m) 0-based rank of every entry within its row (best = 0), exact for the best
    ``depth`` entries and ``depth`` for the rest (a partial sort: the ranker only needs to tell
    the head apart). Ties are ordered by column inside the head; a tie across the cut is broken
    the same way every time for the same row. Entries not scored (-inf) rank ``depth``.
    Also returns the head: each row's best ``depth`` columns in rank order and their scores."""
    n, m = scores.shape
    d = min(depth, m)
    rank = np.full((n, m), float(d), np.float32)
    if m == 0:
        return rank, np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    head = (
        np.argpartition(-scores, d - 1, axis=1)[:, :d] if d < m else np.tile(np.arange(m), (n, 1))
    )
    vals = np.take_along_axis(scores, head, axis=1)
    # sort the head by score (desc), then column (asc) for ties
    order = np.lexsort((head, -vals), axis=1)
    head = np.take_along_axis(head, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    np.put_along_axis(rank, head, np.arange(d, dtype=np.float32)[None, :], axis=1)
    # -inf entries rank d: outside the head they do already; inside it they sort last
    r, c = np.nonzero(vals == -np.inf)
    rank[r, head[r, c]] = float(d)
    return rank, head, vals


__all__ = ["Candidates", "build_candidates", "feature_names"]
