"""A tiny two-scenario dataset whose right answer is known by construction.

Items fall into clusters, the same clusters in both scenarios (scenario ``a`` items
``a:c{k}:{j}``, scenario ``b`` items ``b:c{k}:{j}``). Every user loves one cluster: a *warm*
user acts on some of its items in both scenarios, a *cold-in-target* user acts only in the source
scenario ``a``. Each user also has one noise event per scenario on another cluster. The right
answer for a user in the target scenario ``b`` is the set of ``b`` items of the user's cluster the
user has not acted on; a personalised model must put them at the top. Clusters are the same size
and items are drawn uniformly, so item popularity carries (almost) no signal and a popularity
ranking fails the check, which is what makes it a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from scenerec.config import FrozenConfig
from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError
from scenerec.schema import C


class OracleConfig(FrozenConfig):
    """Size of the oracle. The defaults make a dataset that every model fits in well under a second.

    Attributes:
        n_clusters: interest clusters (each has ``items_per_cluster`` items in each scenario).
        items_per_cluster: items of one cluster in one scenario.
        warm_users_per_cluster: users with events in both scenarios.
        cold_users_per_cluster: users with events in the source scenario only.
        seen_per_scenario: cluster items a user acts on in each scenario where they are active.
        noise_per_scenario: events per user and scenario on items of other clusters.
        source: name of the source scenario.
        target: name of the target scenario.
        seed: seed of the generator.
    """

    n_clusters: int = 4
    items_per_cluster: int = 10
    warm_users_per_cluster: int = 30
    cold_users_per_cluster: int = 6
    seen_per_scenario: int = 5
    noise_per_scenario: int = 1
    source: str = "a"
    target: str = "b"
    seed: int = 0


@dataclass(frozen=True)
class Oracle:
    """The generated data and its known answer.

    Attributes:
        config: what generated it.
        train: the Dataset to fit on (both scenarios).
        events: the same events as a polars frame (schema columns).
        relevant: user_id -> ids of the target-scenario items of the user's cluster that the user
            has not acted on (the right answer, best first in any order).
        cluster_of_user: user_id -> cluster number.
        warm_users: users with events in both scenarios.
        cold_users: users with events in the source scenario only (cold in the target).
    """

    config: OracleConfig
    train: Dataset
    events: pl.DataFrame
    relevant: dict[str, frozenset[str]]
    cluster_of_user: dict[str, int]
    warm_users: tuple[str, ...]
    cold_users: tuple[str, ...]

    @property
    def source(self) -> str:
        return self.config.source

    @property
    def target(self) -> str:
        return self.config.target

    def items(self, scenario: str, cluster: int) -> list[str]:
        """Ids of the items of ``cluster`` in ``scenario``."""
        return [item_id(scenario, cluster, j) for j in range(self.config.items_per_cluster)]

    def test_events(self) -> pl.DataFrame:
        """The right answers as held-out events in the target scenario (for ``eval.evaluate``)."""
        rows = [(u, i) for u in sorted(self.relevant) for i in sorted(self.relevant[u])]
        return pl.DataFrame(
            {
                C.USER_ID: [u for u, _ in rows],
                C.ITEM_ID: [i for _, i in rows],
                C.SCENARIO: [self.target] * len(rows),
                C.BEHAVIOR: ["click"] * len(rows),
                C.TIMESTAMP: [10_000] * len(rows),
            },
            schema_overrides={C.TIMESTAMP: pl.Int64},
        )


def item_id(scenario: str, cluster: int, j: int) -> str:
    """The id of item ``j`` of ``cluster`` in ``scenario``."""
    return f"{scenario}:c{cluster}:{j}"


def make_oracle(config: OracleConfig | None = None) -> Oracle:
    """Generate the oracle dataset (deterministic for a config).

    Args:
        config: sizes and seed; defaults to ``OracleConfig()``.

    Returns:
        An ``Oracle`` with the train Dataset and the right answer per user.

    Raises:
        ConfigError: when the sizes leave no unseen cluster item to find.
    """
    cfg = config or OracleConfig()
    if cfg.seen_per_scenario >= cfg.items_per_cluster:
        raise ConfigError(
            f"OracleConfig.seen_per_scenario ({cfg.seen_per_scenario}) must be smaller than "
            f"items_per_cluster ({cfg.items_per_cluster}) so that something is left to find"
        )
    if cfg.n_clusters < 2:
        raise ConfigError(f"OracleConfig.n_clusters must be >= 2 (got {cfg.n_clusters})")
    if cfg.source == cfg.target:
        raise ConfigError(f"OracleConfig.source and target must differ (both {cfg.source!r})")
    rng = np.random.default_rng(cfg.seed)
    rows: list[tuple[str, str, str, str, int]] = []
    relevant: dict[str, frozenset[str]] = {}
    cluster_of_user: dict[str, int] = {}
    warm: list[str] = []
    cold: list[str] = []

    def draw(user: str, scenario: str, cluster: int) -> list[tuple[str, str]]:
        """(item, behavior) events of one user in one scenario, shuffled in time."""
        own = rng.choice(cfg.items_per_cluster, size=cfg.seen_per_scenario, replace=False)
        events = [(item_id(scenario, cluster, int(j)), "click") for j in own]
        others = [c for c in range(cfg.n_clusters) if c != cluster]
        for _ in range(cfg.noise_per_scenario):
            c = int(rng.choice(others))
            events.append((item_id(scenario, c, int(rng.integers(cfg.items_per_cluster))), "view"))
        # a purchase on one own item, so that behaviour weights vary as in real logs
        events[0] = (events[0][0], "purchase")
        return events

    for cluster in range(cfg.n_clusters):
        for n in range(cfg.warm_users_per_cluster + cfg.cold_users_per_cluster):
            is_warm = n < cfg.warm_users_per_cluster
            user = f"{'w' if is_warm else 'c'}{cluster}-{n}"
            cluster_of_user[user] = cluster
            scen_events = [(cfg.source, e) for e in draw(user, cfg.source, cluster)]
            if is_warm:
                scen_events += [(cfg.target, e) for e in draw(user, cfg.target, cluster)]
            order = rng.permutation(len(scen_events))
            for t, k in enumerate(order):
                scen, (item, behavior) = scen_events[int(k)]
                rows.append((user, item, scen, behavior, 1_000 + t))
            seen_target = {item for scen, (item, _) in scen_events if scen == cfg.target}
            relevant[user] = frozenset(
                i
                for i in (item_id(cfg.target, cluster, j) for j in range(cfg.items_per_cluster))
                if i not in seen_target
            )
            (warm if is_warm else cold).append(user)

    events = pl.DataFrame(
        rows,
        schema={
            C.USER_ID: pl.String,
            C.ITEM_ID: pl.String,
            C.SCENARIO: pl.String,
            C.BEHAVIOR: pl.String,
            C.TIMESTAMP: pl.Int64,
        },
        orient="row",
    )
    return Oracle(
        config=cfg,
        train=Dataset(events, name="oracle"),
        events=events,
        relevant=relevant,
        cluster_of_user=cluster_of_user,
        warm_users=tuple(warm),
        cold_users=tuple(cold),
    )


__all__ = ["Oracle", "OracleConfig", "item_id", "make_oracle"]
