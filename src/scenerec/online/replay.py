"""The replay: train on the first part of a time-ordered data set, replay the rest in time order,
and compare serving strategies on the same stream.

Before each event whose item is new to its user, every strategy recommends ``k`` items for that
user in that scenario and the event is scored (hit@k, NDCG@k); then every event is fed back to
the strategies that learn. Events on items the user already had (funnel steps, repeats) are fed
back but not scored: no strategy recommends seen items. Strategies:

- ``static``: the trained model, never updated (a user or scenario it does not know gets
  popularity / the whole catalog; items seen during the replay are excluded like the others);
- ``online``: ``AdaptiveRecommender`` with online state updates only (new users, items,
  scenarios and decayed interests from each event), no fine-tuning, no exploration;
- ``adaptive``: online updates + background fine-tuning (run inline, so the replay is
  deterministic) + exploration + drift detection, as configured in ``online``.

A scenario can be *launched* mid-way: its events before a given share of the time span are
dropped, so the trained model has never seen it; at its first event the online strategies get
its catalogue (``add_items``). The result holds each strategy's overall metrics, per time window
and per scenario, and the adaptive strategy's report (fine-tunes, drifts, exploration).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError, SchemaError
from scenerec.models.base import BaseRecommender
from scenerec.models.online import OnlineMixin
from scenerec.models.query import FitOptions, RecQuery
from scenerec.models.registry import ModelSpec, build_model, load_run
from scenerec.online.adaptive import AdaptiveRecommender
from scenerec.online.config import DriftConfig, ExplorationConfig, FineTuneConfig, OnlineConfig
from scenerec.schema import C
from scenerec.text.encoder import EncoderConfig

log = logging.getLogger(__name__)
Strategy = Literal["static", "online", "adaptive"]
Progress = Callable[[str], None]


class Launch(FrozenConfig):
    """A scenario that launches mid-way: its events before ``at`` (share of the time span) are
    dropped."""

    scenario: str
    at: float = Field(gt=0.0, lt=1.0)


class ReplaySettings(FrozenConfig):
    """Attributes:
    train_fraction: the oldest share of the events the model is trained on.
    max_events: replay at most this many events after the training part (``None``: all).
    score_every: score every n-th scorable event (all events are fed back).
    windows: time windows of the metric-over-time curve.
    k: list length.
    launch: a scenario launched mid-way (see ``Launch``).
    strategies: which strategies to compare.
    online: the adaptive strategy's settings (fine-tuning runs inline).
    """

    train_fraction: float = Field(default=0.7, gt=0.0, lt=1.0)
    max_events: int | None = Field(default=None, ge=1)
    score_every: int = Field(default=1, ge=1)
    windows: int = Field(default=10, ge=1)
    k: int = Field(default=10, ge=1)
    launch: Launch | None = None
    strategies: tuple[Strategy, ...] = ("static", "online", "adaptive")
    online: OnlineConfig = OnlineConfig(
        fine_tune=FineTuneConfig(background=False),
        exploration=ExplorationConfig(enabled=True),
    )


@dataclass
class _Scores:
    """Per scored event: time, scenario, hit, reciprocal-log gain."""

    ts: list[int] = field(default_factory=list)
    scenario: list[str] = field(default_factory=list)
    hit: list[float] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, ts: int, scenario: str, ids: tuple[str, ...], item: str) -> None:
        self.ts.append(ts)
        self.scenario.append(scenario)
        pos = ids.index(item) if item in ids else -1
        self.hit.append(1.0 if pos >= 0 else 0.0)
        self.gain.append(1.0 / math.log2(pos + 2) if pos >= 0 else 0.0)


def prepare(events: pl.DataFrame, settings: ReplaySettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Time-ordered (train, stream) events, the launched scenario's early events dropped."""
    ev = events.sort(C.TIMESTAMP, maintain_order=True)
    if settings.launch is not None:
        lo, hi = _span(ev)
        at = lo + settings.launch.at * (hi - lo)
        if settings.launch.scenario not in set(ev[C.SCENARIO].unique().to_list()):
            raise ConfigError(f"launch.scenario {settings.launch.scenario!r} has no events")
        early = (pl.col(C.SCENARIO) == settings.launch.scenario) & (pl.col(C.TIMESTAMP) < at)
        ev = ev.filter(~early)
    cut = int(settings.train_fraction * ev.height)
    stream = ev.slice(cut, settings.max_events)
    if cut == 0 or stream.height == 0:
        raise SchemaError(
            f"the replay needs events to train on and to replay (got {ev.height} events)",
            fix="lower or raise train_fraction",
        )
    return ev.head(cut), stream


def replay(
    ds: Dataset,
    spec: ModelSpec,
    settings: ReplaySettings,
    *,
    encoder: EncoderConfig | None = None,
    options: FitOptions | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the replay (see the module docstring) and return its results as plain data."""
    say = progress or log.info
    train, stream = prepare(ds.raw_events(), settings)
    catalog = ds.catalog.drop(C.ITEM_IDX)
    say(f"training {spec.display} on {train.height:,} events")
    t0 = time.perf_counter()
    train_ds = Dataset(train, catalog, behavior_weights=ds.behavior_weights, name="replay-train")
    model = build_model(spec, encoder=encoder).fit(train_ds, options=options)
    fit_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        run = model.save(Path(tmp) / "run")
        players = {s: _player(s, run, settings, catalog, options) for s in settings.strategies}
    scores = {s: _Scores() for s in settings.strategies}
    _loop(stream, players, scores, settings, catalog, say)
    out: dict[str, Any] = {
        "data": {"train_events": train.height, "replay_events": stream.height},
        "model": spec.to_dict(),
        "settings": settings.to_dict(),
        "fit_seconds": round(fit_s, 2),
        "strategies": {s: _summary(sc, stream, settings) for s, sc in scores.items()},
    }
    ada = players.get("adaptive")
    if isinstance(ada, AdaptiveRecommender):
        out["adaptive"] = ada.report()
    if settings.launch is not None:
        first = stream.filter(pl.col(C.SCENARIO) == settings.launch.scenario)[C.TIMESTAMP]
        at = int(first.to_numpy().min()) if len(first) else None
        out["launch"] = {**settings.launch.to_dict(), "first_event": at}
    for s, summary in out["strategies"].items():
        if summary["scored"] and summary[f"hit@{settings.k}"] == 0.0:
            raise SchemaError(f"degenerate replay: strategy {s!r} never hit; check the data")
    return out


def _player(
    strategy: Strategy,
    run: Path,
    settings: ReplaySettings,
    catalog: pl.DataFrame,
    options: FitOptions | None,
) -> BaseRecommender[Any] | AdaptiveRecommender:
    model = load_run(run, options=options)
    if strategy == "static":
        return model
    if not isinstance(model, OnlineMixin):
        raise ConfigError(f"model {model.name!r} does not learn online; replay it as 'static'")
    cfg = settings.online.model_copy(update={"k": settings.k})
    if strategy == "online":
        cfg = OnlineConfig(
            k=settings.k,
            fine_tune=FineTuneConfig(enabled=False),
            exploration=ExplorationConfig(enabled=False),
            drift=DriftConfig(enabled=False),
        )
    return AdaptiveRecommender(model, cfg, catalog=catalog)


def _loop(
    stream: pl.DataFrame,
    players: dict[Strategy, BaseRecommender[Any] | AdaptiveRecommender],
    scores: dict[Strategy, _Scores],
    settings: ReplaySettings,
    catalog: pl.DataFrame,
    say: Progress,
) -> None:
    """Recommend before each scorable event, then feed events back in batches (a batch is
    flushed before every recommendation, so each one sees every earlier event)."""
    seen: dict[str, set[str]] = {}
    launched = settings.launch.scenario if settings.launch else None
    lineup = None
    if launched is not None:  # the launched scenario's catalogue: the items it has events on
        items = stream.filter(pl.col(C.SCENARIO) == launched)[C.ITEM_ID].unique()
        lineup = catalog.filter(pl.col(C.ITEM_ID).is_in(items.implode()))
    start, scorable, t0 = 0, 0, time.perf_counter()
    rows = stream.select(C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP).iter_rows()
    for n, (user, item, scen, ts) in enumerate(rows):
        mine = seen.setdefault(user, set())
        if scen == launched and lineup is not None:  # the launch: its catalogue goes online
            _feed(players, stream.slice(start, n - start))
            start = n
            for p in players.values():
                if isinstance(p, AdaptiveRecommender):
                    p.add_items(lineup.with_columns(pl.lit(launched).alias(C.SCENARIO)))
            lineup = None
        if item not in mine:
            scorable += 1
            if scorable % settings.score_every == 0:
                _feed(players, stream.slice(start, n - start))
                start = n
                for s, p in players.items():
                    t = time.perf_counter()
                    ids = _recommend(p, user, scen, mine, settings.k)
                    scores[s].add(ts, scen, ids, item)
                    scores[s].seconds += time.perf_counter() - t
        mine.add(item)
        if n and n % 5_000 == 0:
            rate = n / (time.perf_counter() - t0)
            hits = {s: f"{np.mean(sc.hit):.3f}" for s, sc in scores.items() if sc.hit}
            say(f"replayed {n:,}/{stream.height:,} events ({rate:,.0f}/s); hit@{settings.k} {hits}")
    _feed(players, stream.slice(start))


def _feed(players: dict[Strategy, Any], batch: pl.DataFrame) -> None:
    if batch.height:
        for p in players.values():
            if isinstance(p, AdaptiveRecommender):
                p.apply(batch)


def _recommend(
    player: BaseRecommender[Any] | AdaptiveRecommender,
    user: str,
    scenario: str,
    seen: set[str],
    k: int,
) -> tuple[str, ...]:
    query = RecQuery(user_id=user, scenario=scenario, exclude=sorted(seen), unknown_user="fallback")
    if isinstance(player, AdaptiveRecommender):
        return player.recommend(query, k=k).item_ids
    if scenario not in player.train_state.scenarios:  # a static model: the whole catalogue
        query = RecQuery(user_id=user, exclude=sorted(seen), unknown_user="fallback")
    return player.recommend(query, k=k).item_ids


def _summary(sc: _Scores, stream: pl.DataFrame, settings: ReplaySettings) -> dict[str, Any]:
    k = settings.k
    hit, gain, ts = np.array(sc.hit), np.array(sc.gain), np.array(sc.ts, np.int64)
    lo, hi = _span(stream)
    edges = np.linspace(lo, hi + 1, settings.windows + 1)
    which = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, settings.windows - 1)
    windows = []
    for w in range(settings.windows):
        sel = which == w
        windows.append(
            {
                "start": int(edges[w]),
                "end": int(edges[w + 1]),
                "scored": int(sel.sum()),
                f"hit@{k}": round(float(hit[sel].mean()), 5) if sel.any() else None,
                f"ndcg@{k}": round(float(gain[sel].mean()), 5) if sel.any() else None,
            }
        )
    scen = np.array(sc.scenario)
    per_scenario = {
        s: {
            "scored": int((scen == s).sum()),
            f"hit@{k}": round(float(hit[scen == s].mean()), 5),
            f"ndcg@{k}": round(float(gain[scen == s].mean()), 5),
        }
        for s in sorted(set(sc.scenario))
    }
    return {
        "scored": len(hit),
        f"hit@{k}": round(float(hit.mean()), 5) if len(hit) else 0.0,
        f"ndcg@{k}": round(float(gain.mean()), 5) if len(hit) else 0.0,
        "recommend_ms": round(1e3 * sc.seconds / max(len(hit), 1), 3),
        "windows": windows,
        "scenarios": per_scenario,
    }


def _span(events: pl.DataFrame) -> tuple[int, int]:
    ts = events[C.TIMESTAMP].to_numpy()
    return int(ts.min()), int(ts.max())


__all__ = ["Launch", "ReplaySettings", "prepare", "replay"]
