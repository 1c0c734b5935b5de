"""``SyntheticConfig`` (how big and how messy the shop is) and ``SyntheticData`` (what
``generate`` returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl
from pydantic import Field, model_validator

from scenerec.config import FrozenConfig
from scenerec.data.io import write_table
from scenerec.data.synthetic.vocabulary import TOPICS

DAY: Final = 86_400


class SyntheticConfig(FrozenConfig):
    """How big and how messy the synthetic shop is.

    Attributes:
        seed: everything is a deterministic function of the config, the seed included.
        n_users: users, bots included.
        n_items: catalogue size (some tail items get no events: text-only items).
        n_events: target number of event rows (bots and duplicates included); the result is
            within a few rows of it.
        scenarios: scenario names; ``app``, ``web`` and ``search`` have their own funnels,
            other names use the web funnel.
        scenario_weights: relative popularity of the scenarios (default: each 0.6 times the
            one before, about 51/31/18% for three).
        n_topics: how many of the built-in topics to use (at most ``len(TOPIC_NAMES)``).
        topics_per_user: the mean number of topics in a user's mixture (at least 1).
        dirichlet_alpha: concentration of a user's mixture over its topics; small means one
            dominant topic.
        noise: share of intents whose topic is random (popularity-weighted), not the user's.
        drift: how far a mixture moves towards a new topic by the end of the time span (0: not
            at all, 1: completely); varies +-50% per user.
        single_scenario_fraction: share of users active in exactly one scenario.
        newcomer_fraction: share of the users who do not use every scenario whose last event
            is a first visit to a scenario they never used (users cold in that scenario; see
            ``behaviour.newcomer_events``). Adds that many rows beyond ``n_events``.
        scenario_item_fraction: the chance that an item is sold in a given scenario.
        popularity_correlation: correlation of item popularity between scenarios.
        zipf_exponent: popularity of the item at rank r in a scenario is ``r ** -exponent``.
        days: the time span.
        start: UTC epoch seconds of the first day (default 2024-01-01).
        bot_fraction: share of users that are bots (at least one bot when positive).
        bot_event_share: share of the event rows made by bots.
        bot_gap_seconds: mean seconds between two events of a bot.
        malformed_fraction: share of rows with one corrupted field (see ``MALFORMED_KINDS``).
        duplicate_fraction: share of rows followed by an exact copy (a logging retry).
        iso_timestamp_fraction: share of rows whose timestamp is ISO-8601 text, not seconds.
        late_fraction: share of rows logged late (out of time order in the file).
        missing_text_fraction: share of items with no text at all (only an id).
        missing_description_fraction: share of items without a description.
    """

    seed: int = 0
    n_users: int = Field(5_000, ge=2)
    n_items: int = Field(3_000, ge=1)
    n_events: int = Field(200_000, ge=1)
    scenarios: tuple[str, ...] = ("app", "web", "search")
    scenario_weights: tuple[float, ...] | None = None
    n_topics: int = Field(20, ge=1, le=len(TOPICS))
    topics_per_user: float = Field(2.2, ge=1.0)
    dirichlet_alpha: float = Field(0.8, gt=0.0)
    noise: float = Field(0.08, ge=0.0, le=1.0)
    drift: float = Field(0.3, ge=0.0, le=1.0)
    single_scenario_fraction: float = Field(0.35, ge=0.0, le=1.0)
    newcomer_fraction: float = Field(0.0, ge=0.0, le=1.0)
    scenario_item_fraction: float = Field(0.7, gt=0.0, le=1.0)
    popularity_correlation: float = Field(0.6, ge=0.0, le=1.0)
    zipf_exponent: float = Field(0.9, ge=0.0)
    days: int = Field(90, ge=1)
    start: int = 1_704_067_200
    bot_fraction: float = Field(0.004, ge=0.0, lt=1.0)
    bot_event_share: float = Field(0.03, ge=0.0, lt=0.5)
    bot_gap_seconds: float = Field(3.0, gt=0.0)
    malformed_fraction: float = Field(0.01, ge=0.0, lt=0.5)
    duplicate_fraction: float = Field(0.003, ge=0.0, lt=0.5)
    iso_timestamp_fraction: float = Field(0.02, ge=0.0, lt=0.5)
    late_fraction: float = Field(0.02, ge=0.0, le=1.0)
    missing_text_fraction: float = Field(0.01, ge=0.0, le=1.0)
    missing_description_fraction: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        if not self.scenarios:
            raise ValueError("scenarios must name at least one scenario")
        if len(set(self.scenarios)) != len(self.scenarios) or any(
            not s.strip() for s in self.scenarios
        ):
            raise ValueError(f"scenarios must be distinct non-empty names, got {self.scenarios}")
        if self.scenario_weights is not None and (
            len(self.scenario_weights) != len(self.scenarios)
            or any(w <= 0 for w in self.scenario_weights)
        ):
            raise ValueError(
                "scenario_weights needs one positive weight per scenario "
                f"({len(self.scenarios)}), got {self.scenario_weights}"
            )
        if self.n_items < self.n_topics:
            raise ValueError(
                f"n_items ({self.n_items}) must be at least n_topics ({self.n_topics})"
            )
        total_bad = self.malformed_fraction + self.duplicate_fraction + self.iso_timestamp_fraction
        if total_bad >= 0.9:
            raise ValueError("malformed + duplicate + iso fractions must leave clean rows")
        return self


def tiny(seed: int = 0) -> SyntheticConfig:
    """A small config for tests: 300 users, 200 items, about 8,000 events, 12 topics."""
    return SyntheticConfig(
        seed=seed,
        n_users=300,
        n_items=200,
        n_events=8_000,
        n_topics=12,
        bot_fraction=0.01,
        malformed_fraction=0.01,
        duplicate_fraction=0.005,
    )


@dataclass(frozen=True)
class SyntheticData:
    """What ``generate`` returns.

    Attributes:
        events: raw events, every column ``String`` as read from a CSV (``user_id``,
            ``item_id``, ``scenario``, ``behavior``, ``timestamp``, ``value``, ``query``); nulls
            are empty fields. Row ``r`` (0-based) is source row ``r + 1``.
        catalog: ``item_id``, ``title``, ``category`` (``"Parent > topic"``), ``brand``,
            ``description``, ``scenario`` (the one scenario that sells the item, null when
            several do); all ``String``.
        truth: the generator's ground truth:

            * ``topics`` (list[str]): topic names, the column order of the mixtures.
            * ``user_ids`` (list[str]): every user, the row order of the mixtures.
            * ``mixture_start`` / ``mixture_end`` (float64 ``(n_users, n_topics)``): each
              user's topic mixture on the first and the last day (linear in between); zero
              rows for bots.
            * ``user_scenarios`` (dict[str, list[str]]): the scenarios each non-bot user uses
              (a light user may, by chance, have no event in one of them); a newcomer's new
              scenario is not among them.
            * ``newcomers`` (dict[str, str]): user id -> the scenario whose first visit is that
              user's last event (``newcomer_fraction``).
            * ``item_topic`` (dict[str, str]): each item's topic.
            * ``scenario_items`` (dict[str, list[str]]): items sold in each scenario.
            * ``bots`` (list[str]): bot user ids.
            * ``malformed_rows`` (dict[int, str]): 1-based source row -> kind (one of
              ``MALFORMED_KINDS``).
            * ``duplicate_rows`` (list[int]): 1-based source rows equal to an earlier row.
            * ``iso_rows`` (list[int]): 1-based source rows with ISO-8601 timestamps.
            * ``items_without_text`` (list[str]).
            * ``time_span`` (tuple[int, int]): first and last second of the span.
        config: the config that made it.
    """

    events: pl.DataFrame
    catalog: pl.DataFrame
    truth: dict[str, Any] = field(repr=False)
    config: SyntheticConfig

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``events.csv`` and ``catalog.csv`` into ``directory`` (created if needed).

        Returns:
            ``{"events": path, "catalog": path}``.
        """
        d = Path(directory)
        return {
            "events": write_table(self.events, d / "events.csv"),
            "catalog": write_table(self.catalog, d / "catalog.csv"),
        }
