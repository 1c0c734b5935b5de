"""Exploration: Thompson sampling per scenario between serving strategies, clicks as reward.

Each (scenario, arm) keeps a Beta(1 + clicks, 1 + misses) posterior of its click rate. A request
samples every arm's posterior and serves the best sample; when that arm is not the one with the
best posterior mean the request *explores*, and the share of exploring requests in a scenario is
kept at most ``max_share`` (beyond it the best-mean arm serves). ``Trending`` holds the decayed
item counts the ``trending`` arm ranks by, in O(1) per event; ``with_fresh`` and
``trending_list`` build the lists of the ``fresh`` and ``trending`` arms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scenerec.models.base import BaseRecommender
from scenerec.models.query import RecQuery
from scenerec.models.recent import reserve
from scenerec.online.config import Arm, ExplorationConfig
from scenerec.schema import FloatMatrix, IdxArray

_RESCALE = 60.0  # half-lives between two rescalings of the trending counts


@dataclass
class _ArmStats:
    clicks: int = 0
    misses: int = 0
    served: int = 0


@dataclass
class _ScenarioStats:
    arms: dict[str, _ArmStats] = field(default_factory=dict)
    served: int = 0
    explored: int = 0


class Explorer:
    """Thompson sampling between ``config.arms`` per scenario (see the module docstring)."""

    def __init__(self, config: ExplorationConfig) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        self._stats: dict[str, _ScenarioStats] = {}

    def _scenario(self, scenario: str) -> _ScenarioStats:
        st = self._stats.get(scenario)
        if st is None:
            st = self._stats[scenario] = _ScenarioStats(
                arms={a: _ArmStats() for a in self.config.arms}
            )
        return st

    def choose(self, scenario: str) -> tuple[Arm, bool]:
        """The arm that serves this request, and whether it explores."""
        arms = self.config.arms
        if not self.config.enabled or len(arms) == 1:
            return arms[0], False
        st = self._scenario(scenario)
        a = np.array([1 + st.arms[x].clicks for x in arms], np.float64)
        b = np.array([1 + st.arms[x].misses for x in arms], np.float64)
        greedy = int(np.argmax(a / (a + b)))  # ties: the first arm (the model)
        pick = int(np.argmax(self._rng.beta(a, b)))
        explores = pick != greedy
        if explores and st.explored + 1 > self.config.max_share * (st.served + 1):
            pick, explores = greedy, False
        st.served += 1
        st.explored += explores
        st.arms[arms[pick]].served += 1
        return arms[pick], explores

    def reward(self, scenario: str, arm: str, clicked: bool) -> None:
        """The outcome of a list served by ``arm``: a click on it, or none."""
        stats = self._scenario(scenario).arms.get(arm)
        if stats is None:
            return
        if clicked:
            stats.clicks += 1
        else:
            stats.misses += 1

    def report(self) -> dict[str, Any]:
        """Per scenario: requests, exploration share, and each arm's requests and click rate."""
        out: dict[str, Any] = {"max_share": self.config.max_share, "scenarios": {}}
        served = explored = 0
        for scen, st in self._stats.items():
            served += st.served
            explored += st.explored
            out["scenarios"][scen] = {
                "requests": st.served,
                "exploration_share": round(st.explored / max(st.served, 1), 4),
                "arms": {
                    a: {
                        "requests": s.served,
                        "outcomes": s.clicks + s.misses,
                        "click_rate": round(s.clicks / max(s.clicks + s.misses, 1), 4),
                    }
                    for a, s in st.arms.items()
                },
            }
        out["requests"] = served
        out["exploration_share"] = round(explored / max(served, 1), 4)
        return out


class Trending:
    """Exponentially decayed event counts per (scenario, item), O(1) per event.

    A count is stored multiplied by ``2 ** ((t_event - ref) / half_life)``; dividing every count
    by the same factor leaves the ranking unchanged, so the counts are rescaled only once in
    ``_RESCALE`` half-lives.
    """

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self._ref: float | None = None
        self._counts: dict[int, FloatMatrix] = {}

    def add(self, scenario_idx: IdxArray, item_idx: IdxArray, timestamp: IdxArray) -> None:
        if not len(item_idx):
            return
        if self._ref is None:
            self._ref = float(timestamp.min())
        top = (float(timestamp.max()) - self._ref) / self.half_life_s
        if top > _RESCALE:
            shift = math.floor(top)
            for c in self._counts.values():
                c *= np.float32(2.0**-shift)
            self._ref += shift * self.half_life_s
        w = np.exp2((timestamp.astype(np.float64) - self._ref) / self.half_life_s)
        for s in np.unique(scenario_idx).tolist():
            sel = scenario_idx == s
            c = reserve(self._counts.get(s, np.zeros(0, np.float32)), int(item_idx[sel].max()) + 1)
            np.add.at(c, item_idx[sel], w[sel].astype(np.float32))
            self._counts[s] = c

    def scores(self, scenario_idx: int | None, items: IdxArray) -> FloatMatrix:
        """(len(items),) decayed counts in a scenario (summed over scenarios for ``None``)."""
        out = np.zeros(len(items), np.float32)
        for s, c in self._counts.items():
            if scenario_idx is None or s == scenario_idx:
                ok = items < len(c)
                out[ok] += c[items[ok]]
        return out


def with_fresh(
    model: BaseRecommender[Any],
    query: RecQuery,
    ranked: tuple[tuple[str, ...], np.ndarray],
    fresh: list[int],
    slots: int,
) -> tuple[tuple[str, ...], np.ndarray]:
    """The ``fresh`` arm: the model's list with its last ``slots`` places given to the
    best-scored fresh items of the scenario (the list as it was when there are none)."""
    ids, scores = ranked
    allowed = set(model.items_of_scenario(query.scenario).tolist())
    names = [n for n in model.vocab("items").to_ids([i for i in fresh if i in allowed])]
    names = [n for n in names if n not in ids]
    if not names:
        return ids, scores
    extra = model.recommend(replace(query, candidates=names), k=min(slots, len(ids) or slots))
    keep = max(len(ids) - len(extra), 0)
    return ids[:keep] + extra.item_ids, np.concatenate([scores[:keep], extra.scores])


def trending_list(
    model: BaseRecommender[Any], trending: Trending, query: RecQuery, k: int
) -> tuple[tuple[str, ...], np.ndarray] | None:
    """The ``trending`` arm: top-k by decayed counts in the scenario, the user's items and
    ``exclude`` left out; ``None`` when nothing has trended there yet."""
    cand = model.items_of_scenario(query.scenario)
    score = trending.scores(model.scenario_idx(query.scenario), cand)
    drop: set[int] = set()
    u = model.vocab("users").get(query.user_id) if query.user_id else None
    if u is not None and query.exclude_seen:
        h, sl = model.train_state.user_history(u)
        drop |= set(h.item_idx[sl].tolist())
    items_v = model.vocab("items")
    drop |= {i for i in (items_v.get(x) for x in query.exclude or ()) if i is not None}
    if drop:
        score[np.isin(cand, np.fromiter(drop, np.int64, len(drop)))] = 0.0
    top = np.argsort(-score, kind="stable")[:k]
    top = top[score[top] > 0]
    if not len(top):
        return None
    return tuple(items_v.to_ids(cand[top])), score[top]


__all__ = ["Explorer", "Trending", "trending_list", "with_fresh"]
