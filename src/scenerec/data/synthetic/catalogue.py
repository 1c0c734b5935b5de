"""The synthetic shop's items: topics, the scenarios that sell them, popularity and text.

Each item belongs to one topic; its title is ``brand + two topic words + noun`` and its
description reuses topic words, so items of one topic share words. Each item is sold in a random
subset of the scenarios; popularity inside a scenario is Zipf-like over a per-scenario ranking
that is correlated, not equal, across scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from scenerec.data.synthetic.config import SyntheticConfig
from scenerec.data.synthetic.sampling import (
    BoolArray,
    FloatArray,
    IntArray,
    group_sampler,
    make_ids,
)
from scenerec.data.synthetic.vocabulary import (
    HOUSE_BRANDS,
    N_BRANDS,
    N_NOUNS,
    N_WORDS,
    PHRASES,
    SUFFIXES,
    TOPICS,
)
from scenerec.schema import C


@dataclass(frozen=True)
class Items:
    """The items and how shoppers draw them.

    Attributes:
        ids: item ids (``i0001``...), in item order.
        topic: each item's topic index, ``(n_items,)``.
        topic_pop: popularity of each topic, ``(n_topics,)``, sums to 1.
        avail: whether scenario ``s`` sells item ``i``, ``(n_scenarios, n_items)``.
        keys: ``group_sampler`` keys over (scenario, topic) groups, weighted by popularity.
        members: the item behind each key.
        catalog: ``item_id``, ``title``, ``category``, ``brand``, ``description``, ``scenario``.
        title_parts: word indices of each item's title (``w1``, ``w2``, ``noun``), for queries.
    """

    ids: pl.Series
    topic: IntArray
    topic_pop: FloatArray
    avail: BoolArray
    keys: FloatArray
    members: IntArray
    catalog: pl.DataFrame
    title_parts: dict[str, IntArray]

    def draw(self, rng: np.random.Generator, scenario: IntArray, topic: IntArray) -> IntArray:
        """One item per (scenario, topic) pair, by popularity within that scenario."""
        draw = (scenario * len(self.topic_pop) + topic) + rng.random(len(scenario))
        pos = np.minimum(np.searchsorted(self.keys, draw, side="right"), len(self.keys) - 1)
        out: IntArray = self.members[pos]
        return out


def make_items(rng: np.random.Generator, cfg: SyntheticConfig) -> Items:
    """Topics, scenario availability, popularity and text of ``cfg.n_items`` items."""
    n_s, n_t, n_i = len(cfg.scenarios), cfg.n_topics, cfg.n_items
    topic_pop = rng.dirichlet(np.full(n_t, 3.0))
    min_per_topic = min(3, n_i // n_t)
    sizes = min_per_topic + rng.multinomial(n_i - min_per_topic * n_t, topic_pop)
    item_topic = rng.permutation(np.repeat(np.arange(n_t), sizes)).astype(np.int64)
    item_ids = make_ids("i", n_i)
    avail = rng.random((n_s, n_i)) < cfg.scenario_item_fraction
    orphan = ~avail.any(axis=0)
    avail[rng.integers(0, n_s, n_i)[orphan], np.flatnonzero(orphan)] = True
    for s in range(n_s):  # every topic must have at least one item in every scenario
        have = np.bincount(item_topic[avail[s]], minlength=n_t) > 0
        for t in np.flatnonzero(~have):
            avail[s, np.flatnonzero(item_topic == t)[0]] = True
    base_pop = rng.standard_normal(n_i)
    rho = cfg.popularity_correlation
    scen_pop = rho * base_pop + math.sqrt(1 - rho * rho) * rng.standard_normal((n_s, n_i))
    pop = np.zeros((n_s, n_i))
    for s in range(n_s):
        idx = np.flatnonzero(avail[s])
        rank = np.empty(len(idx))
        rank[np.argsort(-scen_pop[s, idx])] = np.arange(1, len(idx) + 1)
        pop[s, idx] = rank ** (-cfg.zipf_exponent)
    s_idx, i_idx = np.nonzero(avail)
    keys, members = group_sampler(
        s_idx * n_t + item_topic[i_idx], pop[s_idx, i_idx], i_idx.astype(np.int64)
    )
    catalog, title_parts = _item_text(rng, cfg, item_topic, item_ids)
    scen_names = np.array(cfg.scenarios)
    only_one = avail.sum(axis=0) == 1
    home = pl.Series(C.SCENARIO, scen_names[avail.argmax(axis=0)], dtype=pl.String)
    catalog = catalog.with_columns(pl.when(pl.Series(only_one)).then(home).alias(C.SCENARIO))
    return Items(
        ids=item_ids,
        topic=item_topic,
        topic_pop=topic_pop,
        avail=avail,
        keys=keys,
        members=members,
        catalog=catalog,
        title_parts=title_parts,
    )


def _item_text(
    rng: np.random.Generator, cfg: SyntheticConfig, item_topic: IntArray, item_ids: pl.Series
) -> tuple[pl.DataFrame, dict[str, IntArray]]:
    """Item text; returns the catalog (without ``scenario``) and the word indices per item."""
    n = len(item_topic)
    topics = TOPICS[: cfg.n_topics]
    words = np.array([tp.words for tp in topics])
    nouns = np.array([tp.nouns for tp in topics])
    brands = np.array([tp.brands for tp in topics])
    w1 = rng.integers(0, N_WORDS, n)
    w2 = (w1 + rng.integers(1, N_WORDS, n)) % N_WORDS  # distinct from w1
    w3 = rng.integers(0, N_WORDS, n)
    w4 = rng.integers(0, N_WORDS, n)
    noun = rng.integers(0, N_NOUNS, n)
    brand_i = rng.integers(0, N_BRANDS, n)
    house = rng.random(n) < 0.15
    brand = np.where(
        house,
        np.array(HOUSE_BRANDS)[rng.integers(0, len(HOUSE_BRANDS), n)],
        brands[item_topic, brand_i],
    )
    suffix = np.where(
        rng.random(n) < 0.3, np.array(SUFFIXES)[rng.integers(0, len(SUFFIXES), n)], ""
    )
    phrase = np.array(PHRASES)[rng.integers(0, len(PHRASES), n)]
    no_text = rng.random(n) < cfg.missing_text_fraction
    no_desc = no_text | (rng.random(n) < cfg.missing_description_fraction)

    df = pl.DataFrame(
        {
            "brand": brand,
            "w1": words[item_topic, w1],
            "w2": words[item_topic, w2],
            "w3": words[item_topic, w3],
            "w4": words[item_topic, w4],
            "noun": nouns[item_topic, noun],
            "suffix": suffix,
            "phrase": phrase,
            "topic": np.array([tp.name for tp in topics])[item_topic],
            "parent": np.array([tp.parent for tp in topics])[item_topic],
            "no_text": no_text,
            "no_desc": no_desc,
        }
    )
    title = pl.concat_str(
        [
            pl.col("brand"),
            # A word already in the noun ("Smart Smart Plug") is dropped from the title.
            pl.when(~pl.col("noun").str.contains(pl.col("w1"), literal=True)).then(
                pl.col("w1").str.to_titlecase()
            ),
            pl.when(~pl.col("noun").str.contains(pl.col("w2"), literal=True)).then(
                pl.col("w2").str.to_titlecase()
            ),
            pl.col("noun").str.to_titlecase(),
            pl.when(pl.col("suffix") != "").then(pl.col("suffix")),
        ],
        separator=" ",
        ignore_nulls=True,
    )
    desc = pl.format(
        "{} {} for {} and {} lovers. {}",
        pl.col("w3").str.to_titlecase(),
        pl.col("noun"),
        pl.col("w4"),
        pl.col("topic"),
        pl.col("phrase"),
    )
    catalog = df.select(
        item_ids.alias(C.ITEM_ID),
        pl.when(~pl.col("no_text")).then(title).alias(C.TITLE),
        pl.when(~pl.col("no_text"))
        .then(pl.format("{} > {}", pl.col("parent"), pl.col("topic")))
        .alias(C.CATEGORY),
        pl.when(~pl.col("no_text")).then(pl.col("brand")).alias(C.BRAND),
        pl.when(~pl.col("no_desc")).then(desc).alias(C.DESCRIPTION),
    )
    parts = {"w1": w1, "w2": w2, "noun": noun}
    return catalog, {k: v.astype(np.int64) for k, v in parts.items()}
