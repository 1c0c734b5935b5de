"""Confidence intervals and paired significance tests on per-user metric arrays.

Every function here works on plain numpy arrays of per-user (or per-instance) metric values, so
it can be used on any evaluation output. Paired functions take two arrays aligned by user: entry
``i`` of ``a`` and of ``b`` must be the same user evaluated by two models (``EvalResult.compare``
does the alignment).

Intervals are percentile bootstrap intervals (Efron & Tibshirani, 1993), computed for all
resamples at once: a resample is a row of counts (how often each user was drawn), and the
resampled means are one matrix product. The paired bootstrap p-value uses the shifted null
distribution as in Sakai (2006), "Evaluating evaluation metrics based on the bootstrap".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from scenerec.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

# Resampling builds an (n_boot, n) count matrix; it is made in chunks of at most this many cells
# so that memory stays small on large test sets.
_MAX_CELLS = 4_000_000


@dataclass(frozen=True)
class PairedBootstrap:
    """Paired bootstrap of the mean difference ``mean(a - b)``.

    Attributes:
        n: number of paired values.
        mean_diff: observed mean of ``a - b``.
        lo: lower end of the ``1 - alpha`` percentile interval of the difference.
        hi: upper end.
        p_value: two-sided p-value of ``mean(a - b) == 0``.
    """

    n: int
    mean_diff: float
    lo: float
    hi: float
    p_value: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """Classical paired tests of ``a`` against ``b``.

    Attributes:
        n: number of paired values.
        mean_diff: observed mean of ``a - b``.
        t_statistic: paired t statistic (``nan`` with fewer than 2 users or no difference,
            infinite when every user differs by the same nonzero amount).
        t_p_value: its two-sided p-value (1.0 when every difference is zero).
        wilcoxon_statistic: Wilcoxon signed-rank statistic (``nan`` when it is not computed).
        wilcoxon_p_value: its two-sided p-value (1.0 when every difference is zero).
    """

    n: int
    mean_diff: float
    t_statistic: float
    t_p_value: float
    wilcoxon_statistic: float
    wilcoxon_p_value: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


# ---------------------------------------------------------------------------- validation
def _as_values(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"{name}: expected a 1-d array of per-user values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ConfigError(
            f"{name}[{bad}] is {arr[bad]!r}: metric values must be finite; "
            "drop users without a defined metric before resampling"
        )
    return arr


def _check_params(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1 (got {n_boot}); 1000 is a common choice")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1) (got {alpha}); 0.05 gives 95% intervals")


def _paired(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = _as_values(a, "a"), _as_values(b, "b")
    if len(x) != len(y):
        raise ConfigError(
            f"paired arrays differ in length ({len(x)} vs {len(y)}); align them by user first "
            "(EvalResult.compare does)"
        )
    return x, y


# ---------------------------------------------------------------------------- resampling
def _resample_counts(n: int, n_boot: int, seed: int) -> Iterator[FloatArray]:
    """Chunks of the ``(n_boot, n)`` matrix of draw counts, each row summing to ``n``.

    Counts instead of index arrays so that the means of many metric columns are one matrix
    product, and the same resamples serve every column (intervals of different metrics of one
    evaluation come from the same bootstrap samples).
    """
    rng = np.random.default_rng(seed)
    step = max(1, _MAX_CELLS // max(n, 1))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _boot_means(matrix: FloatArray, n_boot: int, seed: int) -> FloatArray:
    """(n_boot, m) resampled column means of an ``(n, m)`` matrix."""
    n = matrix.shape[0]
    parts = [counts @ matrix / n for counts in _resample_counts(n, n_boot, seed)]
    return np.concatenate(parts, axis=0)


def bootstrap_cis(
    columns: Mapping[str, npt.ArrayLike],
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap intervals for several aligned per-user arrays at once.

    All columns are resampled with the same user draws, so this costs one resampling for any
    number of metrics.

    Args:
        columns: name -> (n,) float values, all of the same length (one entry per user).
        n_boot: number of bootstrap resamples.
        alpha: ``1 - alpha`` is the coverage of the interval.
        seed: random seed; the same seed gives the same resamples for the same ``n``.

    Returns:
        name -> ``(mean, lo, hi)``; ``(nan, nan, nan)`` when there are no values.
    """
    _check_params(n_boot, alpha)
    names = list(columns)
    if not names:
        return {}
    arrays = [_as_values(columns[k], k) for k in names]
    n = len(arrays[0])
    for k, arr in zip(names, arrays, strict=True):
        if len(arr) != n:
            raise ConfigError(f"column {k!r} has {len(arr)} values, expected {n} like {names[0]!r}")
    if n == 0:
        nan = float("nan")
        return dict.fromkeys(names, (nan, nan, nan))
    matrix = np.stack(arrays, axis=1)
    means = matrix.mean(axis=0)
    boot = _boot_means(matrix, n_boot, seed)
    lo = np.quantile(boot, alpha / 2, axis=0)
    hi = np.quantile(boot, 1 - alpha / 2, axis=0)
    # A constant column has no sampling variation; report it exactly rather than with the
    # rounding noise of the resampled sums.
    const = np.ptp(matrix, axis=0) == 0
    lo = np.where(const, means, lo)
    hi = np.where(const, means, hi)
    return {k: (float(means[j]), float(lo[j]), float(hi[j])) for j, k in enumerate(names)}


def bootstrap_ci(
    values: npt.ArrayLike, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval.

    Args:
        values: (n,) float per-user metric values.
        n_boot: number of bootstrap resamples.
        alpha: ``1 - alpha`` is the coverage of the interval.
        seed: random seed.

    Returns:
        ``(mean, lo, hi)``; ``(nan, nan, nan)`` for an empty array.
    """
    return bootstrap_cis({"values": values}, n_boot=n_boot, alpha=alpha, seed=seed)["values"]


def paired_bootstrap(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> PairedBootstrap:
    """Paired bootstrap of ``mean(a - b)``: interval and two-sided p-value.

    Users are resampled as pairs, so the interval reflects the per-user difference rather than
    the spread of each model on its own. The p-value is the share of resampled differences, shifted
    to mean zero (the null), that are at least as far from zero as the observed difference;
    ``(1 + count) / (1 + n_boot)`` so it is never exactly 0.

    Args:
        a: (n,) float per-user values of model A.
        b: (n,) float per-user values of model B, aligned with ``a`` by user.
        n_boot: number of bootstrap resamples.
        alpha: ``1 - alpha`` is the coverage of the interval.
        seed: random seed.

    Returns:
        PairedBootstrap; ``mean_diff`` > 0 means A scores higher.
    """
    _check_params(n_boot, alpha)
    x, y = _paired(a, b)
    n = len(x)
    if n == 0:
        nan = float("nan")
        return PairedBootstrap(0, nan, nan, nan, nan)
    d = x - y
    obs = float(d.mean())
    if np.ptp(d) == 0:
        # Every user differs by the same amount: no sampling variation at all.
        return PairedBootstrap(n, obs, obs, obs, 1.0 if obs == 0 else 0.0)
    boot = _boot_means(d[:, None], n_boot, seed)[:, 0]
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    extreme = int(np.sum(np.abs(boot - obs) >= abs(obs)))
    p = (1 + extreme) / (1 + n_boot)
    return PairedBootstrap(n, obs, float(lo), float(hi), float(min(p, 1.0)))


def paired_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    method: Literal["both", "t", "wilcoxon"] = "both",
) -> PairedTest:
    """Paired t-test and/or Wilcoxon signed-rank test of ``a`` against ``b`` (two-sided).

    The t-test asks whether the mean per-user difference is zero; Wilcoxon is the rank-based
    alternative that does not assume normal differences (per-user metrics are far from normal:
    mostly zeros for hit-style metrics). Users with a zero difference are dropped by Wilcoxon
    (``zero_method="wilcox"``). Both tests are symmetric: swapping ``a`` and ``b`` flips the sign
    of the t statistic and leaves every p-value unchanged.

    Args:
        a: (n,) float per-user values of model A.
        b: (n,) float per-user values of model B, aligned with ``a`` by user.
        method: which tests to run; the other's fields are ``nan``.

    Returns:
        PairedTest.
    """
    from scipy import stats

    if method not in ("both", "t", "wilcoxon"):
        raise ConfigError(f"method must be 'both', 't' or 'wilcoxon' (got {method!r})")
    x, y = _paired(a, b)
    n = len(x)
    nan = float("nan")
    d = x - y
    mean_diff = float(d.mean()) if n else nan
    t_stat, t_p, w_stat, w_p = nan, nan, nan, nan
    nonzero = d[d != 0]
    if method in ("both", "t") and n >= 2:
        if len(nonzero) == 0:
            t_p = 1.0  # identical systems: no evidence of a difference
        elif np.ptp(d) == 0:
            t_p = 0.0  # the same nonzero difference for every user; t is infinite
            t_stat = float(np.sign(mean_diff) * np.inf)
        else:
            res = stats.ttest_rel(x, y)
            t_stat, t_p = float(res.statistic), float(res.pvalue)
    if method in ("both", "wilcoxon") and n >= 1:
        if len(nonzero) == 0:
            w_p = 1.0
        else:
            res_w = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
            w_stat, w_p = float(res_w.statistic), float(res_w.pvalue)
    return PairedTest(n, mean_diff, t_stat, t_p, w_stat, w_p)


def summarize_pair(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired bootstrap and classical tests together, as plain data for reports."""
    return {
        "bootstrap": paired_bootstrap(a, b, n_boot=n_boot, alpha=alpha, seed=seed).to_dict(),
        "tests": paired_test(a, b).to_dict(),
    }


__all__ = [
    "PairedBootstrap",
    "PairedTest",
    "bootstrap_ci",
    "bootstrap_cis",
    "paired_bootstrap",
    "paired_test",
    "summarize_pair",
]
