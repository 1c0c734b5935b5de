"""Evaluation protocols: full ranking (default) and sampled ranking, per scenario and user group.

Full ranking scores every candidate item of the target scenario, removes the items the user
already has in the excluded data (train, and valid at test time, as RecBole does), and compares
the top k with the held-out items. Sampled ranking ranks each held-out item against N random
negatives from the target scenario (N = 999 in the cross-domain sequential papers); it is always
reported beside full ranking, never instead of it.

Rows of a result are users (full ranking: one row per user with held-out items in the scenario)
or instances (sampled ranking: one row per held-out (user, item) pair). Each row belongs to zero
or more user groups, computed from the training data only:

- ``overlapping``: the user has training events in the target scenario and in another one.
- ``cold_in_target``: no training events in the target scenario, some elsewhere (the case
  cross-scenario models are for).
- ``new_users``: no training events at all (models fall back to popularity for them).
- ``new_items``: full ranking: the user's held-out items in the scenario include at least one
  item with no training event anywhere, and the row's metrics still count all of that user's
  held-out items; sampled ranking: the instance's held-out item has no training event.

Scoring is batched and vectorised: hits are looked up with one sorted-key search for the whole
top-k matrix, and negatives are drawn for all instances of a batch at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from scenerec.errors import ConfigError
from scenerec.eval.metrics import (
    ACCURACY_METRICS,
    catalog_coverage,
    gini_index,
    novelty,
    per_user_metrics,
)
from scenerec.eval.significance import bootstrap_cis, summarize_pair
from scenerec.models.base import BaseRecommender
from scenerec.schema import C, IdxArray

log = logging.getLogger(__name__)

Protocol = Literal["full", "sampled"]
BoolArray = npt.NDArray[np.bool_]

#: User groups every ScenarioResult carries (see the module docstring).
GROUPS: Final = ("overlapping", "cold_in_target", "new_users", "new_items")
#: Key of the pooled view over every scenario in summaries, and of "every row" among groups.
ALL: Final = "all"

# Draw at most this many random numbers per sampling chunk (bounds memory on big catalogs).
_MAX_CELLS = 4_000_000


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


def _pool(results: Sequence[ScenarioResult]) -> ScenarioResult:
    """One view over several scenarios' rows (a user in two scenarios counts twice)."""
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
            are only compared when it matches (same users and items behind the indices).
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
            out[ALL] = _pool(list(self.scenarios.values()))
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """scenario -> metric@k -> mean; plus ``all`` pooling every evaluated user."""
        out = {s: r.mean() for s, r in self.scenarios.items()}
        if len(self.scenarios) > 1:
            out[ALL] = _pool(list(self.scenarios.values())).mean(ALL)
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

    def compare(
        self,
        other: EvalResult,
        metric: str,
        *,
        scenario: str = ALL,
        group: str | None = None,
        n_boot: int = 1000,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Paired comparison of this result (A) with ``other`` (B) on the same rows.

        Rows are paired by user (by user and held-out item for sampled ranking, where both
        runs draw the same negatives for the same seed); rows present in only one result are
        left out with a warning.

        Args:
            other: the result of another model on the same test data and split.
            metric: a ``metric@k`` name, e.g. ``"ndcg@10"``.
            scenario: a scenario, or ``"all"`` for every scenario both results hold.
            group: restrict to a user group (membership as computed for this result).
            n_boot: bootstrap resamples.
            alpha: ``1 - alpha`` interval coverage.
            seed: bootstrap seed.

        Returns:
            ``{"metric", "scenario", "group", "n", "bootstrap": PairedBootstrap.to_dict(),
            "tests": PairedTest.to_dict()}``; differences are A - B; undefined values (a t
            statistic with no variation) are ``None``.
        """
        if self.protocol != other.protocol:
            raise ConfigError(
                f"cannot pair a {self.protocol} result with a {other.protocol} result; "
                "compare runs of the same protocol"
            )
        if (
            self.data_fingerprint is not None
            and other.data_fingerprint is not None
            and self.data_fingerprint != other.data_fingerprint
        ):
            raise ConfigError(
                f"the two models were fit on different training data (fingerprints "
                f"{self.data_fingerprint} vs {other.data_fingerprint}); fit both on the same split"
            )
        if scenario == ALL:
            names = [s for s in self.scenarios if s in other.scenarios]
        elif scenario in self.scenarios and scenario in other.scenarios:
            names = [scenario]
        else:
            raise ConfigError(
                f"scenario {scenario!r} is not in both results "
                f"({sorted(self.scenarios)} vs {sorted(other.scenarios)})"
            )
        a_parts, b_parts = [], []
        dropped = 0
        for s in names:
            ra, rb = self.scenarios[s], other.scenarios[s]
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
        a = np.concatenate(a_parts) if a_parts else np.zeros(0)
        b = np.concatenate(b_parts) if b_parts else np.zeros(0)
        if len(a) == 0:
            raise ConfigError(
                f"no rows in common for scenario {scenario!r}, group {group!r}; "
                "evaluate both models on the same test data"
            )
        if dropped:
            log.warning("compare: %d row(s) are in only one of the two results; left out", dropped)
        out: dict[str, Any] = {"metric": metric, "scenario": scenario, "group": group or ALL}
        out["n"] = len(a)
        out.update(summarize_pair(a, b, n_boot=n_boot, alpha=alpha, seed=seed))
        return {k: _json_safe(v) for k, v in out.items()}

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
        return {k: _json_safe(v) for k, v in out.items()}


def _json_safe(obj: Any) -> Any:
    """The same data with NaN and infinite floats replaced by ``None`` (strict JSON has no
    NaN, and the report and web clients read these files)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def compare_models(
    results: Mapping[str, EvalResult],
    metric: str,
    *,
    baseline: str | None = None,
    scenario: str = ALL,
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
        n_boot: bootstrap resamples.
        alpha: ``1 - alpha`` interval coverage.
        seed: bootstrap seed.

    Returns:
        One ``EvalResult.compare`` dict per other model, with ``a`` (the model), ``b`` (the
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
        c = results[label].compare(
            results[base], metric, scenario=scenario, n_boot=n_boot, alpha=alpha, seed=seed
        )
        out.append({"a": label, "b": base, "protocol": results[label].protocol, **c})
    return out


# ---------------------------------------------------------------------------- evaluate
def _check_args(ks: Sequence[int], protocol: str, n_negatives: int, batch_size: int) -> None:
    if not ks:
        raise ConfigError("ks is empty; pass at least one cut-off, e.g. ks=(10,)")
    bad = [k for k in ks if int(k) != k or k < 1]
    if bad:
        raise ConfigError(f"ks must be integers >= 1 (got {list(ks)})")
    if protocol not in ("full", "sampled"):
        raise ConfigError(f"protocol must be 'full' or 'sampled' (got {protocol!r})")
    if n_negatives < 1:
        raise ConfigError(f"n_negatives must be >= 1 (got {n_negatives}); papers use 999")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1 (got {batch_size})")


def _pairs(model: BaseRecommender[Any], events: pl.DataFrame) -> tuple[IdxArray, IdxArray, int]:
    """Dense (user, item) indices of ``events``; rows with ids the model lacks are counted."""
    users_v, items_v = model.vocab("users"), model.vocab("items")
    u = users_v.indices(events[C.USER_ID])
    i = items_v.indices(events[C.ITEM_ID])
    keep = (u.is_not_null() & i.is_not_null()).to_numpy()
    u_np = u.to_numpy()[keep].astype(np.int64)
    i_np = i.to_numpy()[keep].astype(np.int64)
    return u_np, i_np, int((~keep).sum())


def _binary(model: BaseRecommender[Any], u: IdxArray, i: IdxArray) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.ones(len(u), np.float32), (u, i)),
        shape=(len(model.vocab("users")), len(model.vocab("items"))),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _relevance(
    model: BaseRecommender[Any], test: pl.DataFrame, scenario: str
) -> tuple[IdxArray, sp.csr_matrix]:
    """Users with held-out items in ``scenario`` and their relevant-item matrix."""
    t = test.filter(pl.col(C.SCENARIO) == scenario).select(C.USER_ID, C.ITEM_ID).unique()
    u, i, unknown = _pairs(model, t)
    if unknown:
        log.warning(
            "scenario %r: %d held-out (user, item) pair(s) have a user or item the model "
            "was not built with; they are not evaluated",
            scenario,
            unknown,
        )
    return np.unique(u), _binary(model, u, i)


def _relevance_all(
    model: BaseRecommender[Any], events: pl.DataFrame
) -> tuple[IdxArray, sp.csr_matrix]:
    u, i, _ = _pairs(model, events)
    return np.unique(u), _binary(model, u, i)


def _user_groups(
    model: BaseRecommender[Any], scenario: str, users: IdxArray
) -> dict[str, BoolArray]:
    """overlapping / cold_in_target / new_users membership of ``users`` (training data only)."""
    state = model.train_state
    h = state.histories
    s = model.scenario_idx(scenario)
    total = h.lengths()
    owner = np.repeat(np.arange(state.n_users), total)
    in_target = np.bincount(owner[h.scenario_idx == s], minlength=state.n_users)
    elsewhere = total - in_target
    t, e = in_target[users], elsewhere[users]
    return {
        "overlapping": (t > 0) & (e > 0),
        "cold_in_target": (t == 0) & (e > 0),
        "new_users": (t == 0) & (e == 0),
    }


def evaluate(
    model: BaseRecommender[Any],
    test: pl.DataFrame,
    *,
    ks: Sequence[int] = (10,),
    scenarios: Sequence[str] | None = None,
    exclude: Sequence[pl.DataFrame] = (),
    exclude_history: bool = True,
    protocol: Protocol = "full",
    n_negatives: int = 999,
    seed: int = 0,
    beyond_accuracy: bool = True,
    batch_size: int = 1024,
) -> EvalResult:
    """Evaluate a fitted model on held-out events.

    Args:
        model: fitted on the train part only.
        test: held-out events (user_id, item_id, scenario).
        ks: cut-offs.
        scenarios: target scenarios (default: every scenario present in ``test``).
        exclude: event frames whose items are removed from each user's ranking, besides the
            model's own training items (pass the validation events at test time).
        exclude_history: remove the user's training items from the ranking (the default, as in
            RecBole's general protocol). ``False`` ranks them too, as RecBole evaluates
            sequential models (data without repeat consumption then still counts a
            recommended history item as a miss, so the model must learn not to repeat).
        protocol: ``full`` ranking over the scenario's items, or ``sampled`` with
            ``n_negatives`` random negatives per held-out item, drawn uniformly without
            replacement from the scenario's items that are neither excluded for the user nor
            among the user's held-out items.
        n_negatives: negatives per held-out item (sampled ranking).
        seed: negative sampling seed; negatives do not depend on the model, so two models
            evaluated with the same seed see the same negatives.
        beyond_accuracy: also compute coverage, gini and novelty (full ranking).
        batch_size: users scored at once.

    Returns:
        EvalResult with per-row arrays named ``metric@k`` and user-group membership.
    """
    _check_args(ks, protocol, n_negatives, batch_size)
    state = model.train_state
    excl = (
        state.matrix(None, binary=True)
        if exclude_history
        else sp.csr_matrix((state.n_users, state.n_items), dtype=np.float32)
    )
    for extra in exclude:
        if extra.height:
            _, m = _relevance_all(model, extra)
            excl = (excl + m).tocsr()
    targets = list(scenarios) if scenarios else sorted(test[C.SCENARIO].unique().to_list())
    kmax = max(ks)
    new_item = (state.popularity[-1] == 0).astype(np.float32)
    results: dict[str, ScenarioResult] = {}
    for scen in targets:
        users, rel = _relevance(model, test, scen)
        item_idx: IdxArray | None = None
        if protocol == "full":
            top, _ = model.rank_users(
                users, scenario=scen, k=kmax, exclude=excl, batch_size=batch_size
            )
            rel_u = rel[users]
            hits = _hits_from_top(top, rel_u)
            n_rel = np.asarray(rel_u.sum(axis=1)).ravel().astype(np.int64)
            groups = _user_groups(model, scen, users)
            groups["new_items"] = np.asarray(rel_u @ new_item).ravel() > 0
            row_users = users
        else:
            hits, row_users, item_idx = _sampled_hits(
                model, users, rel, scen, excl, kmax, n_negatives, seed, batch_size
            )
            n_rel = np.ones(len(row_users), np.int64)
            top = np.zeros((len(row_users), 0), np.int64)
            groups = _user_groups(model, scen, row_users)
            groups["new_items"] = new_item[item_idx] > 0
        per_user: dict[str, np.ndarray] = {}
        for k in ks:
            for name, v in per_user_metrics(hits, n_rel, k).items():
                if name in ACCURACY_METRICS:
                    per_user[f"{name}@{k}"] = v
        beyond: dict[str, float] = {}
        if beyond_accuracy and protocol == "full" and len(users):
            cand = state.items_of_scenario(model.scenario_idx(scen))
            pos = np.full(state.n_items, -1, np.int64)
            pos[cand] = np.arange(len(cand))
            local = np.where(top >= 0, pos[np.maximum(top, 0)], -1)
            pop_users = np.asarray((state.matrix(None, binary=True) > 0).sum(axis=0)).ravel()
            for k in ks:
                beyond[f"coverage@{k}"] = catalog_coverage(local[:, :k], len(cand))
                beyond[f"gini@{k}"] = gini_index(local[:, :k], len(cand))
                beyond[f"novelty@{k}"] = float(novelty(top[:, :k], pop_users, state.n_users).mean())
        results[scen] = ScenarioResult(scen, row_users, per_user, beyond, groups, item_idx)
    return EvalResult(
        protocol,
        tuple(ks),
        results,
        n_negatives=n_negatives if protocol == "sampled" else None,
        data_fingerprint=model.data_fingerprint,
    )


# ---------------------------------------------------------------------------- full ranking
def _hits_from_top(top: IdxArray, rel_u: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """(n, k) bool: is ``top[r, j]`` in row r of ``rel_u`` (``-1`` padding never hits).

    Each (row, item) pair becomes one int64 key ``row * n_items + item``; the relevant keys of a
    canonical CSR matrix are already sorted, so the whole top-k matrix is one binary search.
    """
    n, k = top.shape
    rel = rel_u.tocsr()
    if not rel.has_canonical_format:
        rel = rel.copy()
        rel.sum_duplicates()  # also sorts the indices of each row
    n_items = rel.shape[1]
    rel_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(rel.indptr)) * n_items
    rel_keys += rel.indices
    if len(rel_keys) == 0:
        return np.zeros((n, k), bool)
    query = np.arange(n, dtype=np.int64)[:, None] * n_items + top
    at = np.minimum(np.searchsorted(rel_keys, query), len(rel_keys) - 1)
    hits: npt.NDArray[np.bool_] = (rel_keys[at] == query) & (top >= 0)
    return hits


# ---------------------------------------------------------------------------- sampled ranking
def _sample_negatives(
    forbid: sp.csr_matrix, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Uniform samples without replacement of each row's allowed columns.

    Args:
        forbid: (rows, n_cols) CSR; stored entries are the columns a row may not draw.
        n: samples per row.
        rng: random generator.

    Returns:
        (rows, n) int64 column indices, in no particular order; a row with fewer than ``n``
        allowed columns gets all of them and ``-1`` in the remaining slots.

    Rows use rejection sampling (draw columns with replacement, drop forbidden and repeated
    ones, keep the first ``n``: the first ``n`` distinct allowed draws are a uniform
    ``n``-subset). That needs about ``n_cols * ln(pool / (pool - n))`` draws per row, whatever
    the catalog size when ``n`` is small against it. Rows whose pool is so small that this
    exceeds ``n_cols`` draws (pool < ~1.6 n) rank uniform random keys over all columns instead:
    the ``n`` smallest keys among the allowed columns are a uniform ``n``-subset too.
    """
    forbid = forbid.tocsr()
    forbid.sum_duplicates()
    n_rows, n_cols = forbid.shape
    out = np.full((n_rows, n), -1, np.int64)
    if n_rows == 0 or n_cols == 0:
        return out
    pool = n_cols - np.diff(forbid.indptr)
    # Expected draws to see n distinct allowed columns: n_cols * (H(pool) - H(pool - n)).
    big = pool > n
    expected = np.full(n_rows, np.inf)
    expected[big] = n_cols * np.log((pool[big] + 0.5) / (pool[big] - n + 0.5))
    rejection = expected <= n_cols
    dense_rows = np.flatnonzero(~rejection)
    step = max(1, _MAX_CELLS // n_cols)
    for start in range(0, len(dense_rows), step):
        rows = dense_rows[start : start + step]
        keys = rng.random((len(rows), n_cols))
        sub = forbid[rows].tocoo()
        keys[sub.row, sub.col] = np.inf
        if n < n_cols:
            pick = np.argpartition(keys, n - 1, axis=1)[:, :n]
        else:
            pick = np.broadcast_to(np.arange(n_cols), (len(rows), n_cols))
        ok = np.isfinite(np.take_along_axis(keys, pick, axis=1))
        out[rows, : pick.shape[1]] = np.where(ok, pick, -1)
    pending = np.flatnonzero(rejection)
    if len(pending) == 0:
        return out
    # Draw the expected need with a margin; the rare rows that fall short are drawn again
    # with twice as many draws (the first n distinct allowed draws stay a uniform subset
    # under that condition, which does not favour any column).
    need = float(expected[pending].max())
    m = math.ceil(1.2 * need + 4.0 * math.sqrt(need)) + 32
    while len(pending):
        step = max(1, _MAX_CELLS // m)
        short: list[IdxArray] = []
        for start in range(0, len(pending), step):
            rows = pending[start : start + step]
            done, picked = _reject_draws(forbid[rows], n, m, rng)
            out[rows[done]] = picked
            short.append(rows[~done])
        pending = np.concatenate(short)
        m *= 2
    return out


def _reject_draws(
    forbid: sp.csr_matrix, n: int, m: int, rng: np.random.Generator
) -> tuple[BoolArray, npt.NDArray[np.int64]]:
    """One round of rejection sampling: ``m`` draws per row.

    Returns:
        ``(done (rows,) bool, picked (done.sum(), n) int64)``: the rows that reached ``n``
        distinct allowed columns, and those columns in draw order.
    """
    n_rows, n_cols = forbid.shape
    # The smallest integer type that holds a column: numpy sorts 16-bit keys with a radix sort,
    # several times faster than the comparison sort used for wider types.
    dtype = np.int16 if n_cols <= 2**15 else np.int32 if n_cols <= 2**31 else np.int64
    draws = rng.integers(0, n_cols, size=(n_rows, m), dtype=dtype)
    # Sort each row's draws, stably so that of equal draws the first in draw order comes
    # first: repeats are then neighbours, and the row-major keys of the sorted draws are
    # globally sorted (a cache-friendly search when the forbidden table is sparse).
    order = np.argsort(draws, axis=1, kind="stable")
    sorted_draws = np.take_along_axis(draws, order, axis=1)
    ok_sorted = np.ones(sorted_draws.shape, bool)
    ok_sorted[:, 1:] = sorted_draws[:, 1:] != sorted_draws[:, :-1]
    if forbid.nnz:
        row_base = np.arange(n_rows, dtype=np.int64) * n_cols
        f_keys = np.repeat(row_base, np.diff(forbid.indptr)) + forbid.indices  # sorted
        keys = row_base[:, None] + sorted_draws
        if n_cols <= 4 * m:
            # A dense forbidden table is hardly bigger than the draws: one gather.
            table = np.zeros(n_rows * n_cols, bool)
            table[f_keys] = True
            ok_sorted &= ~table[keys]
        else:
            at = np.minimum(np.searchsorted(f_keys, keys), len(f_keys) - 1)
            ok_sorted &= f_keys[at] != keys
    ok = np.empty_like(ok_sorted)
    np.put_along_axis(ok, order, ok_sorted, axis=1)
    count = np.cumsum(ok, axis=1, dtype=np.int32)
    done = count[:, -1] >= n
    take = ok[done] & (count[done] <= n)
    return done, draws[done][take].reshape(-1, n).astype(np.int64)


def _sampled_hits(
    model: BaseRecommender[Any],
    users: IdxArray,
    rel: sp.csr_matrix,
    scenario: str,
    excl: sp.csr_matrix,
    kmax: int,
    n_negatives: int,
    seed: int,
    batch_size: int = 1024,
) -> tuple[npt.NDArray[np.bool_], IdxArray, IdxArray]:
    """One instance per (user, held-out item): rank of the item among sampled negatives.

    Negatives come from the scenario's items minus the user's excluded and held-out items.

    Returns:
        ``(hits (n_instances, kmax) bool, user of each instance, held-out item of each)``.
    """
    state = model.train_state
    cand = state.items_of_scenario(model.scenario_idx(scenario))
    rng = np.random.default_rng(seed)
    rel_u = rel[users].tocsr()
    rel_u.sum_duplicates()
    rows = np.repeat(np.arange(len(users)), np.diff(rel_u.indptr))
    targets = rel_u.indices.astype(np.int64)
    # Score the held-out items too when they are not among the scenario's candidates.
    items = np.concatenate([cand, np.setdiff1d(targets, cand)]).astype(np.int64)
    pos = np.full(state.n_items, -1, np.int64)
    pos[items] = np.arange(len(items))
    forbid = (excl[users] + rel_u).tocsr()[:, cand].tocsr()
    forbid.sum_duplicates()
    ranks = np.empty(len(targets), np.int64)
    s_idx = model.scenario_idx(scenario)
    pop = state.popularity.get(-1 if s_idx is None else s_idx, state.popularity[-1])
    lengths = state.histories.lengths()
    for start in range(0, len(users), batch_size):
        stop = min(start + batch_size, len(users))
        ub = users[start:stop]
        scores = model.score_users(ub, scenario=scenario, items=items)
        empty = lengths[ub] == 0
        if empty.any():  # same routing as rank_users: no history -> popularity
            scores[empty] = pop[items]
        lo, hi = int(rel_u.indptr[start]), int(rel_u.indptr[stop])
        if hi == lo:
            continue
        local = rows[lo:hi] - start
        neg = _sample_negatives(forbid[rows[lo:hi]], n_negatives, rng)
        s_t = scores[local, pos[targets[lo:hi]]][:, None]
        s_n = scores[local[:, None], np.maximum(neg, 0)]
        valid = neg >= 0
        above = ((s_n > s_t) & valid).sum(axis=1)
        ties = ((s_n == s_t) & valid).sum(axis=1)
        # ties count half against the target, so a constant scorer is not rewarded
        ranks[lo:hi] = above + ties // 2
    hits = np.zeros((len(targets), kmax), bool)
    ok = ranks < kmax
    hits[np.nonzero(ok)[0], ranks[ok]] = True
    return hits, users[rows], targets
