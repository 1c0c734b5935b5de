"""The contract every recommender passes, checked on the two-scenario oracle.

``check_model(factory, tmp_path=...)`` fits a fresh model from ``factory`` on the oracle and runs
every check below; it collects all failures and raises one ``ContractError`` naming each failed
check, so a model's test is one line::

    def test_contract(tmp_path):
        check_model(lambda: EASE(EASEConfig(reg=10.0)), tmp_path=tmp_path)

Checks (``CHECKS`` lists their names, ``skip=`` leaves some out):

- ``not_fitted``: using a model before ``fit`` raises ``NotFittedError``.
- ``config_roundtrip``: the config survives ``to_dict`` / ``from_dict``.
- ``scores``: ``_score`` is float32, shaped (users, items) and finite, per scenario and overall;
  a whole row of NaN ("no signal for this user", routed to the fallback) is allowed, except for
  users with history when the model claims ``cross_scenario``.
- ``batch_consistency``: a user's scores do not depend on the other users in the batch.
- ``quality_warm`` / ``quality_cold``: the known right answer is found at the top of the target
  scenario for warm users and for users cold in the target (only with ``personalised``; the cold
  check also needs ``cross_scenario``). Measured as the mean share of the top ``quality_k`` that is
  right, out of what could be right.
- ``quality_adhoc`` / ``quality_adhoc_cold``: the same for ad-hoc histories (both scenarios, and
  source scenario only).
- ``recommend_output``: k distinct target-scenario items, no seen item, scores non-increasing.
- ``exclude`` / ``candidates`` / ``exclude_seen_off`` / ``rank_users_exclude``: filters are
  respected and do not change the order of what remains.
- ``unknown_user`` / ``unknown_scenario`` / ``empty_adhoc``: the unknown-user policy (raise or
  popularity fallback) and errors for unknown scenarios.
- ``deterministic``: a second model from the factory fitted on the same data scores identically.
- ``save_load``: a saved and loaded run scores and recommends identically.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from scenerec.errors import ConfigError
from scenerec.models.query import FitOptions
from scenerec.testing.checks import (
    CHECK_FUNCTIONS,
    CheckFailedError,
    Context,
    Factory,
    Quality,
    check_not_fitted,
)
from scenerec.testing.oracle import Oracle, make_oracle

log = logging.getLogger(__name__)

CHECKS: tuple[str, ...] = (
    "not_fitted",
    "config_roundtrip",
    "scores",
    "batch_consistency",
    "quality_warm",
    "quality_cold",
    "quality_adhoc",
    "quality_adhoc_cold",
    "recommend_output",
    "exclude",
    "candidates",
    "exclude_seen_off",
    "rank_users_exclude",
    "unknown_user",
    "unknown_scenario",
    "empty_adhoc",
    "deterministic",
    "save_load",
)


class ContractError(AssertionError):
    """A model broke the contract; the message lists every failed check."""


@dataclass
class CheckResult:
    """Outcome of one check. ``value`` holds the measured quality for quality checks."""

    name: str
    passed: bool
    detail: str = ""
    value: float | None = None


@dataclass
class ContractReport:
    """Every check's outcome for one model."""

    model: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    @property
    def quality(self) -> dict[str, float]:
        """Measured quality per quality check (also when it was not enforced)."""
        return {r.name: r.value for r in self.results if r.value is not None}

    def summary(self) -> str:
        lines = [f"{self.model}: {len(self.failures)} of {len(self.results)} checks failed"]
        lines += [f"  - {r.name}: {r.detail}" for r in self.failures]
        return "\n".join(lines)


def check_model(
    factory: Factory,
    *,
    tmp_path: str | Path,
    personalised: bool = True,
    cross_scenario: bool = True,
    quality_k: int = 5,
    min_quality: float = 0.8,
    atol: float = 0.0,
    oracle: Oracle | None = None,
    skip: Collection[str] = (),
    raise_on_failure: bool = True,
    options: FitOptions | None = None,
) -> ContractReport:
    """Fit a model from ``factory`` on the oracle and run every contract check.

    Args:
        factory: returns a fresh, unfitted model (called more than once; same config each time).
        tmp_path: a writable directory for the save/load check.
        personalised: enforce the quality checks; ``False`` for models that rank every user
            alike (popularity), whose quality is still measured and reported.
        cross_scenario: also enforce quality for users (and ad-hoc histories) cold in the target.
        quality_k: list length of the quality checks.
        min_quality: the least mean share of right items in the top ``quality_k``.
        atol: allowed absolute score difference between two fits (determinism) and after
            save/load; 0 demands identical floats.
        oracle: the data (default ``make_oracle()``).
        skip: names from ``CHECKS`` to leave out.
        raise_on_failure: raise ``ContractError`` if any check failed.
        options: passed to every ``fit`` (e.g. ``FitOptions(threads=1)`` for tiny models).

    Returns:
        The report (also when everything passed).

    Raises:
        ContractError: some check failed (the message names each one and why).
        ConfigError: ``skip`` names an unknown check.
    """
    unknown = set(skip) - set(CHECKS)
    if unknown:
        raise ConfigError(f"skip names unknown checks {sorted(unknown)}; choose from {CHECKS}")
    data = oracle or make_oracle()
    model = factory()
    report = ContractReport(model=type(model).__name__)
    not_fitted = None
    if "not_fitted" not in skip:
        not_fitted = _run("not_fitted", lambda: check_not_fitted(model, data))
    fitted = model.fit(data.train, options=options)
    if fitted is not model:
        report.results.append(CheckResult("fit", False, "fit() must return the model itself"))
    ctx = Context(
        factory=factory,
        oracle=data,
        model=model,
        tmp_path=Path(tmp_path),
        personalised=personalised,
        cross_scenario=cross_scenario,
        quality_k=quality_k,
        min_quality=min_quality,
        atol=atol,
        options=options,
    )
    for name in CHECKS:
        if name in skip:
            continue
        if name == "not_fitted":
            if not_fitted is not None:
                report.results.append(not_fitted)
            continue
        fn = CHECK_FUNCTIONS[name]
        report.results.append(_run(name, partial(fn, ctx)))
    for r in report.results:
        if r.value is not None:
            log.info("%s %s = %.3f", report.model, r.name, r.value)
    if raise_on_failure and report.failures:
        raise ContractError(report.summary())
    return report


def _run(name: str, fn: Callable[[], Quality | None]) -> CheckResult:
    try:
        value = fn()
    except CheckFailedError as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:  # a crash in a check is a failure of that check, not of the suite
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return CheckResult(name, False, f"raised {tb}")
    if isinstance(value, Quality):
        return CheckResult(name, value.passed, value.detail, value.value)
    return CheckResult(name, True)


__all__ = ["CHECKS", "CheckResult", "ContractError", "ContractReport", "Factory", "check_model"]
