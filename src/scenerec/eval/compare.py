"""Paired comparison of models evaluated on the same test data.

Two ``EvalResult``s are paired row by row (by user, or by user and held-out item for sampled
ranking, where both runs drew the same negatives for the same seed) and their per-row
differences summarised with a paired bootstrap and paired tests (``scenerec.eval.significance``).
Results of models fit on different training data, or of different protocols, are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from scenerec.errors import ConfigError
from scenerec.eval.results import ALL, EvalResult, json_safe
from scenerec.eval.significance import summarize_pair

log = logging.getLogger(__name__)


def compare_results(
    a: EvalResult,
    b: EvalResult,
    metric: str,
    *,
    scenario: str = ALL,
    group: str | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of result ``a`` (model A) with ``b`` (model B) on the same rows.

    Rows are paired by user (by user and held-out item for sampled ranking, where both
    runs draw the same negatives for the same seed); rows present in only one result are
    left out with a warning.

    Args:
        a: one model's result.
        b: another model's result on the same test data and split.
        metric: a ``metric@k`` name, e.g. ``"ndcg@10"``.
        scenario: a scenario, or ``"all"`` for every scenario both results hold.
        group: restrict to a user group (membership as computed for ``a``).
        n_boot: bootstrap resamples.
        alpha: ``1 - alpha`` interval coverage.
        seed: bootstrap seed.

    Returns:
        ``{"metric", "scenario", "group", "n", "bootstrap": PairedBootstrap.to_dict(),
        "tests": PairedTest.to_dict()}``; differences are A - B; undefined values (a t
        statistic with no variation) are ``None``.
    """
    if a.protocol != b.protocol:
        raise ConfigError(
            f"cannot pair a {a.protocol} result with a {b.protocol} result; "
            "compare runs of the same protocol"
        )
    if (
        a.data_fingerprint is not None
        and b.data_fingerprint is not None
        and a.data_fingerprint != b.data_fingerprint
    ):
        raise ConfigError(
            f"the two models were fit on different training data (fingerprints "
            f"{a.data_fingerprint} vs {b.data_fingerprint}); fit both on the same split"
        )
    if scenario == ALL:
        names = [s for s in a.scenarios if s in b.scenarios]
    elif scenario in a.scenarios and scenario in b.scenarios:
        names = [scenario]
    else:
        raise ConfigError(
            f"scenario {scenario!r} is not in both results "
            f"({sorted(a.scenarios)} vs {sorted(b.scenarios)})"
        )
    a_parts, b_parts = [], []
    dropped = 0
    for s in names:
        ra, rb = a.scenarios[s], b.scenarios[s]
        for r in (ra, rb):
            if metric not in r.per_user:
                raise ConfigError(
                    f"metric {metric!r} not evaluated; choose one of {sorted(r.per_user)}"
                )
        mask = ra.rows(group)
        width = 1 + max(
            (int(r.item_idx.max()) for r in (ra, rb) if r.item_idx is not None and len(r)),
            default=0,
        )
        ka, kb = ra.keys(width), rb.keys(width)
        common, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
        dropped += len(ka) + len(kb) - 2 * len(common)
        keep = mask[ia]
        a_parts.append(ra.per_user[metric][ia[keep]])
        b_parts.append(rb.per_user[metric][ib[keep]])
    va = np.concatenate(a_parts) if a_parts else np.zeros(0)
    vb = np.concatenate(b_parts) if b_parts else np.zeros(0)
    if len(va) == 0:
        raise ConfigError(
            f"no rows in common for scenario {scenario!r}, group {group!r}; "
            "evaluate both models on the same test data"
        )
    if dropped:
        log.warning("compare: %d row(s) are in only one of the two results; left out", dropped)
    out: dict[str, Any] = {"metric": metric, "scenario": scenario, "group": group or ALL}
    out["n"] = len(va)
    out.update(summarize_pair(va, vb, n_boot=n_boot, alpha=alpha, seed=seed))
    return {k: json_safe(v) for k, v in out.items()}


def strongest_baseline(
    results: Mapping[str, EvalResult], metric: str, *, ours: Collection[str] = ()
) -> str | None:
    """The label of the best model by mean ``metric`` (over all scenarios) among those not in
    ``ours``: the bar a new model has to clear, rather than the weakest one (Popularity).

    Returns None when there is no model; falls back to every model when all are ``ours``.
    """
    labels = [k for k in results if k not in set(ours)] or list(results)

    def mean(label: str) -> float:
        summary = results[label].summary()
        row = summary.get(ALL) or next(iter(summary.values()), {})
        value = float(row.get(metric, float("nan")))
        return value if np.isfinite(value) else float("-inf")

    return max(labels, key=mean) if labels else None


def compare_models(
    results: Mapping[str, EvalResult],
    metric: str,
    *,
    baseline: str | None = None,
    scenario: str = ALL,
    group: str | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired comparison of every model with a baseline, as plain data for reports.

    Args:
        results: model label -> its EvalResult (same protocol, same test data).
        metric: ``metric@k`` to compare.
        baseline: the label to compare against (default: the first one).
        scenario: a scenario, or ``"all"``.
        group: restrict to a user group (e.g. ``cold_in_target``; None: every row).
        n_boot: bootstrap resamples.
        alpha: ``1 - alpha`` interval coverage.
        seed: bootstrap seed.

    Returns:
        One ``compare_results`` dict per other model, with ``a`` (the model), ``b`` (the
        baseline) and ``protocol`` added.
    """
    if not results:
        return []
    labels = list(results)
    base = labels[0] if baseline is None else baseline
    if base not in results:
        raise ConfigError(f"baseline {base!r} is not among the models {labels}")
    out = []
    for label in labels:
        if label == base:
            continue
        c = compare_results(
            results[label],
            results[base],
            metric,
            scenario=scenario,
            group=group,
            n_boot=n_boot,
            alpha=alpha,
            seed=seed,
        )
        out.append({"a": label, "b": base, "protocol": results[label].protocol, **c})
    return out
