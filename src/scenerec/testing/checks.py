"""The checks of the model contract (``contract.check_model`` runs them).

Each check takes the shared ``Context`` (oracle, fitted model, the contract's parameters) and
either returns (passed), returns a ``Quality`` (a measured value and whether it met the bar), or
raises ``CheckFailedError`` saying what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenerec.errors import NotFittedError, UnknownEntityError
from scenerec.models import BaseRecommender, FitOptions, HistoryEvent, Ranked, RecQuery, UserBatch
from scenerec.schema import C
from scenerec.testing.oracle import Oracle

Factory = Callable[[], BaseRecommender[Any]]


class CheckFailedError(Exception):
    """One check's failure (collected, then reported together)."""


@dataclass
class Context:
    """What the checks share: the oracle, the fitted model and the contract's parameters."""

    factory: Factory
    oracle: Oracle
    model: BaseRecommender[Any]
    tmp_path: Path
    personalised: bool
    cross_scenario: bool
    quality_k: int
    min_quality: float
    atol: float
    options: FitOptions | None


@dataclass(frozen=True)
class Quality:
    """A measured quality, whether it met the bar, and the sentence saying so."""

    value: float
    passed: bool
    detail: str


def _fail_if(cond: bool, msg: str) -> None:
    if cond:
        raise CheckFailedError(msg)


# ---------------------------------------------------------------------- helpers
def _precision(top: Iterable[str], relevant: Collection[str], k: int) -> float:
    """Share of the top ``k`` that is right, out of what could be right (``min(k, |rel|)``)."""
    hits = sum(1 for i in list(top)[:k] if i in relevant)
    return hits / max(1, min(k, len(relevant)))


def _quality(ctx: Context, value: float, *, enforced: bool) -> Quality:
    passed = (not enforced) or value >= ctx.min_quality
    note = "" if enforced else " (not enforced)"
    detail = (
        f"share of right items in the top {ctx.quality_k} is {value:.3f}, "
        f"needs >= {ctx.min_quality}{note}"
    )
    return Quality(value, passed, detail)


def _target_ids(ctx: Context) -> set[str]:
    m = ctx.model
    s = m.scenario_idx(ctx.oracle.target)
    return set(m.vocab("items").to_ids(m.train_state.items_of_scenario(s)))


def _user_idx(ctx: Context, users: Sequence[str]) -> np.ndarray:
    v = ctx.model.vocab("users")
    return np.array([v.index(u) for u in users], dtype=np.int64)


def _rank_quality(ctx: Context, users: Sequence[str]) -> float:
    m = ctx.model
    top, _ = m.rank_users(
        _user_idx(ctx, users),
        scenario=ctx.oracle.target,
        k=ctx.quality_k,
        exclude=m.train_state.matrix(None, binary=True),
    )
    items_v = m.vocab("items")
    scores = []
    for u, row in zip(users, top, strict=True):
        ids = items_v.to_ids(row[row >= 0])
        scores.append(_precision(ids, ctx.oracle.relevant[u], ctx.quality_k))
    return float(np.mean(scores))


def _adhoc_histories(
    ctx: Context, *, with_target: bool
) -> list[tuple[list[HistoryEvent], set[str]]]:
    """One ad-hoc history per cluster and its right answer (the cluster's unseen target items)."""
    o = ctx.oracle
    out = []
    for c in range(o.config.n_clusters):
        src = o.items(o.source, c)[: o.config.seen_per_scenario]
        tgt = o.items(o.target, c)[: o.config.seen_per_scenario // 2] if with_target else []
        events = [HistoryEvent(i, o.source, "click", t) for t, i in enumerate(src)]
        events += [HistoryEvent(i, o.target, "click", 100 + t) for t, i in enumerate(tgt)]
        out.append((events, set(o.items(o.target, c)) - set(tgt)))
    return out


def _adhoc_quality(ctx: Context, *, with_target: bool) -> float:
    scores = []
    for events, relevant in _adhoc_histories(ctx, with_target=with_target):
        r = ctx.model.recommend(
            RecQuery(history=events, scenario=ctx.oracle.target), k=ctx.quality_k
        )
        scores.append(_precision(r.item_ids, relevant, ctx.quality_k))
    return float(np.mean(scores))


def _check_ranked(r: Ranked, what: str) -> None:
    _fail_if(len(set(r.item_ids)) != len(r.item_ids), f"{what}: duplicate items {r.item_ids}")
    _fail_if(r.scores.dtype != np.float32, f"{what}: scores are {r.scores.dtype}, not float32")
    _fail_if(len(r.scores) != len(r.item_ids), f"{what}: {len(r.scores)} scores, {len(r)} items")
    _fail_if(bool(np.any(np.diff(r.scores) > 0)), f"{what}: scores not best first {r.scores}")
    _fail_if(bool(np.any(np.isnan(r.scores))), f"{what}: NaN scores")


def _probe_queries(ctx: Context) -> list[RecQuery]:
    """Queries whose output must survive refits and save/load: warm, cold, ad-hoc users."""
    o = ctx.oracle
    qs = [
        RecQuery(user_id=o.warm_users[0], scenario=o.target),
        RecQuery(user_id=o.warm_users[-1], scenario=o.source),
        RecQuery(user_id=o.cold_users[0], scenario=o.target),
        RecQuery(user_id=o.warm_users[1], scenario=None),
    ]
    for events, _ in _adhoc_histories(ctx, with_target=True)[:2]:
        qs.append(RecQuery(history=events, scenario=o.target))
    return qs


def _all_scores(model: BaseRecommender[Any], ctx: Context) -> list[np.ndarray]:
    n = model.train_state.n_users
    users = np.arange(n, dtype=np.int64)
    out = [model.score_users(users, scenario=s) for s in (ctx.oracle.target, ctx.oracle.source)]
    out.append(model.score_users(users, scenario=None))
    return out


def _same(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    if atol == 0.0:
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=0.0, atol=atol))


def _compare_models(ctx: Context, other: BaseRecommender[Any], what: str, k: int = 10) -> None:
    for s_a, s_b, label in zip(
        _all_scores(ctx.model, ctx),
        _all_scores(other, ctx),
        ("target", "source", "all"),
        strict=True,
    ):
        if not _same(s_a, s_b, ctx.atol):
            diff = float(np.max(np.abs(s_a - s_b))) if s_a.shape == s_b.shape else float("nan")
            raise CheckFailedError(
                f"{what}: {label}-scenario scores differ (max abs diff {diff:.3g})"
            )
    for q in _probe_queries(ctx):
        a, b = ctx.model.recommend(q, k=k), other.recommend(q, k=k)
        who = q.user_id or "ad-hoc history"
        _fail_if(a.item_ids != b.item_ids, f"{what}: recommendations for {who} differ")
        _fail_if(not _same(a.scores, b.scores, ctx.atol), f"{what}: scores for {who} differ")


# ---------------------------------------------------------------------- the checks
def check_not_fitted(model: BaseRecommender[Any], data: Oracle) -> None:
    try:
        model.recommend(RecQuery(user_id=data.warm_users[0], scenario=data.target))
    except NotFittedError:
        return
    except Exception as exc:
        raise CheckFailedError(f"raised {type(exc).__name__}, expected NotFittedError") from None
    raise CheckFailedError("recommend() before fit() did not raise NotFittedError")


def _check_config_roundtrip(ctx: Context) -> None:
    cfg = ctx.model.config
    again = type(cfg).from_dict(cfg.to_dict())
    _fail_if(again != cfg, f"config changed in a to_dict/from_dict round trip: {cfg} -> {again}")


def _check_scores(ctx: Context) -> None:
    m = ctx.model
    n = m.train_state.n_users
    users = np.arange(n, dtype=np.int64)
    for scen in (ctx.oracle.target, ctx.oracle.source, None):
        items = m.train_state.items_of_scenario(m.scenario_idx(scen))
        raw = m._score(_batch(m, users, scen), items)
        label = scen or "all scenarios"
        _fail_if(raw.shape != (n, len(items)), f"{label}: shape {raw.shape} != {(n, len(items))}")
        _fail_if(raw.dtype != np.float32, f"{label}: _score returned {raw.dtype}, not float32")
        silent = np.isnan(raw).all(axis=1) if raw.shape[1] else np.zeros(n, bool)
        _fail_if(
            not np.all(np.isfinite(raw[~silent])),
            f"{label}: _score returned non-finite values (only a whole row of NaN may say "
            "'no signal')",
        )
        _fail_if(
            ctx.cross_scenario and bool(silent.any()),
            f"{label}: no signal (NaN rows) for {int(silent.sum())} user(s) with history",
        )
    for events, _ in _adhoc_histories(ctx, with_target=False)[:1]:
        r = m.recommend(RecQuery(history=events, scenario=ctx.oracle.target), k=10)
        _fail_if(not np.all(np.isfinite(r.scores)), "ad-hoc history: non-finite scores")


def _batch(m: BaseRecommender[Any], users: np.ndarray, scen: str | None) -> UserBatch:
    return UserBatch(users, m.scenario_idx(scen), m.train_state)


def _check_batch_consistency(ctx: Context) -> None:
    m = ctx.model
    users = _user_idx(ctx, [*ctx.oracle.warm_users[:7], *ctx.oracle.cold_users[:3]])
    full = m.score_users(users, scenario=ctx.oracle.target)
    for row, u in enumerate(users):
        alone = m.score_users(np.array([u]), scenario=ctx.oracle.target)[0]
        if not np.allclose(full[row], alone, rtol=1e-4, atol=1e-5):
            raise CheckFailedError(
                f"user_idx {u}: scores in a batch differ from scores alone "
                f"(max abs diff {float(np.max(np.abs(full[row] - alone))):.3g})"
            )


def _check_quality_warm(ctx: Context) -> Quality:
    v = _rank_quality(ctx, ctx.oracle.warm_users)
    return _quality(ctx, v, enforced=ctx.personalised)


def _check_quality_cold(ctx: Context) -> Quality:
    v = _rank_quality(ctx, ctx.oracle.cold_users)
    return _quality(ctx, v, enforced=ctx.personalised and ctx.cross_scenario)


def _check_quality_adhoc(ctx: Context) -> Quality:
    v = _adhoc_quality(ctx, with_target=True)
    return _quality(ctx, v, enforced=ctx.personalised)


def _check_quality_adhoc_cold(ctx: Context) -> Quality:
    v = _adhoc_quality(ctx, with_target=False)
    return _quality(ctx, v, enforced=ctx.personalised and ctx.cross_scenario)


def _check_recommend_output(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    target = _target_ids(ctx)
    for user in (o.warm_users[0], o.cold_users[0]):
        r = m.recommend(RecQuery(user_id=user, scenario=o.target), k=10)
        _check_ranked(r, user)
        _fail_if(len(r) != 10, f"{user}: asked for 10 items, got {len(r)}")
        if user in o.warm_users or ctx.cross_scenario:
            _fail_if(r.fallback, f"{user}: a known user with history got the popularity fallback")
        outside = set(r.item_ids) - target
        _fail_if(bool(outside), f"{user}: items outside the target scenario {sorted(outside)}")
        seen = set(o.events.filter(o.events[C.USER_ID] == user)[C.ITEM_ID].to_list())
        _fail_if(
            bool(seen & set(r.item_ids)), f"{user}: seen items returned {seen & set(r.item_ids)}"
        )


def _check_exclude(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    q = RecQuery(user_id=o.warm_users[2], scenario=o.target)
    full = m.recommend(q, k=10)
    ex = list(full.item_ids[:3])
    r = m.recommend(RecQuery(user_id=q.user_id, scenario=o.target, exclude=ex), k=7)
    _fail_if(
        bool(set(ex) & set(r.item_ids)), f"excluded items returned: {set(ex) & set(r.item_ids)}"
    )
    # Compare scores, not ids: items tied at the cut may legitimately swap places.
    _fail_if(
        not np.array_equal(r.scores, full.scores[3:10]),
        "excluding the top 3 must leave the rest in the same order: "
        f"scores {full.scores[3:10]} vs {r.scores}",
    )
    before = dict(zip(full.item_ids, full.scores, strict=True))
    moved = [i for i, s in zip(r.item_ids, r.scores, strict=True) if i in before and before[i] != s]
    _fail_if(bool(moved), f"excluding items changed the scores of {moved}")


def _check_candidates(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    user = o.warm_users[3]
    seen = set(o.events.filter(o.events[C.USER_ID] == user)[C.ITEM_ID].to_list())
    pool = [*sorted(_target_ids(ctx))[::3], sorted(seen)[0]]
    r = m.recommend(RecQuery(user_id=user, scenario=o.target, candidates=pool), k=len(pool))
    _check_ranked(r, "candidates")
    _fail_if(
        not set(r.item_ids) <= set(pool), f"items outside candidates: {set(r.item_ids) - set(pool)}"
    )
    expected = len(set(pool) - seen)
    _fail_if(len(r) != expected, f"expected all {expected} unseen candidates, got {len(r)}")
    items_v = m.vocab("items")
    idx = np.array([items_v.index(i) for i in r.item_ids], np.int64)
    direct = m.score_users(_user_idx(ctx, [user]), scenario=o.target, items=idx)[0]
    _fail_if(
        not np.allclose(direct, r.scores, rtol=1e-5, atol=1e-6),
        "candidate scores differ from score_users on the same items",
    )


def _check_exclude_seen_off(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    n_target = len(_target_ids(ctx))
    r = m.recommend(
        RecQuery(user_id=o.warm_users[4], scenario=o.target, exclude_seen=False), k=n_target + 5
    )
    _check_ranked(r, "exclude_seen=False")
    _fail_if(
        len(r) != n_target, f"with exclude_seen=False expected all {n_target} items, got {len(r)}"
    )


def _check_rank_users_exclude(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    users = _user_idx(ctx, o.warm_users[:10])
    excl = m.train_state.matrix(None, binary=True)
    n_target = len(_target_ids(ctx))
    top, scores = m.rank_users(users, scenario=o.target, k=n_target + 3, exclude=excl)
    _fail_if(top.shape != (len(users), n_target + 3), f"rank_users shape {top.shape}")
    for row, u in enumerate(users):
        got = top[row][top[row] >= 0]
        seen = set(excl[u].indices.tolist())
        _fail_if(bool(seen & set(got.tolist())), f"user_idx {u}: excluded items ranked")
        _fail_if(len(set(got.tolist())) != len(got), f"user_idx {u}: duplicate items")
        _fail_if(int((top[row] < 0).sum()) < 3, f"user_idx {u}: expected -1 padding at the end")
        valid = scores[row][top[row] >= 0]
        _fail_if(bool(np.any(np.diff(valid) > 0)), f"user_idx {u}: scores not best first")


def _check_unknown_user(ctx: Context) -> None:
    m, o = ctx.model, ctx.oracle
    try:
        m.recommend(RecQuery(user_id="no-such-user", scenario=o.target))
    except UnknownEntityError:
        pass
    else:
        raise CheckFailedError("an unknown user with unknown_user='raise' did not raise")
    r = m.recommend(
        RecQuery(user_id="no-such-user", scenario=o.target, unknown_user="fallback"), k=10
    )
    _check_ranked(r, "fallback")
    _fail_if(not r.fallback, "the unknown-user fallback is not marked fallback=True")
    _fail_if(len(r) != 10, f"fallback returned {len(r)} items, expected 10")
    _fail_if(not set(r.item_ids) <= _target_ids(ctx), "fallback returned non-target items")


def _check_unknown_scenario(ctx: Context) -> None:
    try:
        ctx.model.recommend(RecQuery(user_id=ctx.oracle.warm_users[0], scenario="no-such-scenario"))
    except UnknownEntityError:
        return
    raise CheckFailedError("an unknown scenario did not raise UnknownEntityError")


def _check_empty_adhoc(ctx: Context) -> None:
    events = [HistoryEvent("no-such-item", ctx.oracle.source)]
    r = ctx.model.recommend(RecQuery(history=events, scenario=ctx.oracle.target), k=5)
    _fail_if(not r.fallback, "an ad-hoc history of unknown items must fall back to popularity")
    _fail_if(len(r) != 5, f"fallback returned {len(r)} items")


def _check_deterministic(ctx: Context) -> None:
    other = ctx.factory().fit(ctx.oracle.train, options=ctx.options)
    _compare_models(ctx, other, "two fits with the same config and data")


def _check_save_load(ctx: Context) -> None:
    path = ctx.tmp_path / f"contract-{ctx.model.name}"
    ctx.model.save(path)
    loaded = type(ctx.model).load(path)
    _fail_if(loaded.config != ctx.model.config, "the loaded config differs")
    _compare_models(ctx, loaded, "after save/load")


CHECK_FUNCTIONS: dict[str, Callable[[Context], Quality | None]] = {
    "config_roundtrip": _check_config_roundtrip,
    "scores": _check_scores,
    "batch_consistency": _check_batch_consistency,
    "quality_warm": _check_quality_warm,
    "quality_cold": _check_quality_cold,
    "quality_adhoc": _check_quality_adhoc,
    "quality_adhoc_cold": _check_quality_adhoc_cold,
    "recommend_output": _check_recommend_output,
    "exclude": _check_exclude,
    "candidates": _check_candidates,
    "exclude_seen_off": _check_exclude_seen_off,
    "rank_users_exclude": _check_rank_users_exclude,
    "unknown_user": _check_unknown_user,
    "unknown_scenario": _check_unknown_scenario,
    "empty_adhoc": _check_empty_adhoc,
    "deterministic": _check_deterministic,
    "save_load": _check_save_load,
}


__all__ = [
    "CHECK_FUNCTIONS",
    "CheckFailedError",
    "Context",
    "Factory",
    "Quality",
    "check_not_fitted",
]
