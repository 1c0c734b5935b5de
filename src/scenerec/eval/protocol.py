"""Evaluation protocols: full ranking (default) and sampled ranking, per scenario and user group.

Full ranking scores every candidate item of the target scenario, removes the items the user
already has in the excluded data (train, and valid at test time, as RecBole does), and compares
the top k with the held-out items. Sampled ranking ranks each held-out item against N random
negatives from the target scenario (N = 999 in the cross-domain sequential papers; see
``scenerec.eval.sampling``); it is always reported beside full ranking, never instead of it.

Everything the protocol knows about the training data (the user groups, the training items
removed from the rankings, the candidate items of a scenario, item popularity for novelty) comes
from the ``train`` Dataset the model was fit on, never from the model's own copy: the model is
only asked to score and rank (see ``RankingModel``). Results, groups and summaries are described
in ``scenerec.eval.results``; paired comparisons of two models are in ``scenerec.eval.compare``.

Scoring is batched and vectorised: hits are looked up with one sorted-key search for the whole
top-k matrix, and negatives are drawn for all instances of a batch at once.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from scenerec.data.dataset import Dataset, Vocabulary
from scenerec.errors import ConfigError
from scenerec.eval.compare import compare_models
from scenerec.eval.metrics import (
    ACCURACY_METRICS,
    catalog_coverage,
    gini_index,
    novelty,
    per_user_metrics,
)
from scenerec.eval.results import BoolArray, EvalResult, Protocol, ScenarioResult
from scenerec.eval.sampling import sample_negatives
from scenerec.schema import C, FloatMatrix, IdxArray

# EvalResult, ScenarioResult and compare_models are re-exported for older imports; their homes
# are scenerec.eval.results and scenerec.eval.compare.
__all__ = ["EvalResult", "Protocol", "RankingModel", "ScenarioResult", "compare_models", "evaluate"]

log = logging.getLogger(__name__)


class RankingModel(typing.Protocol):
    """What evaluation uses of a fitted model; every ``BaseRecommender`` satisfies it.

    ``data_fingerprint`` identifies the Dataset given to fit; ``score_users`` returns
    ``(len(user_idx), len(items))`` float32 scores and ``rank_users`` the top-k item indices
    (``-1`` padded) and their scores. Users without training events are the model's business:
    both route them to its fallback, the protocol does not.
    """

    @property
    def data_fingerprint(self) -> str | None: ...

    def vocab(self, kind: Literal["users", "items", "scenarios", "behaviors"]) -> Vocabulary: ...

    def score_users(
        self, user_idx: IdxArray, *, scenario: str | None = None, items: IdxArray | None = None
    ) -> FloatMatrix: ...

    def rank_users(
        self,
        user_idx: IdxArray,
        *,
        scenario: str | None,
        k: int,
        exclude: sp.csr_matrix | None = None,
        items: IdxArray | None = None,
        batch_size: int = 1024,
    ) -> tuple[IdxArray, FloatMatrix]: ...


# ---------------------------------------------------------------------------- training data
@dataclass(frozen=True)
class _Seen:
    """What the protocol reads from the training data, sized to the model's vocabularies
    (which equal the Dataset's, or extend them when the model learned online since its fit).

    Attributes:
        train: the Dataset the model was fit on.
        n_users: users in the model's vocabulary.
        n_items: items in the model's vocabulary.
        history: ``(n_users, n_items)`` float32 CSR, 1 where the user has a training event.
        item_events: ``(n_items,)`` training events per item.
    """

    train: Dataset
    n_users: int
    n_items: int
    history: sp.csr_matrix
    item_events: IdxArray

    @classmethod
    def of(cls, model: RankingModel, train: Dataset) -> _Seen:
        """Check that ``train`` is the model's training data and derive the arrays."""
        n_users, n_items = len(model.vocab("users")), len(model.vocab("items"))
        fingerprint = model.data_fingerprint
        if fingerprint is None:
            raise ConfigError(
                "the model records no training-data fingerprint, so `train` cannot be checked; "
                "evaluate a model fitted with fit() or loaded from its run directory"
            )
        if fingerprint != train.fingerprint:
            raise ConfigError(
                f"the model was fitted on other data than `train` (data fingerprint "
                f"{fingerprint} vs {train.fingerprint}); pass the Dataset given to fit"
            )
        if n_users < train.n_users or n_items < train.n_items:
            raise ConfigError(
                f"the model knows {n_users} users and {n_items} items but `train` has "
                f"{train.n_users} and {train.n_items}; pass the Dataset given to fit"
            )
        history = train.matrix(None, binary=True)
        if history.shape != (n_users, n_items):  # the model grew online: new rows are empty
            history = history.copy()
            history.resize((n_users, n_items))
        h = train.histories
        item_events = np.bincount(h.item_idx, minlength=n_items).astype(np.int64)
        return cls(train, n_users, n_items, history, item_events)

    def groups(self, scenario: str, users: IdxArray) -> dict[str, BoolArray]:
        """overlapping / cold_in_target / new_users membership of ``users``."""
        h = self.train.histories
        total = np.zeros(self.n_users, np.int64)
        total[: self.train.n_users] = h.lengths()
        owner = np.repeat(np.arange(self.n_users), total)
        s = self.train.scenario_index(scenario)
        in_target = np.bincount(owner[h.scenario_idx == s], minlength=self.n_users)
        elsewhere = total - in_target
        t, e = in_target[users], elsewhere[users]
        return {
            "overlapping": (t > 0) & (e > 0),
            "cold_in_target": (t == 0) & (e > 0),
            "new_users": (t == 0) & (e == 0),
        }

    def excluded(
        self, model: RankingModel, exclude: Sequence[pl.DataFrame], *, history: bool
    ) -> sp.csr_matrix:
        """``(n_users, n_items)``: nonzero where an item is removed from a user's ranking."""
        excl = (
            self.history
            if history
            else sp.csr_matrix((self.n_users, self.n_items), dtype=np.float32)
        )
        for extra in exclude:
            if extra.height:
                u, i, _ = _pairs(model, extra)
                excl = (excl + _binary(model, u, i)).tocsr()
        return excl


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


def _pairs(model: RankingModel, events: pl.DataFrame) -> tuple[IdxArray, IdxArray, int]:
    """Dense (user, item) indices of ``events``; rows with ids the model lacks are counted."""
    users_v, items_v = model.vocab("users"), model.vocab("items")
    u = users_v.indices(events[C.USER_ID])
    i = items_v.indices(events[C.ITEM_ID])
    keep = (u.is_not_null() & i.is_not_null()).to_numpy()
    u_np = u.to_numpy()[keep].astype(np.int64)
    i_np = i.to_numpy()[keep].astype(np.int64)
    return u_np, i_np, int((~keep).sum())


def _binary(model: RankingModel, u: IdxArray, i: IdxArray) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.ones(len(u), np.float32), (u, i)),
        shape=(len(model.vocab("users")), len(model.vocab("items"))),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _relevance(
    model: RankingModel, test: pl.DataFrame, scenario: str
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


def evaluate(
    model: RankingModel,
    test: pl.DataFrame,
    *,
    train: Dataset,
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
        model: fitted on ``train`` (the train part only).
        test: held-out events (user_id, item_id, scenario).
        train: the Dataset given to the model's ``fit``. User groups, the training items
            removed from the rankings, each scenario's candidate items and the item
            popularity behind novelty come from it.
        ks: cut-offs.
        scenarios: target scenarios (default: every scenario present in ``test``).
        exclude: event frames whose items are removed from each user's ranking, besides the
            training items (pass the validation events at test time).
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

    Raises:
        ConfigError: a bad argument, or ``train`` is not the data the model was fitted on.
    """
    _check_args(ks, protocol, n_negatives, batch_size)
    seen = _Seen.of(model, train)
    excl = seen.excluded(model, exclude, history=exclude_history)
    targets = list(scenarios) if scenarios else sorted(test[C.SCENARIO].unique().to_list())
    kmax = max(ks)
    new_item = (seen.item_events == 0).astype(np.float32)
    results: dict[str, ScenarioResult] = {}
    for scen in targets:
        users, rel = _relevance(model, test, scen)
        cand = train.scenario_items(scen)
        item_idx: IdxArray | None = None
        if protocol == "full":
            top, _ = model.rank_users(
                users, scenario=scen, k=kmax, exclude=excl, items=cand, batch_size=batch_size
            )
            rel_u = rel[users]
            hits = _hits_from_top(top, rel_u)
            n_rel = np.asarray(rel_u.sum(axis=1)).ravel().astype(np.int64)
            groups = seen.groups(scen, users)
            groups["new_items"] = np.asarray(rel_u @ new_item).ravel() > 0
            row_users = users
        else:
            hits, row_users, item_idx = _sampled_hits(
                model, users, rel, scen, cand, excl, kmax, n_negatives, seed, batch_size
            )
            n_rel = np.ones(len(row_users), np.int64)
            top = np.zeros((len(row_users), 0), np.int64)
            groups = seen.groups(scen, row_users)
            groups["new_items"] = new_item[item_idx] > 0
        per_user: dict[str, np.ndarray] = {}
        for k in ks:
            for name, v in per_user_metrics(hits, n_rel, k).items():
                if name in ACCURACY_METRICS:
                    per_user[f"{name}@{k}"] = v
        beyond: dict[str, float] = {}
        if beyond_accuracy and protocol == "full" and len(users):
            beyond = _beyond(top, cand, seen, ks)
        results[scen] = ScenarioResult(scen, row_users, per_user, beyond, groups, item_idx)
    return EvalResult(
        protocol,
        tuple(ks),
        results,
        n_negatives=n_negatives if protocol == "sampled" else None,
        data_fingerprint=model.data_fingerprint,
    )


def _beyond(top: IdxArray, cand: IdxArray, seen: _Seen, ks: Sequence[int]) -> dict[str, float]:
    """Coverage and gini of the candidates, and novelty by training users, at each k."""
    pos = np.full(seen.n_items, -1, np.int64)
    pos[cand] = np.arange(len(cand))
    local = np.where(top >= 0, pos[np.maximum(top, 0)], -1)
    pop_users = np.asarray((seen.history > 0).sum(axis=0)).ravel()
    out: dict[str, float] = {}
    for k in ks:
        out[f"coverage@{k}"] = catalog_coverage(local[:, :k], len(cand))
        out[f"gini@{k}"] = gini_index(local[:, :k], len(cand))
        out[f"novelty@{k}"] = float(novelty(top[:, :k], pop_users, seen.train.n_users).mean())
    return out


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
def _sampled_hits(
    model: RankingModel,
    users: IdxArray,
    rel: sp.csr_matrix,
    scenario: str,
    cand: IdxArray,
    excl: sp.csr_matrix,
    kmax: int,
    n_negatives: int,
    seed: int,
    batch_size: int = 1024,
) -> tuple[npt.NDArray[np.bool_], IdxArray, IdxArray]:
    """One instance per (user, held-out item): rank of the item among sampled negatives.

    Negatives come from the scenario's items ``cand`` minus the user's excluded and held-out
    items.

    Returns:
        ``(hits (n_instances, kmax) bool, user of each instance, held-out item of each)``.
    """
    rng = np.random.default_rng(seed)
    rel_u = rel[users].tocsr()
    rel_u.sum_duplicates()
    rows = np.repeat(np.arange(len(users)), np.diff(rel_u.indptr))
    targets = rel_u.indices.astype(np.int64)
    # Score the held-out items too when they are not among the scenario's candidates.
    items = np.concatenate([cand, np.setdiff1d(targets, cand)]).astype(np.int64)
    pos = np.full(rel.shape[1], -1, np.int64)
    pos[items] = np.arange(len(items))
    forbid = (excl[users] + rel_u).tocsr()[:, cand].tocsr()
    forbid.sum_duplicates()
    ranks = np.empty(len(targets), np.int64)
    for start in range(0, len(users), batch_size):
        stop = min(start + batch_size, len(users))
        lo, hi = int(rel_u.indptr[start]), int(rel_u.indptr[stop])
        if hi == lo:
            continue
        scores = model.score_users(users[start:stop], scenario=scenario, items=items)
        local = rows[lo:hi] - start
        neg = sample_negatives(forbid[rows[lo:hi]], n_negatives, rng)
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
