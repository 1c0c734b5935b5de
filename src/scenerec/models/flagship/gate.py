"""The CrossScenarioRanker's gate: per-user full-ranking NDCG@10 of held-out label users, and
the choice between the ranker and the best single generator (the one-standard-error rule)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scenerec.schema import FloatMatrix, IdxArray


def best_plan(gains: dict[str, np.ndarray]) -> tuple[str, dict[str, Any]]:
    """The ranker if it beats the best generator by more than one standard error of the mean
    per-user difference in NDCG@10 (the one-standard-error rule: on a few held-out users a lead
    is noise, and the single generator is the simpler, safer plan); else that generator. Also
    returns the comparison (generator, lead, standard error) for ``fit_info``."""
    mean = {k: float(v.mean()) if len(v) else 0.0 for k, v in gains.items()}
    best_gen = max((k for k in gains if k != "ranker"), key=lambda k: mean[k])
    diff = gains["ranker"] - gains[best_gen]
    lead = float(diff.mean()) if len(diff) else 0.0
    se = float(diff.std(ddof=1)) / np.sqrt(len(diff)) if len(diff) > 1 else float("inf")
    info = {"generator": best_gen, "lead": round(lead, 4), "se": round(se, 4)}
    return ("ranker" if lead > se else best_gen), info


def ndcg_at_10(scores: FloatMatrix, exclude: np.ndarray, col: IdxArray, k: int = 10) -> FloatMatrix:
    """Per row, NDCG@k of the item at ``col`` (full ranking; ``exclude`` removed; NaN rows
    count as misses, ties count half)."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    rows = np.arange(len(col))
    target = s[rows, col]
    ex = exclude.copy()
    ex[rows, col] = False
    s = np.where(ex, -np.inf, s)
    rank = (s > target[:, None]).sum(axis=1) + ((s == target[:, None]).sum(axis=1) - 1) // 2
    gain: FloatMatrix = np.where(np.isfinite(target) & (rank < k), 1.0 / np.log2(rank + 2.0), 0.0)
    return gain


__all__ = ["best_plan", "ndcg_at_10"]
