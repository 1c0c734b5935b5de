from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scenerec.errors import ConfigError
from scenerec.eval.significance import (
    bootstrap_ci,
    bootstrap_cis,
    paired_bootstrap,
    paired_test,
)

metric_values = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(metric_values, st.integers(0, 2**16))
def test_bootstrap_interval_contains_the_mean(values: list[float], seed: int) -> None:
    mean, lo, hi = bootstrap_ci(values, n_boot=300, seed=seed)
    assert mean == pytest.approx(float(np.mean(values)))
    assert lo - 1e-12 <= mean <= hi + 1e-12
    assert min(values) - 1e-12 <= lo and hi <= max(values) + 1e-12


def test_bootstrap_edge_cases() -> None:
    assert all(np.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.25] * 7) == (0.25, 0.25, 0.25)
    with pytest.raises(ConfigError, match="alpha"):
        bootstrap_ci([0.1, 0.2], alpha=1.5)
    with pytest.raises(ConfigError, match="n_boot"):
        bootstrap_ci([0.1, 0.2], n_boot=0)
    with pytest.raises(ConfigError, match=r"values\[1\]"):
        bootstrap_ci([0.1, float("nan")])


def test_bootstrap_is_seeded_and_shrinks_with_more_users() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.random(50), rng.random(5000)
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)
    _, lo_s, hi_s = bootstrap_ci(small)
    _, lo_l, hi_l = bootstrap_ci(large)
    # the width falls like 1 / sqrt(n): 10x narrower for 100x the users
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5


def test_bootstrap_coverage_is_close_to_nominal() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    reps = 300
    for i in range(reps):
        sample = rng.exponential(1.0, size=80)  # skewed, like per-user metrics
        _, lo, hi = bootstrap_ci(sample, n_boot=400, seed=i)
        covered += lo <= 1.0 <= hi
    assert 0.88 <= covered / reps <= 0.99


def test_columns_share_resamples_and_match_single_calls() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(200), rng.random(200)
    both = bootstrap_cis({"a": a, "b": b}, n_boot=500, seed=4)
    assert both["a"] == pytest.approx(bootstrap_ci(a, n_boot=500, seed=4))
    assert both["b"] == pytest.approx(bootstrap_ci(b, n_boot=500, seed=4))
    with pytest.raises(ConfigError, match="column 'b'"):
        bootstrap_cis({"a": a, "b": b[:10]})


pairs = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
        st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(pairs)
def test_paired_test_is_symmetric(pair: tuple[list[float], list[float]]) -> None:
    a, b = pair
    ab, ba = paired_test(a, b), paired_test(b, a)
    assert ab.mean_diff == pytest.approx(-ba.mean_diff)
    assert ab.t_p_value == pytest.approx(ba.t_p_value, nan_ok=True)
    assert ab.wilcoxon_p_value == pytest.approx(ba.wilcoxon_p_value, nan_ok=True)
    assert ab.t_statistic == pytest.approx(-ba.t_statistic, nan_ok=True)
    for p in (ab.t_p_value, ab.wilcoxon_p_value):
        assert np.isnan(p) or 0.0 <= p <= 1.0


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_paired_bootstrap_is_symmetric(pair: tuple[list[float], list[float]]) -> None:
    a, b = pair
    ab = paired_bootstrap(a, b, n_boot=200, seed=5)
    ba = paired_bootstrap(b, a, n_boot=200, seed=5)
    assert ab.mean_diff == pytest.approx(-ba.mean_diff)
    assert ab.lo == pytest.approx(-ba.hi, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.lo - 1e-12 <= ab.mean_diff <= ab.hi + 1e-12


def test_paired_tests_detect_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(6)
    base = rng.random(400)
    better = np.clip(base + rng.normal(0.05, 0.1, 400), 0, 1)
    boot = paired_bootstrap(better, base)
    assert boot.lo > 0 and boot.p_value < 0.01
    test = paired_test(better, base)
    assert test.t_p_value < 0.01 and test.wilcoxon_p_value < 0.01
    # the t-test agrees with scipy's own paired t-test
    assert test.t_p_value == pytest.approx(stats.ttest_rel(better, base).pvalue)
    # identical systems
    same = paired_test(base, base)
    assert same.t_p_value == 1.0 and same.wilcoxon_p_value == 1.0
    assert paired_bootstrap(base, base).p_value == 1.0


def test_false_positive_rate_under_the_null_is_near_alpha() -> None:
    rng = np.random.default_rng(7)
    reps, rejected_boot, rejected_t, rejected_w = 200, 0, 0, 0
    for i in range(reps):
        a, b = rng.random(100), rng.random(100)  # same distribution: no real difference
        rejected_boot += paired_bootstrap(a, b, n_boot=400, seed=i).p_value < 0.05
        t = paired_test(a, b)
        rejected_t += t.t_p_value < 0.05
        rejected_w += t.wilcoxon_p_value < 0.05
    for rejected in (rejected_boot, rejected_t, rejected_w):
        assert 0.01 <= rejected / reps <= 0.11


def test_paired_inputs_are_checked() -> None:
    with pytest.raises(ConfigError, match="align"):
        paired_test([0.1, 0.2], [0.1])
    with pytest.raises(ConfigError, match="method"):
        paired_test([0.1, 0.2], [0.1, 0.3], method="sign")  # type: ignore[arg-type]
