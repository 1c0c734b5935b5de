"""``AdaptiveRecommender``: a trained online model that serves, learns from every event, explores,
watches for drift and fine-tunes itself in the background.

Everything a caller does goes through one re-entrant lock, so a reader never sees a model in
the middle of an update, and the fine-tuned model replaces the serving one in one assignment
under the same lock (``online.finetune``). What each operation costs:

- ``apply(events)``: O(events) (the model's ``partial_fit``; ScenarioFusion O(dim) per event,
  ALS one fold-in per user touched, EASE/ItemKNN/Popularity O(1)), plus the feedback of the
  list last served to each user in that scenario (a click when the item acted on was in it)
  to the bandit and the drift detector;
- ``recommend(query)``: the model's scoring of one user (plus the arm the bandit chose);
- ``add_items(catalog)``: O(items) (text encoded by models that read text);
- ``forget_user(user_id)``: O(total events) (the stored events are rewritten without theirs).

New users are served from their first event in any scenario (the model reads all their
scenarios); a scenario unseen at fit time is served at once from the users' other scenarios and
item text, and fine-tuned on once it has ``fine_tune.new_scenario_events`` events.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from scenerec.data.histories import DAY_SECONDS
from scenerec.errors import ConfigError, SchemaError
from scenerec.models.explain import Explanation
from scenerec.models.online import OnlineMixin
from scenerec.models.query import FitOptions, RecQuery
from scenerec.models.registry import load_run
from scenerec.online.config import OnlineConfig
from scenerec.online.drift import DriftMonitor
from scenerec.online.events import EventsLike, to_events
from scenerec.online.explore import Explorer, Trending, trending_list, with_fresh
from scenerec.online.finetune import FineTuneResult, run_fine_tune
from scenerec.schema import C

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    """One served list.

    Attributes:
        item_ids, scores: best first (scores are the arm's: model scores, or decayed counts for
            ``trending``).
        fallback: the model had no signal for the user (popularity answered).
        model: the model's registry name; ``model_version``: the serving version (1 = as
            loaded, +1 per fine-tune swapped in).
        arm: the strategy that served (``model``, ``fresh``, ``trending``); ``explores``: it
            was not the arm with the best click rate so far.
        explanations: per item, ``models.explain.Explanation`` (the model part behind it and the
            user's past items, with their scenarios, that support it), when asked for.
    """

    item_ids: tuple[str, ...]
    scores: np.ndarray
    fallback: bool
    model: str
    model_version: int
    arm: str = "model"
    explores: bool = False
    explanations: tuple[Explanation, ...] = ()


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did: events accepted, users / items / scenarios they brought, the
    serving version, and the fine-tune they triggered (its reason), if any."""

    accepted: int
    new_users: int
    new_items: int
    new_scenarios: tuple[str, ...]
    model_version: int
    fine_tune: str | None = None


class AdaptiveRecommender:
    """See the module docstring.

    Args:
        model: a fitted model that learns online (``OnlineMixin``: popularity, itemknn, ease,
            als, fusion).
        config: fine-tuning, exploration and drift settings.
        catalog: the item catalog (text columns), needed to fine-tune models that read text.
    """

    def __init__(
        self,
        model: OnlineMixin[Any],
        config: OnlineConfig | None = None,
        *,
        catalog: pl.DataFrame | None = None,
    ) -> None:
        if not isinstance(model, OnlineMixin):
            raise ConfigError(
                f"{type(model).__name__} does not learn online. Fix: serve a model that does "
                "(popularity, itemknn, ease, als, fusion)"
            )
        self.config = config or OnlineConfig()
        self.lock = threading.RLock()
        self._model = model
        self.version = 1
        self._catalog: list[pl.DataFrame] = [] if catalog is None else [catalog]
        self.events_applied = 0
        self._since_tune = 0
        self._fitted = set(model.train_state.scenarios)
        self._new_scenario: dict[str, int] = {}
        self.explorer = Explorer(self.config.exploration)
        self.drift = DriftMonitor(self.config.drift)
        hl = self.config.exploration.trending_half_life_hours * 3600.0
        self._trending = Trending(hl)
        self._first_seen: dict[int, int] = {}  # items added after the fit -> time
        self._pending: dict[tuple[str, str], tuple[str, frozenset[str]]] = {}
        self._drift_reason: str | None = None
        self._now = int(model.train_state.base_histories.timestamp.max(initial=0))
        self.journal: list[tuple[str, Any]] | None = None  # changes during a fine-tune
        self.fine_tunes: list[FineTuneResult] = []
        self._thread: threading.Thread | None = None

    @classmethod
    def from_run(
        cls,
        path: str | Path,
        config: OnlineConfig | None = None,
        *,
        options: FitOptions | None = None,
    ) -> AdaptiveRecommender:
        """Load a run directory (and its ``catalog.parquet``, when it has one)."""
        model = load_run(path, options=options)
        if not isinstance(model, OnlineMixin):
            raise ConfigError(f"{path}: a {model.name!r} run does not learn online")
        cat = Path(path) / "catalog.parquet"
        catalog = pl.read_parquet(cat) if cat.exists() else None
        return cls(model, config, catalog=catalog)

    # ------------------------------------------------------------------ reads
    @property
    def model(self) -> OnlineMixin[Any]:
        """The serving model (replaced as a whole by a fine-tune)."""
        return self._model

    @property
    def now(self) -> int:
        """The newest event time seen (seconds; the fit's newest event before any)."""
        return self._now

    @property
    def catalog(self) -> pl.DataFrame | None:
        """Every catalog row given so far (later rows of an item win)."""
        with self.lock:
            if not self._catalog:
                return None
            if len(self._catalog) > 1:
                self._catalog = [pl.concat(self._catalog, how="diagonal_relaxed")]
            return self._catalog[0]

    def recommend(
        self, query: RecQuery, *, k: int = 10, explain_items: bool = False
    ) -> Recommendation:
        """Top-k for a query (see ``RecQuery``); the bandit picks the arm per scenario."""
        with self.lock:
            model = self._model
            scen = query.scenario or ""
            arm, explores = self.explorer.choose(scen)
            ranked = model.recommend(query, k=k)
            ids, scores = ranked.item_ids, ranked.scores
            if arm == "fresh":
                horizon = self._now - self.config.exploration.fresh_days * DAY_SECONDS
                fresh = [i for i, t in self._first_seen.items() if t >= horizon]
                slots = self.config.exploration.fresh_slots
                ids, scores = with_fresh(model, query, (ids, scores), fresh, slots)
            elif arm == "trending":
                ids, scores = trending_list(model, self._trending, query, k) or (ids, scores)
            if query.user_id is not None:
                self._pending[(query.user_id, scen)] = (arm, frozenset(ids))
            reasons: tuple[Explanation, ...] = ()
            if explain_items and ids:
                reasons = tuple(model.explain(query, ids))
            return Recommendation(
                ids, scores, ranked.fallback, model.name, self.version, arm, explores, reasons
            )

    # ------------------------------------------------------------------ writes
    def apply(self, events: EventsLike) -> ApplyResult:
        """Learn from new events (a table or records with the schema fields; extra catalog
        columns such as ``title`` give new items their text)."""
        typed = to_events(events)
        with self.lock:
            model = self._model
            state = model.train_state
            n_u, n_i = state.n_users, state.n_items
            before = set(state.scenarios)
            self._feedback(typed)
            model.partial_fit(typed)
            if self.journal is not None:
                self.journal.append(("events", typed))
            n = typed.height
            self.events_applied += n
            self._since_tune += n
            self._track(typed, n_i)
            new_scen = tuple(s for s in state.scenarios if s not in before)
            reason = self._trigger(typed)
            if self.config.compact_every and len(state.recent) >= self.config.compact_every:
                state.compact()
            result = ApplyResult(
                n, state.n_users - n_u, state.n_items - n_i, new_scen, self.version, reason
            )
        if reason is not None:
            self._start_fine_tune(reason)
        return result

    def _feedback(self, typed: pl.DataFrame) -> None:
        """Score the lists last served to these users in these scenarios (click = hit@k)."""
        if not self._pending:
            return
        for user, item, scen, ts in typed.select(
            C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP
        ).iter_rows():
            served = self._pending.pop((user, scen), None)
            if served is None:
                continue
            arm, items = served
            hit = item in items
            self.explorer.reward(scen, arm, hit)
            found = self.drift.update(scen, hit, at_event=self.events_applied, timestamp=ts)
            if found is not None and self.config.drift.fine_tune:
                self._drift_reason = f"drift in {scen!r}"

    def _track(self, typed: pl.DataFrame, n_items_before: int) -> None:
        """Event time, fresh items, trending counts."""
        state = self._model.train_state
        ts = typed[C.TIMESTAMP].to_numpy()
        self._now = max(self._now, int(ts.max()))
        items = np.fromiter(
            (state.vocabularies["items"].index(i) for i in typed[C.ITEM_ID].to_list()),
            np.int64,
            typed.height,
        )
        for i, t in zip(items.tolist(), ts.tolist(), strict=True):
            if i >= n_items_before and i not in self._first_seen:
                self._first_seen[i] = t
        if "trending" in self.config.exploration.arms and self.config.exploration.enabled:
            scen = np.fromiter(
                (state.scenario_index(s) for s in typed[C.SCENARIO].to_list()),
                np.int64,
                typed.height,
            )
            self._trending.add(scen, items, ts)

    def _trigger(self, typed: pl.DataFrame) -> str | None:
        """The reason to start a fine-tune now, if any."""
        cfg = self.config.fine_tune
        reason, self._drift_reason = self._drift_reason, None
        for scen, n in Counter(typed[C.SCENARIO].to_list()).items():
            if scen not in self._fitted:
                self._new_scenario[scen] = total = self._new_scenario.get(scen, 0) + n
                if total >= cfg.new_scenario_events and reason is None:
                    reason = f"new scenario {scen!r}"
        if reason is None and cfg.every_events and self._since_tune >= cfg.every_events:
            reason = f"{self._since_tune} events"
        busy = self._thread is not None and self._thread.is_alive()
        if reason is None or not cfg.enabled or busy or self._since_tune < cfg.min_events:
            return None
        self._since_tune = 0  # under the lock: a concurrent apply cannot start a second one
        return reason

    def add_items(self, catalog: pl.DataFrame) -> int:
        """Add or update catalog items (``item_id``, text columns, optional ``scenario``);
        recommendable at once. Returns how many items are new."""
        if C.ITEM_ID not in catalog.columns:
            raise SchemaError("catalog lacks column 'item_id'", fix="give every item an item_id")
        with self.lock:
            before = self._model.train_state.n_items
            items = self._model.add_items(catalog)
            self._catalog.append(catalog)
            for i in items.tolist():
                if i >= before:
                    self._first_seen.setdefault(i, self._now)
            if self.journal is not None:
                self.journal.append(("items", catalog))
            return self._model.train_state.n_items - before

    def forget_user(self, user_id: str) -> bool:
        """Forget a user (events, state, id); False if unknown. A fine-tune in progress is not
        swapped in (its candidate was trained on the user's events)."""
        with self.lock:
            found = self._model.forget_user(user_id)
            self._pending = {key: v for key, v in self._pending.items() if key[0] != user_id}
            if found and self.journal is not None:
                self.journal.append(("forget", user_id))
            return found

    # ------------------------------------------------------------------ fine-tuning
    def fine_tune(self, *, reason: str = "manual", wait: bool = True) -> FineTuneResult | None:
        """Fine-tune now (in the background unless ``wait``); ``None`` if one is running."""
        if self._thread is not None and self._thread.is_alive():
            if not wait:
                return None
            self._thread.join()
        if wait:
            return self._run(reason)
        self._start_fine_tune(reason, background=True)
        return None

    def _start_fine_tune(self, reason: str, *, background: bool | None = None) -> None:
        if background if background is not None else self.config.fine_tune.background:
            self._thread = threading.Thread(
                target=self._run, args=(reason,), name="scenerec-fine-tune", daemon=True
            )
            self._thread.start()
        else:
            self._run(reason)

    def _run(self, reason: str) -> FineTuneResult:
        with self.lock:
            self._since_tune = 0
        result = run_fine_tune(self, reason)
        with self.lock:
            self.fine_tunes.append(result)
        return result

    def swap(self, candidate: OnlineMixin[Any], serving: OnlineMixin[Any]) -> str | None:
        """Replay the journal into ``candidate`` and make it the serving model (caller holds
        the lock). Returns why it did not, or ``None``."""
        if self._model is not serving:
            return "the serving model changed during the fine-tune"
        for kind, payload in self.journal or []:
            if kind == "forget":
                return f"user {payload!r} was forgotten during the fine-tune"
            if kind == "events":
                candidate.partial_fit(payload)
            else:
                candidate.add_items(payload)
        self._model = candidate
        self.version += 1
        self._fitted = set(candidate.train_state.scenarios)
        return None

    def close(self) -> None:
        """Wait for a fine-tune in progress."""
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ reporting
    def report(self) -> dict[str, Any]:
        """Events applied, serving version, fine-tunes, drifts and exploration shares."""
        with self.lock:
            return {
                "model": self._model.name,
                "model_version": self.version,
                "events_applied": self.events_applied,
                "recent_events": len(self._model.train_state.recent),
                "fine_tunes": [r.to_dict() for r in self.fine_tunes],
                "drift": self.drift.report(),
                "exploration": self.explorer.report(),
            }

    def save(self, path: str | Path) -> Path:
        """Save the serving model as a run directory (with the catalog seen so far)."""
        with self.lock:
            out = self._model.save(path)
            catalog = self.catalog
            if catalog is not None:
                catalog.write_parquet(out / "catalog.parquet")
            return out


__all__ = ["AdaptiveRecommender", "ApplyResult", "Recommendation"]
