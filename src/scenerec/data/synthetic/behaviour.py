"""The synthetic shop's shoppers: users with drifting topic mixtures, and the events they make.

A user has a Dirichlet mixture over a few topics that drifts linearly towards a new topic over
the time span, an activity level, an active window and a set of scenarios. The *same* mixture
drives every scenario, so behaviour in one scenario predicts behaviour in another. Each intent
picks a scenario, a time, a topic and an item of that topic in that scenario, then walks the
scenario's funnel; a ``search`` event carries a query made of the clicked item's words.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import polars as pl

from scenerec.data.synthetic.catalogue import Items
from scenerec.data.synthetic.config import DAY, SyntheticConfig
from scenerec.data.synthetic.sampling import (
    BoolArray,
    FloatArray,
    IntArray,
    make_ids,
    pick_k,
    sample_rows,
)
from scenerec.data.synthetic.vocabulary import N_WORDS, TOPICS
from scenerec.schema import C

logger = logging.getLogger(__name__)

# Funnels: (behaviour, probability of reaching this step from the previous one, mean seconds
# after the previous step). Scenario names not listed use the "web" funnel.
_FUNNELS: Final[dict[str, tuple[tuple[str, float, float], ...]]] = {
    "app": (
        ("view", 1.0, 0.0),
        ("click", 0.45, 20.0),
        ("cart", 0.30, 90.0),
        ("purchase", 0.55, 600.0),
    ),
    "web": (("view", 1.0, 0.0), ("click", 0.40, 25.0), ("purchase", 0.12, 900.0)),
    "search": (("search", 1.0, 0.0), ("click", 0.65, 8.0)),
}
_DEFAULT_FUNNEL: Final = "web"
_DWELL_BEHAVIORS: Final = ("view", "click")

# Relative activity by hour of day (UTC): quiet nights, a lunch bump and an evening peak.
_HOURLY: Final = np.array(
    [2, 1, 1, 1, 1, 1, 2, 4, 5, 5, 5, 6, 7, 6, 5, 5, 5, 6, 7, 9, 10, 9, 6, 4], dtype=np.float64
)


@dataclass(frozen=True)
class Users:
    """Every user; the per-human arrays are indexed by position in ``humans``.

    Attributes:
        ids: user ids (``u0001``...), bots included.
        is_bot: ``(n_users,)``.
        humans: user index of each human, ``(n_humans,)``.
        in_scen: scenarios each human uses, ``(n_humans, n_scenarios)``.
        scen_share: each human's share of intents per scenario, ``(n_humans, n_scenarios)``.
        s_weights: overall popularity of the scenarios, ``(n_scenarios,)``, sums to 1.
        m_start: topic mixtures on the first day, ``(n_humans, n_topics)``.
        m_end: topic mixtures on the last day.
        activity: relative activity, ``(n_humans,)``.
        first_day: first active day, ``(n_humans,)``.
        last_day: last active day.
    """

    ids: pl.Series
    is_bot: BoolArray
    humans: IntArray
    in_scen: BoolArray
    scen_share: FloatArray
    s_weights: FloatArray
    m_start: FloatArray
    m_end: FloatArray
    activity: FloatArray
    first_day: IntArray
    last_day: IntArray


@dataclass(frozen=True)
class EventArrays:
    """Events as parallel arrays (one entry per event), before they are written as text.

    Attributes:
        user: user index.
        item: item index.
        scenario: scenario index.
        behavior: index into the behaviour names (``funnel_behaviors``).
        ts: seconds since ``SyntheticConfig.start`` (float).
        value: dwell seconds, NaN for none.
        query: search text (String), null for none.
    """

    user: IntArray
    item: IntArray
    scenario: IntArray
    behavior: IntArray
    ts: FloatArray
    value: FloatArray
    query: pl.Series


class _Intents(NamedTuple):
    user: IntArray  # position in Users.humans
    scenario: IntArray
    t0: FloatArray
    item: IntArray
    affinity: FloatArray
    depth: IntArray  # funnel steps taken


def make_users(rng: np.random.Generator, cfg: SyntheticConfig, topic_pop: FloatArray) -> Users:
    """Bots, scenarios, topic mixtures, activity and active windows of ``cfg.n_users`` users."""
    n_s, n_u = len(cfg.scenarios), cfg.n_users
    user_ids = make_ids("u", n_u)
    n_bots = 0 if cfg.bot_fraction == 0 else max(1, round(cfg.bot_fraction * n_u))
    n_bots = min(n_bots, n_u - 1)
    is_bot = np.zeros(n_u, dtype=bool)
    is_bot[rng.choice(n_u, n_bots, replace=False)] = True
    humans = np.flatnonzero(~is_bot)
    n_h = len(humans)
    s_weights = np.array(
        cfg.scenario_weights or [0.5 * 0.6**k for k in range(n_s)], dtype=np.float64
    )
    s_weights /= s_weights.sum()
    n_scen = np.where(
        rng.random(n_h) < cfg.single_scenario_fraction,
        1,
        rng.integers(min(2, n_s), n_s + 1, n_h),
    )
    n_scen = np.minimum(n_scen, n_s).astype(np.int64)
    in_scen = pick_k(rng, s_weights, n_scen)
    scen_share = rng.gamma(2.0, size=(n_h, n_s)) * s_weights[None, :] * in_scen
    scen_share /= scen_share.sum(axis=1, keepdims=True)
    m_start, m_end = _mixtures(rng, cfg, n_h, topic_pop)
    activity = rng.lognormal(0.0, 1.0, n_h)
    window = rng.random(n_h)
    first_day = np.where(window < 0.25, rng.integers(0, max(1, int(cfg.days * 0.7)), n_h), 0)
    last_day = np.where(
        window > 0.85, rng.integers(int(cfg.days * 0.3), cfg.days, n_h), cfg.days - 1
    )
    last_day = np.maximum(last_day, first_day)
    return Users(
        ids=user_ids,
        is_bot=is_bot,
        humans=humans,
        in_scen=in_scen,
        scen_share=scen_share,
        s_weights=s_weights,
        m_start=m_start,
        m_end=m_end,
        activity=activity,
        first_day=first_day,
        last_day=last_day,
    )


def funnel_behaviors(scenarios: tuple[str, ...]) -> list[str]:
    """The behaviour names the funnels of ``scenarios`` use; event codes index this list."""
    return _funnel_tables(scenarios)[0]


def human_events(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    items: Items,
    users: Users,
    target: int,
    span: int,
) -> EventArrays:
    """About ``target`` events of the humans: intents expanded along their funnels."""
    behaviors, codes, probs, gaps = _funnel_tables(cfg.scenarios)
    it = _intents(rng, cfg, items, users, target, probs, span)
    d = it.depth
    owner = np.repeat(np.arange(len(d)), d)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(d) - d, d)
    e_scen = it.scenario[owner]
    gap = rng.exponential(1.0, len(owner)) * gaps[e_scen, step]
    csum = np.cumsum(gap)
    offset = csum - np.repeat(csum[np.cumsum(d) - d], d)  # seconds since the intent's first step
    e_ts = np.minimum(it.t0[owner] + offset, span - 1)
    e_beh = codes[e_scen, step]
    e_item = it.item[owner]
    beh_names = np.array(behaviors)
    dwell_ok = np.isin(beh_names[e_beh], _DWELL_BEHAVIORS)
    e_value = np.where(dwell_ok, rng.lognormal(math.log(20.0) + it.affinity[owner], 0.8), np.nan)
    is_search = beh_names[e_beh] == "search"
    e_query = _queries(rng, cfg, items, e_item, is_search)
    e_user = users.humans[it.user[owner]]
    return EventArrays(e_user, e_item, e_scen, e_beh, e_ts, e_value, e_query)


def newcomer_events(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    items: Items,
    users: Users,
    human: EventArrays,
    span: int,
) -> tuple[EventArrays, dict[int, int]]:
    """First visits to a new scenario: ``cfg.newcomer_fraction`` of the humans who do not use
    every scenario end their log with one event in a scenario they never used before.

    The visit is the first step of that scenario's funnel (a view, or a search that carries
    the item's words), an item of a topic drawn from the user's end-of-span mixture (or a
    random topic, as often as ``cfg.noise``), one minute to two days after the user's last
    event. It is what makes users cold in a scenario: their interests are known only from the
    others, through the shared topics (which item text expresses).

    Returns:
        The events, and user index -> the new scenario's index.
    """
    behaviors, codes, _, _ = _funnel_tables(cfg.scenarios)
    n_h = len(users.humans)
    last_ts = np.full(n_h, -1.0)
    pos = np.searchsorted(users.humans, human.user)  # position of each event's user in humans
    np.maximum.at(last_ts, pos, human.ts)
    t0 = last_ts + rng.uniform(60.0, 2 * DAY, n_h)
    eligible = ~users.in_scen.all(axis=1) & (last_ts >= 0) & (t0 < span - 1)
    cand = np.flatnonzero(eligible)
    k = round(cfg.newcomer_fraction * len(cand))
    who = np.sort(rng.choice(cand, k, replace=False)) if k else np.zeros(0, np.int64)
    unused = np.where(users.in_scen[who], 0.0, users.s_weights[None, :])
    scen = sample_rows(rng, unused)
    frac = (t0[who] / span)[:, None]
    mix = (1.0 - frac) * users.m_start[who] + frac * users.m_end[who]
    topic = sample_rows(rng, mix)
    noisy = rng.random(k) < cfg.noise
    topic[noisy] = rng.choice(cfg.n_topics, int(noisy.sum()), p=items.topic_pop)
    item = items.draw(rng, scen, topic)
    beh = codes[scen, 0]
    beh_names = np.array(behaviors)
    affinity = mix[np.arange(k), topic]
    dwell_ok = np.isin(beh_names[beh], _DWELL_BEHAVIORS)
    value = np.where(dwell_ok, rng.lognormal(math.log(20.0) + affinity, 0.8), np.nan)
    query = _queries(rng, cfg, items, item, beh_names[beh] == "search")
    user = users.humans[who]
    events = EventArrays(user, item, scen, beh, t0[who], value, query)
    return events, dict(zip(user.tolist(), scen.tolist(), strict=True))


def _intents(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    items: Items,
    users: Users,
    target: int,
    probs: FloatArray,
    span: int,
) -> _Intents:
    """Scenario, time, topic, item and funnel depth of enough intents for ``target`` events."""
    n_h, n_t = len(users.humans), cfg.n_topics
    depth = probs.shape[1]
    est_len = float((np.cumprod(probs, axis=1).sum(axis=1) * users.s_weights).sum())
    n_extra = math.ceil(max(0.0, target - n_h * est_len) / est_len * 1.3) + 10
    # One intent per user first (so every human appears), then the rest by activity.
    activity = users.activity
    iu = np.r_[np.arange(n_h), rng.choice(n_h, n_extra, p=activity / activity.sum())]
    n_int = len(iu)
    first_day, last_day = users.first_day, users.last_day
    isc = sample_rows(rng, users.scen_share[iu])
    day = first_day[iu] + np.floor(rng.random(n_int) * (last_day[iu] - first_day[iu] + 1))
    hour = rng.choice(24, n_int, p=_HOURLY / _HOURLY.sum())
    t0 = day * DAY + hour * 3600 + rng.random(n_int) * 3600
    frac = (t0 / span)[:, None]
    mix = (1.0 - frac) * users.m_start[iu] + frac * users.m_end[iu]
    topic = sample_rows(rng, mix)
    noisy = rng.random(n_int) < cfg.noise
    topic[noisy] = rng.choice(n_t, int(noisy.sum()), p=items.topic_pop)
    affinity = mix[np.arange(n_int), topic]
    item = items.draw(rng, isc, topic)

    factor = 0.6 + 0.8 * affinity  # interested users go deeper down the funnel
    d = np.ones(n_int, dtype=np.int64)
    going = np.ones(n_int, dtype=bool)
    for k in range(1, depth):
        going &= rng.random(n_int) < np.minimum(probs[isc, k] * factor, 0.95)
        d += going
    keep = np.cumsum(d) <= target  # the one-per-user intents come first: kept first
    if d[keep].sum() < target * 0.98:
        logger.info("synthetic: %d human events, fewer than the %d targeted", d[keep].sum(), target)
    sel = np.flatnonzero(keep)
    return _Intents(iu[sel], isc[sel], t0[sel], item[sel], affinity[sel], d[sel])


def _mixtures(
    rng: np.random.Generator, cfg: SyntheticConfig, n: int, topic_pop: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Start and end topic mixtures ``(n, n_topics)`` for ``n`` users."""
    t = cfg.n_topics
    k = np.minimum(1 + rng.poisson(cfg.topics_per_user - 1.0, size=n), t).astype(np.int64)
    chosen = pick_k(rng, topic_pop, k)
    g = rng.gamma(cfg.dirichlet_alpha, size=(n, t)) * chosen
    # A gamma draw can underflow to 0 for small alpha; keep every chosen topic alive.
    g = np.where(chosen, np.maximum(g, 1e-3), 0.0)
    start = g / g.sum(axis=1, keepdims=True)
    # Drift towards one topic the user did not have (or re-weights when all are taken).
    new_topic_w = np.where(chosen, 1e-12, 1.0) * topic_pop[None, :]
    new_topic = sample_rows(rng, new_topic_w)
    strength = np.clip(cfg.drift * rng.uniform(0.5, 1.5, size=n), 0.0, 1.0)
    target = np.zeros((n, t))
    target[np.arange(n), new_topic] = 1.0
    end = (1.0 - strength)[:, None] * start + strength[:, None] * target
    return start, end


def _funnel_tables(
    scenarios: tuple[str, ...],
) -> tuple[list[str], IntArray, FloatArray, FloatArray]:
    """Behaviour codes, step probabilities and mean gaps, each ``(n_scenarios, max_depth)``."""
    funnels = [_FUNNELS.get(s, _FUNNELS[_DEFAULT_FUNNEL]) for s in scenarios]
    depth = max(len(f) for f in funnels)
    behaviors: list[str] = []
    codes = np.zeros((len(scenarios), depth), dtype=np.int64)
    probs = np.zeros((len(scenarios), depth))
    gaps = np.zeros((len(scenarios), depth))
    for s, funnel in enumerate(funnels):
        for k, (beh, p, gap) in enumerate(funnel):
            if beh not in behaviors:
                behaviors.append(beh)
            codes[s, k] = behaviors.index(beh)
            probs[s, k] = p
            gaps[s, k] = gap
    return behaviors, codes, probs, gaps


def _queries(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    items: Items,
    e_item: IntArray,
    is_search: BoolArray,
) -> pl.Series:
    """Search text for the ``search`` rows (null elsewhere): words of the item then clicked."""
    n = len(e_item)
    parts = items.title_parts
    topics = TOPICS[: cfg.n_topics]
    words = np.array([tp.words for tp in topics])
    nouns = np.array([tp.nouns for tp in topics])
    t = items.topic[e_item]
    use_brand = rng.random(n) < 0.15
    use_w1 = rng.random(n) < 0.5
    use_w2 = rng.random(n) < 0.3
    use_extra = rng.random(n) < 0.3
    use_noun = (rng.random(n) < 0.85) | ~(use_brand | use_w1 | use_w2 | use_extra)
    brand = items.catalog[C.BRAND].gather(e_item).str.to_lowercase()
    df = pl.DataFrame(
        {
            "brand": brand,
            "w1": words[t, parts["w1"][e_item]],
            "w2": words[t, parts["w2"][e_item]],
            "extra": words[t, rng.integers(0, N_WORDS, n)],
            "noun": nouns[t, parts["noun"][e_item]],
            "use_brand": use_brand,
            "use_w1": use_w1,
            "use_w2": use_w2,
            "use_extra": use_extra,
            "use_noun": use_noun,
            "is_search": is_search,
        }
    )
    q = pl.concat_str(
        [pl.when(pl.col(f"use_{c}")).then(pl.col(c)) for c in ("brand", "extra", "w1", "w2")]
        + [pl.when(pl.col("use_noun")).then(pl.col("noun"))],
        separator=" ",
        ignore_nulls=True,
    )
    return df.select(pl.when(pl.col("is_search")).then(q).alias(C.QUERY)).to_series()
