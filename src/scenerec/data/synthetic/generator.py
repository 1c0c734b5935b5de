"""``generate``: the synthetic shop, from its parts (catalogue, behaviour, noise)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from scenerec.data.synthetic.behaviour import (
    EventArrays,
    Users,
    funnel_behaviors,
    human_events,
    make_users,
    newcomer_events,
)
from scenerec.data.synthetic.catalogue import Items, make_items
from scenerec.data.synthetic.config import DAY, SyntheticConfig, SyntheticData
from scenerec.data.synthetic.noise import bot_events, corrupt, logging_order
from scenerec.data.synthetic.vocabulary import TOPICS
from scenerec.schema import EVENT_COLUMNS, C

logger = logging.getLogger(__name__)


def generate(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate the synthetic shop (see ``scenerec.data.synthetic``).

    Args:
        config: sizes and knobs; the defaults give 5,000 users, 3,000 items and about 200,000
            events over 90 days in a few seconds.

    Returns:
        Raw events (text columns, with the mess a cleaner must handle), the catalog and the
        ground truth.
    """
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    span = cfg.days * DAY
    items = make_items(rng, cfg)
    users = make_users(rng, cfg, items.topic_pop)
    n_bots = int(users.is_bot.sum())
    n_dup = round(cfg.duplicate_fraction * cfg.n_events)
    n_bot_events = round(cfg.bot_event_share * cfg.n_events) if n_bots else 0
    target = max(0, cfg.n_events - n_dup - n_bot_events)
    human = human_events(rng, cfg, items, users, target, span)
    # Newcomers draw from their own stream, so that newcomer_fraction = 0 leaves every other
    # draw (and so the data of earlier versions) unchanged.
    first_visits, newcomers = newcomer_events(
        np.random.default_rng([cfg.seed, 1]), cfg, items, users, human, span
    )
    behaviors = funnel_behaviors(cfg.scenarios)
    bots = bot_events(
        rng, cfg, np.flatnonzero(users.is_bot), n_bot_events, items.avail, behaviors, span
    )
    parts = [human, first_visits, bots] if newcomers else [human, bots]
    events = _log(rng, cfg, items, users, parts, behaviors, n_dup)
    events, malformed, iso_rows = corrupt(rng, cfg, events)
    repeat = events.select(~pl.struct(pl.all()).is_first_distinct()).to_series().to_numpy()
    dup_rows = (np.flatnonzero(repeat) + 1).tolist()
    truth = _truth(cfg, users, items, malformed, dup_rows, iso_rows)
    uid = users.ids.to_list()
    truth["newcomers"] = {uid[u]: cfg.scenarios[s] for u, s in newcomers.items()}
    logger.info(
        "synthetic: %d events (%d bots, %d malformed, %d duplicates), %d users, %d items",
        events.height,
        n_bots,
        len(malformed),
        len(dup_rows),
        cfg.n_users,
        cfg.n_items,
    )
    return SyntheticData(events=events, catalog=items.catalog, truth=truth, config=cfg)


def _log(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    items: Items,
    users: Users,
    parts: list[EventArrays],
    behaviors: list[str],
    n_dup: int,
) -> pl.DataFrame:
    """The events as text columns, in logging order (see ``noise.logging_order``)."""
    ts = np.floor(np.concatenate([p.ts for p in parts])).astype(np.int64) + cfg.start
    order = logging_order(rng, cfg, ts, n_dup)
    values = np.concatenate([p.value for p in parts])
    value_txt = pl.Series(values[order]).round(1)
    scen_names = np.array(cfg.scenarios)
    beh_names = np.array(behaviors)
    return pl.DataFrame(
        {
            C.USER_ID: users.ids.gather(np.concatenate([p.user for p in parts])[order]),
            C.ITEM_ID: items.ids.gather(np.concatenate([p.item for p in parts])[order]),
            C.SCENARIO: pl.Series(scen_names[np.concatenate([p.scenario for p in parts])[order]]),
            C.BEHAVIOR: pl.Series(beh_names[np.concatenate([p.behavior for p in parts])[order]]),
            C.TIMESTAMP: pl.Series(ts[order]).cast(pl.String),
            C.VALUE: value_txt.fill_nan(None).cast(pl.String),
            C.QUERY: pl.concat([p.query for p in parts]).gather(order),
        }
    ).select(list(EVENT_COLUMNS))


def _truth(
    cfg: SyntheticConfig,
    users: Users,
    items: Items,
    malformed: dict[int, str],
    dup_rows: list[int],
    iso_rows: list[int],
) -> dict[str, Any]:
    """The ground truth (see ``SyntheticData.truth``)."""
    n_u, n_t = len(users.ids), cfg.n_topics
    humans = users.humans
    start = np.zeros((n_u, n_t))
    end = np.zeros((n_u, n_t))
    start[humans], end[humans] = users.m_start, users.m_end
    uid = users.ids.to_list()
    iid = items.ids.to_list()
    names = [tp.name for tp in TOPICS[:n_t]]
    no_text = items.catalog.filter(pl.col(C.TITLE).is_null())[C.ITEM_ID].to_list()
    return {
        "topics": names,
        "user_ids": uid,
        "mixture_start": start,
        "mixture_end": end,
        "user_scenarios": {
            uid[u]: [cfg.scenarios[s] for s in np.flatnonzero(users.in_scen[k])]
            for k, u in enumerate(humans)
        },
        "item_topic": {iid[i]: names[t] for i, t in enumerate(items.topic)},
        "scenario_items": {
            s: [iid[i] for i in np.flatnonzero(items.avail[k])] for k, s in enumerate(cfg.scenarios)
        },
        "bots": [uid[u] for u in np.flatnonzero(users.is_bot)],
        "malformed_rows": malformed,
        "duplicate_rows": dup_rows,
        "iso_rows": iso_rows,
        "items_without_text": no_text,
        "time_span": (cfg.start, cfg.start + cfg.days * DAY - 1),
    }
