"""Ranking metrics as pure functions, plus vectorised per-user versions for evaluation.

Scalar functions take ``(ranked, relevant, k)``: ``ranked`` is a best-first sequence of item
ids, ``relevant`` a collection of the held-out items. Binary relevance throughout. Conventions
(as in RecBole and most papers): Recall@k divides by the number of relevant items, NDCG@k's
ideal DCG counts ``min(|relevant|, k)`` hits, MAP@k divides by ``min(|relevant|, k)``. A user with
no relevant item is skipped by the protocol (the functions return 0.0 for it).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

ACCURACY_METRICS = ("precision", "recall", "ndcg", "mrr", "hit", "map")


def _hits(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> list[bool]:
    if k < 1:
        raise ValueError(f"k must be >= 1 (got {k})")
    rel = set(relevant)
    return [item in rel for item in list(ranked)[:k]]


def precision_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Hits in the top k divided by k."""
    return sum(_hits(ranked, relevant, k)) / k


def recall_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Hits in the top k divided by the number of relevant items."""
    n = len(set(relevant))
    return sum(_hits(ranked, relevant, k)) / n if n else 0.0


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """DCG of the top k (gain 1 / log2(rank + 1)) over the ideal DCG."""
    hits = _hits(ranked, relevant, k)
    n = len(set(relevant))
    if n == 0:
        return 0.0
    dcg = sum(1.0 / np.log2(i + 2) for i, h in enumerate(hits) if h)
    idcg = sum(1.0 / np.log2(i + 2) for i in range(min(n, k)))
    return float(dcg / idcg)


def mrr_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Reciprocal rank of the first hit in the top k (0 if none)."""
    for i, h in enumerate(_hits(ranked, relevant, k)):
        if h:
            return 1.0 / (i + 1)
    return 0.0


def hit_rate_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """1 if any relevant item is in the top k."""
    return float(any(_hits(ranked, relevant, k)))


def map_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Average precision at the hit positions, divided by min(|relevant|, k)."""
    hits = _hits(ranked, relevant, k)
    n = len(set(relevant))
    if n == 0:
        return 0.0
    total, found = 0.0, 0
    for i, h in enumerate(hits):
        if h:
            found += 1
            total += found / (i + 1)
    return total / min(n, k)


# ---------------------------------------------------------------------------- vectorised
def per_user_metrics(
    hits: npt.NDArray[np.bool_], n_relevant: npt.NDArray[np.int64], k: int
) -> dict[str, FloatArray]:
    """All accuracy metrics for many users at once.

    Args:
        hits: (n_users, >=k) bool, ``hits[u, r]`` is True when rank r (0-based) is relevant.
        n_relevant: (n_users,) number of relevant items per user (> 0).
        k: cut-off.

    Returns:
        metric name -> (n_users,) float64 values, same conventions as the scalar functions.
    """
    h = hits[:, :k].astype(np.float64)
    n_rel = np.asarray(n_relevant, np.float64)
    safe = np.maximum(n_rel, 1.0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = h @ discounts
    ideal_n = np.minimum(n_rel, k).astype(np.int64)
    idcg_table = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = idcg_table[ideal_n]
    n_hits = h.sum(axis=1)
    first = np.where(n_hits > 0, h.argmax(axis=1), -1)
    mrr = np.where(first >= 0, 1.0 / np.maximum(first + 1.0, 1.0), 0.0)
    prec_at_hits = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    ap = (prec_at_hits * h).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1.0)
    zero = n_rel == 0
    return {
        "precision": n_hits / k,
        "recall": np.where(zero, 0.0, n_hits / safe),
        "ndcg": np.where(zero, 0.0, dcg / np.where(idcg > 0, idcg, 1.0)),
        "mrr": mrr,
        "hit": (n_hits > 0).astype(np.float64),
        "map": np.where(zero, 0.0, ap),
    }


def catalog_coverage(top: npt.NDArray[np.int64], n_candidates: int) -> float:
    """Fraction of the candidate items that appear in at least one top-k list."""
    shown = np.unique(top[top >= 0])
    return len(shown) / n_candidates if n_candidates else 0.0


def gini_index(top: npt.NDArray[np.int64], n_candidates: int) -> float:
    """Gini of how often each candidate item is recommended.

    0 when every candidate is shown equally often; (n - 1) / n when one item takes every slot.
    """
    if n_candidates == 0:
        return 0.0
    flat = top[top >= 0]
    counts = np.sort(np.bincount(flat, minlength=int(flat.max()) + 1 if len(flat) else 0))
    counts = np.concatenate([np.zeros(max(n_candidates - len(counts), 0)), counts])[-n_candidates:]
    counts = np.sort(counts)
    total = counts.sum()
    if total == 0:
        return 0.0
    idx = np.arange(1, n_candidates + 1)
    return float(np.sum((2 * idx - n_candidates - 1) * counts) / (n_candidates * total))


def intra_list_diversity(
    top: npt.NDArray[np.int64], item_vectors: npt.NDArray[np.float32]
) -> FloatArray:
    """Per list: 1 - mean pairwise cosine of the items' (L2-normalised) vectors."""
    out = np.zeros(len(top))
    for r, row in enumerate(top):
        row = row[row >= 0]
        if len(row) < 2:
            continue
        v = item_vectors[row].astype(np.float64)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(norms > 0, norms, 1.0)
        sim = v @ v.T
        n = len(row)
        out[r] = 1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1))
    return out


def novelty(
    top: npt.NDArray[np.int64], item_popularity: npt.NDArray[np.float64], n_users: int
) -> FloatArray:
    """Per list: mean self-information -log2(p(i)) with p(i) = users of i / all users.

    ``top`` may hold -1 padding, which is ignored; an empty list scores 0.
    """
    p = np.clip(np.asarray(item_popularity, np.float64) / max(n_users, 1), 1e-12, 1.0)
    info = -np.log2(p)
    valid = top >= 0
    total = np.where(valid, info[np.maximum(top, 0)], 0.0).sum(axis=1)
    counts = valid.sum(axis=1)
    out: FloatArray = np.where(counts > 0, total / np.maximum(counts, 1), 0.0)
    return out
