"""CrossScenarioRanker: scenerec's flagship. Candidate generators within and across scenarios,
re-ranked per target scenario by a learned ranker over their scores plus cross-scenario and
language-model features.

Two stages, as production recommenders are built. The generators (by default item co-occurrence
over every scenario and within the target, ALS, the CrossScenarioTransformer over the user's mixed
history, language-model similarity between the user's interests and item text, and CMF, EMCDR and
ScenarioFusion, which carry users cold in the target) each propose their best items; a LightGBM
LambdaRank model per target scenario orders the union, reading each generator's score and rank, how
cold the user is in the target, item popularity and text similarities. The ranker learns from the
training data itself: a sample of users lends their newest event in the target (some their whole
target history, to imitate users cold in the target; for some, their label is an item whose every
event is held out, to imitate new items known by their text only, each label user shown as many
such items as serving will offer); the generators fit without those events, the ranker learns to
put them first, then the generators refit on everything. Robust by design: where the ranker does
not beat the best single generator on held-out label users by more than one standard error, that
generator ranks the target alone (``fit_info`` says which and why); users cold in the target get a
plan of their own, chosen the same way on the held-out cold label users (when there are at least
``cold_gate_users``), since the generators that carry them (co-occurrence or factors across
scenarios) are not those that carry warm users. Use it for cross-scenario data of any shape: the
ranker decides, per data set and per target, whether co-occurrence, order, factors or text carry
the signal.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from scenerec.errors import DataWarning
from scenerec.models.base import BaseRecommender
from scenerec.models.flagship.config import CrossScenarioRankerConfig
from scenerec.models.flagship.features import Candidates, build_candidates, feature_names
from scenerec.models.flagship.gate import best_plan, ndcg_at_10
from scenerec.models.flagship.generators import (
    Generator,
    fit_generators,
    generator_arrays,
    generator_manifest,
    refit_generators,
    restore_generators,
)
from scenerec.models.flagship.ranker import RankingSet, TrainedRanker, train_ranker
from scenerec.models.flagship.text import ItemText
from scenerec.models.labels import Labels, hidden_new, split_labels
from scenerec.models.state import TrainState, UserBatch
from scenerec.schema import FloatMatrix, IdxArray

log = logging.getLogger(__name__)

MIN_LABELS = 50  # label users a target needs for a ranker of its own
TRAIN_CANDIDATES = 150  # negatives per label user the ranker trains on (validation: all)
_CHUNK = 256  # users per candidate batch (bounds memory: users x items x generators)
_OFFSET = 1_000.0  # ranked candidates stand above every item outside the candidate set


class CrossScenarioRanker(BaseRecommender[CrossScenarioRankerConfig]):
    """Generators + a learned ranker per target scenario; see the module docstring."""

    config_class = CrossScenarioRankerConfig
    name = "cross_scenario_ranker"

    # ------------------------------------------------------------------ fit
    def _fit(self, data: TrainState) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        self.text_ = self._item_text(data)
        text_s = time.perf_counter() - t0
        targets, labels, part = split_labels(
            data,
            max_users=cfg.label_users,
            cold_share=cfg.cold_share,
            seed=self.seed,
            tag="ranker labels",
            hide_item=not cfg.repeats,
            # without text a new item cannot be told from any other: no new-item labels
            new_share=cfg.new_item_share if self.text_ is not None else 0.0,
        )
        specs, budget_share = cfg.within_budget(cfg.effective_generators(), text_s)
        gens = fit_generators(
            specs, part, targets, self.text_, encoder=cfg.encoder, options=self.options
        )
        fitted_s = time.perf_counter() - t0
        self.names_ = feature_names(gens, self.text_ is not None)
        self.rankers_: dict[int, TrainedRanker] = {}
        self.plan_: dict[int, str] = {}
        self.cold_plan_: dict[int, str] = {}
        report: dict[str, Any] = {}
        for t in targets:
            report[data.scenarios[t]] = self._learn_target(gens, part, t, labels)
        ranked_s = time.perf_counter() - t0
        gen_s = {g.label: round(g.seconds, 1) for g in gens}  # before a rebase overwrites it
        self.generators_ = refit_generators(
            gens, data, targets, encoder=cfg.encoder, options=self.options
        )
        self.fit_info = {
            "targets": report,
            "generators": {g.label: _gen_info(g) for g in self.generators_},
            "items_with_text": 0 if self.text_ is None else self.text_.n_with_text,
            "label_fit_seconds": round(fitted_s, 1),
            "budget_share": round(budget_share, 3),  # of the time-budgeted generators' budgets
            "fit_seconds": round(time.perf_counter() - t0, 1),
            # where the fit's time went: encoding item text, each generator's fit without the
            # label events, the rankers with their gates, each generator's refit (or rebase)
            "seconds": {
                "text": round(text_s, 1),
                "generators": gen_s,
                "rankers": round(ranked_s - fitted_s, 1),
                "refit": {g.label: round(g.seconds, 1) for g in self.generators_},
            },
        }

    def _item_text(self, data: TrainState) -> ItemText | None:
        cfg = self.config
        if cfg.encoder is None:
            return None
        text = ItemText.encode(
            data, cfg.encoder, cfg.template, cache=cfg.text_cache, recency=cfg.recency
        )
        missing = data.n_items - text.n_with_text
        if text.n_with_text == 0:
            _warn(f"{self.name}: no item has text; text features are off (ids only)")
            return None
        if missing:
            _warn(
                f"{self.name}: {missing:,} of {data.n_items:,} items have no text; they are "
                "ranked through their ids only"
            )
        return text

    def _learn_target(
        self, gens: list[Generator], part: TrainState, t: int, labels: Labels
    ) -> dict[str, Any]:
        """Train target ``t``'s ranker and decide, on held-out label users, whether it or the
        best single generator ranks ``t``."""
        users, items, cold = labels.users[t], labels.items[t], labels.cold[t]
        if len(users) < MIN_LABELS:
            self.plan_[t] = self.cold_plan_[t] = gens[0].label
            return {"plan": gens[0].label, "reason": f"only {len(users)} label users"}
        rng = np.random.default_rng([self.seed, t, 7_003])
        valid = rng.random(len(users)) < self.config.ranker.valid_share
        pool = self._new_pool(part, t, labels)
        sets, recall = [], []
        for mask, cap in ((~valid, TRAIN_CANDIDATES), (valid, None)):
            rs, found = self._ranking_set(gens, part, t, users[mask], items[mask], cap, pool)
            sets.append(rs)
            recall.append(found)
        ranker = train_ranker(
            sets[0],
            sets[1],
            self.names_,
            self.config.ranker,
            seed=self.seed,
            threads=self.options.resolved_threads(),
        )
        # The gate: full-ranking NDCG@10 of the held-out label users, ranker vs each generator,
        # over all of them and apart for those cold in the target.
        gains = self._gate(gens, ranker, part, t, users[valid], items[valid], pool)
        is_cold, is_new = cold[valid], labels.new[t][valid]
        cold_gains = {k: v[is_cold] for k, v in gains.items()}
        ndcg = {k: float(v.mean()) if len(v) else 0.0 for k, v in gains.items()}
        cold_ndcg = {k: float(v.mean()) if len(v) else 0.0 for k, v in cold_gains.items()}
        self.plan_[t], versus = best_plan(gains)
        n_cold = int(is_cold.sum())
        enough = n_cold >= self.config.cold_gate_users
        self.cold_plan_[t], cold_versus = best_plan(cold_gains) if enough else (self.plan_[t], {})
        if "ranker" in (self.plan_[t], self.cold_plan_[t]):
            self.rankers_[t] = ranker
        return {
            "plan": self.plan_[t],
            "cold_plan": self.cold_plan_[t],
            "label_users": len(users),
            "cold_label_users": int(cold.sum()),
            "candidate_recall": round(float(np.mean(np.concatenate(recall))), 4),
            "ranker_rounds": ranker.best_iteration,
            "valid_ndcg@10": {k: round(v, 4) for k, v in ndcg.items()},
            "ranker_vs_best": versus,
            "cold_ranker_vs_best": cold_versus,
            "valid_cold_users": n_cold,
            "valid_cold_ndcg@10": {k: round(v, 4) for k, v in cold_ndcg.items()},
            "new_item_share": labels.new_share.get(t, 0.0),
            "new_item_label_users": int(labels.new[t].sum()),
            "new_item_shown": pool[1],  # label-new items in each label user's catalogue
            "valid_new_item_users": int(is_new.sum()),
            "valid_new_item_ndcg@10": {
                k: round(float(v[is_new].mean()), 4) for k, v in gains.items() if is_new.any()
            },
        }

    def _ranking_set(
        self,
        gens: list[Generator],
        part: TrainState,
        t: int,
        users: IdxArray,
        items: IdxArray,
        cap: int | None,
        pool: tuple[IdxArray, int],
    ) -> tuple[RankingSet, np.ndarray]:
        """The candidates of label users with a positive among them; with ``cap``, each user's
        positive plus at most ``cap`` of their negatives drawn at random (training needs the
        contrast, not every negative: several times less data to boost on); ``pool``: the
        label-new items and how many of them each user sees (``_new_pool``)."""
        cand_items = part.items_of_scenario(t)
        rng = np.random.default_rng([self.seed, t, 7_005])
        seen = None if self.config.repeats else part.matrix(None, binary=True)[:, cand_items]
        feats, labels, group, found = [], [], [], []
        for start in range(0, len(users), _CHUNK):
            u, target_item = users[start : start + _CHUNK], items[start : start + _CHUNK]
            hide = hidden_new(pool[0], target_item, cand_items, pool[1], rng)
            c = self._candidate_set(gens, UserBatch(u, t, part), t, cand_items, hide)
            y = (cand_items[c.cols] == target_item[c.rows]).astype(np.float32)
            sizes = c.sizes(len(u))
            hit = np.bincount(c.rows, weights=y, minlength=len(u)) > 0
            found.append(hit)
            keep = hit[c.rows]
            if seen is not None:  # the user's own items are left out, as when serving
                keep &= (y > 0) | (np.asarray(seen[u][c.rows, c.cols]).ravel() == 0)
            if cap is not None:
                # random order within each row; a negative is kept among its row's first ``cap``
                order = np.lexsort((rng.random(len(c.rows)), c.rows))
                nth = np.empty(len(c.rows), np.int64)
                nth[order] = np.arange(len(c.rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
                keep &= (y > 0) | (nth < cap)
            feats.append(c.features[keep])
            labels.append(y[keep])
            group.append(np.bincount(c.rows[keep], minlength=len(u))[hit])
        return (
            RankingSet(
                np.concatenate(feats),
                np.concatenate(labels),
                np.concatenate(group).astype(np.int64),
            ),
            np.concatenate(found),
        )

    def _gate(
        self,
        gens: list[Generator],
        ranker: TrainedRanker,
        part: TrainState,
        t: int,
        users: IdxArray,
        items: IdxArray,
        pool: tuple[IdxArray, int],
    ) -> dict[str, np.ndarray]:
        """Per user, NDCG@10 of the ranker and of each generator (each user's catalogue
        showing ``pool``'s share of the label-new items, as in training)."""
        cand_items = part.items_of_scenario(t)
        rng = np.random.default_rng([self.seed, t, 7_007])
        parts: dict[str, list[np.ndarray]] = {"ranker": [], **{g.label: [] for g in gens}}
        seen = part.matrix(None, binary=True)
        for start in range(0, len(users), _CHUNK):
            u, target_item = users[start : start + _CHUNK], items[start : start + _CHUNK]
            batch = UserBatch(u, t, part)
            hide = hidden_new(pool[0], target_item, cand_items, pool[1], rng)
            excl = (seen[u][:, cand_items].toarray() > 0) | hide
            col = np.searchsorted(cand_items, target_item)
            c = self._candidate_set(gens, batch, t, cand_items, hide, keep_scores=True)
            runs = {"ranker": self._compose(c, ranker), **c.scores}
            for name, scores in runs.items():
                parts[name].append(ndcg_at_10(scores, excl, col))
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}

    # ------------------------------------------------------------------ scoring
    def _candidate_set(
        self,
        gens: list[Generator],
        batch: UserBatch,
        t: int,
        items: IdxArray,
        hide: np.ndarray | None = None,
        *,
        keep_scores: bool = False,
    ) -> Candidates:
        pop_t = batch.train.popularity_of(t)
        pop_all = batch.train.popularity_of(None)
        return build_candidates(
            gens, self.text_, batch, t, items, pop_t, pop_all, hide, keep_scores=keep_scores
        )

    def _new_pool(self, part: TrainState, t: int, labels: Labels) -> tuple[IdxArray, int]:
        """The target's label-new items and how many of them each label user sees: enough
        that, with the catalogue's own items without an event there, a label user meets
        ``new_item_pool`` new items, as serving will."""
        new = labels.new_items.get(t, np.zeros(0, np.int64))
        items = part.items_of_scenario(t)
        natural = int((part.popularity_of(t)[items] == 0).sum()) - len(new)
        return new, max(self.config.new_item_pool - natural, 0)

    @staticmethod
    def _compose(c: Candidates, ranker: TrainedRanker) -> FloatMatrix:
        out = c.best.copy()
        if len(c.rows):
            out[c.rows, c.cols] = _OFFSET + ranker.predict(c.features)
        return out

    def _plans(self, users: UserBatch) -> tuple[str | None, str | None, np.ndarray]:
        """The target's plan for warm users, its plan for users cold in the target (no event
        there), and which rows are cold."""
        t = users.scenario_idx
        plan = self.plan_.get(t) if t is not None else None
        cold_plan = self.cold_plan_.get(t, plan) if t is not None else plan
        if t is None or cold_plan == plan:
            return plan, cold_plan, np.zeros(len(users), bool)
        return plan, cold_plan, users.matrix(t, binary=True).getnnz(axis=1) == 0

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        plan, cold_plan, cold = self._plans(users)
        if not cold.any():
            return self._score_plan(plan, users, items)
        out = np.empty((len(users), len(items)), np.float32)
        for p, rows in ((plan, np.flatnonzero(~cold)), (cold_plan, np.flatnonzero(cold))):
            if len(rows):
                out[rows] = self._score_plan(p, _sub_batch(users, rows), items)
        return out

    def _score_plan(self, plan: str | None, users: UserBatch, items: IdxArray) -> FloatMatrix:
        t = users.scenario_idx
        if t is None or plan is None or plan != "ranker":
            gen = self._generator(plan)
            s, silent = gen.scores(users, -1 if t is None else t, items)
            return np.where(silent[:, None], np.nan, s).astype(np.float32)
        # The ranker's features (ranks, gaps to the best) are read against the scenario's whole
        # catalog, so an item's score does not depend on which other items were asked for.
        catalog = self.train_state.items_of_scenario(t)
        pos = np.minimum(np.searchsorted(catalog, items), max(len(catalog) - 1, 0))
        inside = catalog[pos] == items if len(catalog) else np.zeros(len(items), bool)
        out = np.full((len(users), len(items)), np.nan, np.float32)
        for start in range(0, len(users), _CHUNK):
            rows = np.arange(start, min(start + _CHUNK, len(users)))
            sub = _sub_batch(users, rows)
            c = self._candidate_set(self.generators_, sub, t, catalog)
            out[rows[:, None], np.flatnonzero(inside)] = self._compose(c, self.rankers_[t])[
                :, pos[inside]
            ]
        return out

    def _contributions(self, batch: UserBatch, items: IdxArray) -> list[dict[str, float]]:
        """Each item's SHAP contributions for the batch's one user, summed per generator
        (``text`` for the text similarities, ``context`` for popularity and user features), as
        shares; the user's plan (cold in the target or not) decides what explains."""
        t = batch.scenario_idx
        plan, cold_plan, cold = self._plans(batch)
        plan = cold_plan if cold[0] else plan
        if t is None or plan != "ranker":
            return [{plan or self.generators_[0].label: 1.0} for _ in items]
        cand_items = self.train_state.items_of_scenario(t)
        c = self._candidate_set(self.generators_, batch, t, cand_items)
        where = {int(i): j for j, i in enumerate(cand_items[c.cols])}
        groups = [_group(n) for n in self.names_]
        out: list[dict[str, float]] = []
        contrib = self.rankers_[t].contributions(c.features) if len(c.rows) else None
        for item in items:
            j = where.get(int(item))
            if j is None or contrib is None:
                out.append({"generators (outside the candidates)": 1.0})
                continue
            shares: dict[str, float] = {}
            for g, v in zip(groups, np.abs(contrib[j]), strict=True):
                shares[g] = shares.get(g, 0.0) + float(v)
            total = sum(shares.values()) or 1.0
            out.append({g: round(v / total, 4) for g, v in shares.items()})
        return out

    def _generator(self, label: str | None) -> Generator:
        for g in self.generators_:
            if g.label == label:
                return g
        return self.generators_[0]

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        out = generator_arrays(self.generators_)
        if self.text_ is not None:
            out["text.vectors"] = self.text_.vectors
            out["text.has_text"] = self.text_.has_text
        for t, r in self.rankers_.items():
            out[f"ranker.{t}"] = r.to_bytes()
        return out

    def _manifest_extra(self) -> dict[str, Any]:
        return {
            "generators": generator_manifest(self.generators_),
            "plan": {str(t): p for t, p in self.plan_.items()},
            "cold_plan": {str(t): p for t, p in self.cold_plan_.items()},
            "features": self.names_,
            "valid_ndcg": {str(t): r.valid_ndcg for t, r in self.rankers_.items()},
        }

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        self._extra = extra

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        extra = self._extra
        self.text_ = None
        if "text.vectors" in arrays:
            self.text_ = ItemText(
                np.array(arrays["text.vectors"]),
                np.array(arrays["text.has_text"]),
                self.config.recency,
            )
        self.plan_ = {int(t): p for t, p in extra["plan"].items()}
        # runs saved before cold plans existed serve cold users with the target's plan
        self.cold_plan_ = {int(t): p for t, p in extra.get("cold_plan", extra["plan"]).items()}
        self.names_ = list(extra["features"])
        self.rankers_ = {
            int(t): TrainedRanker.from_bytes(arrays[f"ranker.{t}"], float(v))
            for t, v in extra["valid_ndcg"].items()
        }
        self.generators_ = restore_generators(
            extra["generators"], arrays, self.train_state, self.text_, self.options
        )


def _sub_batch(batch: UserBatch, rows: IdxArray) -> UserBatch:
    where = {int(r): j for j, r in enumerate(rows)}
    adhoc = {where[i]: h for i, h in batch.adhoc.items() if i in where}
    return UserBatch(batch.user_idx[rows], batch.scenario_idx, batch.train, adhoc)


def _group(feature: str) -> str:
    """The model part a feature belongs to: its generator, ``text`` or ``context``."""
    if ":" in feature:
        return feature.split(":", 1)[0]
    return "text" if feature.startswith("text_") else "context"


def _gen_info(g: Generator) -> dict[str, Any]:
    return {str(k): m.fit_info for k, m in g.models.items()}


def _warn(msg: str) -> None:
    import warnings

    warnings.warn(msg, DataWarning, stacklevel=3)  # the CLI shows DataWarnings as one line


__all__ = ["CrossScenarioRanker"]
