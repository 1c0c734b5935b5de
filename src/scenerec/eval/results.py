"""Evaluation results: per-row metric arrays per scenario, pooling, summaries and plain data.

``evaluate`` (``scenerec.eval.protocol``) returns an ``EvalResult``: one ``ScenarioResult`` per
target scenario, whose rows are users (full ranking) or held-out (user, item) instances
(sampled ranking), each with its metric values and its user-group membership:

- ``overlapping``: the user has training events in the target scenario and in another one.
- ``cold_in_target``: no training events in the target scenario, some elsewhere (the case
  cross-scenario models are for).
- ``new_users``: no training events at all (models fall back to popularity for them).
- ``new_items``: full ranking: the user's held-out items in the scenario include at least one
  item with no training event anywhere, and the row's metrics still count all of that user's
  held-out items; sampled ranking: the instance's held-out item has no training event.

Summaries average rows (per scenario, per group, and pooled over scenarios as ``"all"``);
intervals are percentile bootstraps over rows; ``to_dict`` is strict JSON (``json_safe``).
Paired comparisons of two results live in ``scenerec.eval.compare``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from scenerec.errors import ConfigError
from scenerec.eval.significance import bootstrap_cis
from scenerec.schema import IdxArray

Protocol = Literal["full", "sampled"]
BoolArray = npt.NDArray[np.bool_]

#: User groups every ScenarioResult carries (see the module docstring).
GROUPS: Final = ("overlapping", "cold_in_target", "new_users", "new_items")
#: Key of the pooled view over every scenario in summaries, and of "every row" among groups.
ALL: Final = "all"


@dataclass
class ScenarioResult:
    """Per-row metric arrays for one target scenario.

    Attributes:
        scenario: the target scenario (``None`` for a pooled view).
        user_idx: (n,) int64 user of each row; full ranking has one row per user, sampled
            ranking one row per held-out (user, item) instance.
        per_user: ``metric@k`` -> (n,) float64 values aligned with the rows.
        beyond: beyond-accuracy figures (full ranking only): coverage, gini, novelty at k.
        groups: group name (see ``GROUPS``) -> (n,) bool membership of each row.
        item_idx: (n,) int64 held-out item of each row for sampled ranking; ``None`` for full.
    """

    scenario: str | None
    user_idx: IdxArray
    per_user: dict[str, np.ndarray]
    beyond: dict[str, float] = field(default_factory=dict)
    groups: dict[str, BoolArray] = field(default_factory=dict)
    item_idx: IdxArray | None = None

    def __len__(self) -> int:
        return len(self.user_idx)

    def rows(self, group: str | None = None) -> BoolArray:
        """(n,) bool mask of the rows in ``group`` (every row for ``None`` or ``"all"``)."""
        if group is None or group == ALL:
            return np.ones(len(self.user_idx), bool)
        if group not in self.groups:
            raise ConfigError(f"unknown user group {group!r}; choose one of {[ALL, *GROUPS]}")
        return self.groups[group]

    def mean(self, group: str | None = None) -> dict[str, float]:
        """``metric@k`` -> mean over the rows of ``group``, plus ``users`` (the row count).

        Beyond-accuracy figures are list-level, not per row, so they come with ``group=None``
        only.
        """
        mask = self.rows(group)
        n = int(mask.sum())
        out = {
            name: float(v[mask].mean()) if n else float("nan") for name, v in self.per_user.items()
        }
        if group is None:
            out.update(self.beyond)
        out["users"] = float(n)
        return out

    def keys(self, n_items: int) -> IdxArray:
        """(n,) int64 row identity for pairing two models' results: the user, or the
        (user, held-out item) pair as ``user * n_items + item`` for sampled ranking."""
        if self.item_idx is None:
            return self.user_idx.astype(np.int64)
        return self.user_idx.astype(np.int64) * n_items + self.item_idx

    def intervals(
        self, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
    ) -> dict[str, dict[str, dict[str, float]]]:
        """group (``"all"`` and each non-empty group) -> metric -> ``{"mean", "lo", "hi"}``.

        Percentile bootstrap over rows; all metrics of one group share the resamples.
        """
        out: dict[str, dict[str, dict[str, float]]] = {}
        for group in (ALL, *GROUPS):
            if group != ALL and group not in self.groups:
                continue
            mask = self.rows(group)
            if not mask.any():
                continue
            cis = bootstrap_cis(
                {k: v[mask] for k, v in self.per_user.items()},
                n_boot=n_boot,
                alpha=alpha,
                seed=seed,
            )
            out[group] = {k: {"mean": m, "lo": lo, "hi": hi} for k, (m, lo, hi) in cis.items()}
        return out


def pool_results(results: Sequence[ScenarioResult]) -> ScenarioResult:
    """One view over several scenarios' rows (a user in two scenarios counts twice).

    Group membership is kept for the groups every result carries; ``scenario`` is ``None``.
    """
    names = list(results[0].per_user) if results else []
    sampled = bool(results) and results[0].item_idx is not None
    return ScenarioResult(
        scenario=None,
        user_idx=np.concatenate([r.user_idx for r in results]).astype(np.int64),
        per_user={n: np.concatenate([r.per_user[n] for r in results]) for n in names},
        groups={
            g: np.concatenate([r.groups[g] for r in results])
            for g in GROUPS
            if all(g in r.groups for r in results)
        },
        item_idx=(
            np.concatenate([r.item_idx for r in results if r.item_idx is not None])
            if sampled
            else None
        ),
    )


@dataclass
class EvalResult:
    """The outcome of ``evaluate``: one ScenarioResult per target scenario.

    Attributes:
        protocol: ``full`` or ``sampled``.
        ks: the cut-offs.
        scenarios: scenario -> its rows and metrics.
        n_negatives: negatives per instance (sampled ranking), else ``None``.
        data_fingerprint: fingerprint of the training data the model was fit on; two results
            are only compared when it matches (same users and items behind the indices; see
            ``scenerec.eval.compare``).
    """

    protocol: Protocol
    ks: tuple[int, ...]
    scenarios: dict[str, ScenarioResult]
    n_negatives: int | None = None
    data_fingerprint: str | None = None

    def views(self) -> dict[str, ScenarioResult]:
        """Each scenario, plus ``"all"`` pooling every row when there are several."""
        out = dict(self.scenarios)
        if len(self.scenarios) > 1:
            out[ALL] = pool_results(list(self.scenarios.values()))
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """scenario -> metric@k -> mean; plus ``all`` pooling every evaluated user."""
        out = {s: r.mean() for s, r in self.scenarios.items()}
        if len(self.scenarios) > 1:
            out[ALL] = pool_results(list(self.scenarios.values())).mean(ALL)
        return out

    def group_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """scenario (and ``all``) -> group (``all`` and each group) -> metric@k -> mean.

        Every group is listed, with ``users`` 0 and ``nan`` metrics when it is empty.
        """
        return {
            s: {g: r.mean(g) for g in (ALL, *GROUPS) if g == ALL or g in r.groups}
            for s, r in self.views().items()
        }

    def intervals(
        self, *, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
    ) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """scenario (and ``all``) -> group -> metric@k -> ``{"mean", "lo", "hi"}``.

        Percentile bootstrap over the rows (users, or instances for sampled ranking) with
        ``1 - alpha`` coverage; empty groups are left out.
        """
        return {
            s: r.intervals(n_boot=n_boot, alpha=alpha, seed=seed) for s, r in self.views().items()
        }

    def to_dict(
        self,
        *,
        intervals: bool = True,
        n_boot: int = 1000,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Plain data for ``results.json`` and ``report.write_report``.

        Keys: ``protocol``, ``ks``, ``n_negatives``, ``summary`` (as ``summary()``),
        ``groups`` (as ``group_summary()``) and, with ``intervals``, ``intervals`` (as
        ``intervals()``) with ``alpha`` and ``n_boot``. Undefined values (the metrics of an
        empty group) are ``None``, so the data is strict JSON.
        """
        out: dict[str, Any] = {
            "protocol": self.protocol,
            "ks": list(self.ks),
            "n_negatives": self.n_negatives,
            "summary": self.summary(),
            "groups": self.group_summary(),
        }
        if intervals:
            out["intervals"] = self.intervals(n_boot=n_boot, alpha=alpha, seed=seed)
            out["alpha"] = alpha
            out["n_boot"] = n_boot
        return {k: json_safe(v) for k, v in out.items()}


def json_safe(obj: Any) -> Any:
    """The same data with NaN and infinite floats replaced by ``None`` (strict JSON has no
    NaN, and the report and web clients read these files)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
