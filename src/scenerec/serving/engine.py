"""``Engine``: a run, its event store and its item space, behind the operations of the API.

Writes are durable before they are applied: ``ingest`` stores a batch (one committed
transaction; events already stored by ``event_id`` are reported as duplicates and not applied
again), then applies the new events to the online state, under one write lock so that the
order in memory is the order in the store. A restart therefore rebuilds exactly the same state:
the run, minus the users forgotten since (their tombstones), plus the stored items and events
replayed in stored order (``Engine.open``).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from scenerec.errors import UnknownEntityError
from scenerec.models.base import BaseRecommender
from scenerec.models.query import HistoryEvent, RecQuery
from scenerec.models.registry import ENCODER_FIELD, load_run
from scenerec.models.runs import CATALOG, read_manifest
from scenerec.online import Recommendation
from scenerec.schema import EVENT_SCHEMA, C
from scenerec.serving.config import ServingConfig
from scenerec.serving.items import Hits, ItemSpace
from scenerec.serving.learner import HistoryOverlay, Serves, serving_recommender, trained_history
from scenerec.serving.store import SqlStore, StoredEvent, user_hash
from scenerec.text.encoder import EncoderConfig, make_encoder

log = logging.getLogger(__name__)
_FIELDS = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP, C.VALUE, C.QUERY)


@dataclass(frozen=True)
class Ingested:
    """The outcome of one batch: events stored and applied, duplicates, and (index, event id,
    reason) of each rejected event."""

    accepted: int
    duplicates: int
    rejected: list[tuple[int, str | None, str]]
    model_version: int


class Engine:
    """See the module docstring. Build it with ``Engine.open``."""

    def __init__(
        self, learner: Serves, store: SqlStore, items: ItemSpace, run_id: str, cfg: ServingConfig
    ) -> None:
        self.learner = learner
        self.store = store
        self.items = items
        self.run_id = run_id
        self.config = cfg
        self.write_lock = threading.Lock()
        self.counts = {"stored": 0, "duplicates": 0, "rejected": 0, "replayed": 0}

    # ------------------------------------------------------------------ building
    @classmethod
    def open(cls, run_dir: str | Path, store: SqlStore, cfg: ServingConfig) -> Engine:
        """Load a run (verified, no pickle), bind the store to it and rebuild the online state
        from the stored tombstones, items and events."""
        t0 = time.perf_counter()
        run = Path(run_dir)
        model = load_run(run)
        run_id = str(read_manifest(run).get("run_id", ""))
        store.bind(run_id)
        catalog = pl.read_parquet(run / CATALOG) if (run / CATALOG).exists() else None
        learner = serving_recommender(model, cfg.online, catalog)
        items = ItemSpace(make_encoder(_encoder_config(model, cfg)), cfg.retrieval)
        engine = cls(learner, store, items, run_id, cfg)
        engine._forget_tombstoned(store.forgotten())
        if catalog is not None:
            known = catalog.filter(pl.col(C.ITEM_ID).cast(pl.String).is_in(engine._item_ids()))
            items.put(known, engine._labels(known[C.ITEM_ID].cast(pl.String).to_list()))
        for kind, payload in store.replay(cfg.replay_batch):
            if kind == "items":
                engine._apply_items(pl.DataFrame(payload, infer_schema_length=None), cache=True)
            else:
                engine._apply_events(payload)  # type: ignore[arg-type]
                engine.counts["replayed"] += len(payload)
        engine.warm()
        log.info(
            "serving %s (run %s): %d stored events replayed, %d items indexed (%s) in %.1f s",
            model.name,
            run_id,
            engine.counts["replayed"],
            items.index.size,
            items.index.kind,
            time.perf_counter() - t0,
        )
        return engine

    def warm(self) -> None:
        """Pay the first-call costs before the service says it is ready: a recommendation with
        explanations, an ad-hoc history (a fold-in for factor models), a text search, and the
        drift detector's library (river loads scikit-learn: 2 s that the first event would
        otherwise wait). Changes no state."""
        if self.config.online.drift.enabled and not isinstance(self.learner, HistoryOverlay):
            importlib.import_module("river.drift")
        state = self.model.train_state
        users, items = state.vocabularies["users"], state.vocabularies["items"]
        if not len(users) or not len(items):
            return
        query = RecQuery(user_id=users.to_ids([0])[0], unknown_user="fallback")
        with self.learner.lock:
            ranked = self.model.recommend(query, k=10)
            self.model.explain(query, ranked.item_ids)
            self.model.recommend(RecQuery(history=[HistoryEvent(items.to_ids([0])[0])]), k=10)
        self.items.search("warm", 10, None)

    def _forget_tombstoned(self, tombstones: set[str]) -> None:
        if not tombstones:
            return
        for user in self.model.train_state.vocabularies["users"].to_list():
            if user_hash(user) in tombstones:
                self.learner.forget_user(user)

    # ------------------------------------------------------------------ lookups
    @property
    def model(self) -> BaseRecommender[Any]:
        return self.learner.model

    def _item_ids(self) -> list[str]:
        return self.model.train_state.vocabularies["items"].to_list()

    def _labels(self, item_ids: Sequence[str]) -> np.ndarray:
        v = self.model.train_state.vocabularies["items"]
        return np.array([v.index(i) for i in item_ids], np.int64)

    def _allowed(self, scenario: str | None) -> np.ndarray | None:
        """Mask over item indices of a scenario's items (``None``: every item)."""
        if scenario is None:
            return None
        state = self.model.train_state
        mask = np.zeros(state.n_items, bool)
        mask[state.items_of_scenario(state.scenario_index(scenario))] = True
        return mask

    def knows_user(self, user_id: str) -> bool:
        if isinstance(self.learner, HistoryOverlay):
            return self.learner.knows(user_id)
        return self.model.train_state.vocabularies["users"].get(user_id) is not None

    def history(self, user_id: str) -> list[HistoryEvent]:
        """A known user's events, oldest first (UnknownEntityError otherwise)."""
        with self.learner.lock:
            if not self.knows_user(user_id):
                raise UnknownEntityError("user", user_id, fix="send events for the user first")
            if isinstance(self.learner, HistoryOverlay):
                return self.learner.history(user_id)
            return trained_history(self.model, user_id)

    # ------------------------------------------------------------------ writes
    def ingest(self, events: Sequence[StoredEvent]) -> Ingested:
        """Validate, store durably, apply (see the module docstring)."""
        now = time.time()
        good: list[StoredEvent] = []
        rejected: list[tuple[int, str | None, str]] = []
        seen: set[str] = set()
        duplicates = 0
        for i, e in enumerate(events):
            reason = _problem(e, now + self.config.max_future_seconds)
            if reason is not None:
                rejected.append((i, e.event_id, reason))
            elif e.event_id is not None and e.event_id in seen:
                duplicates += 1
            else:
                if e.event_id is not None:
                    seen.add(e.event_id)
                good.append(e)
        with self.write_lock:
            stored = self.store.append(good)
            new = [e for e, ok in zip(good, stored, strict=True) if ok]
            duplicates += len(good) - len(new)
            if new:
                self._apply_events(new)
            self.counts["stored"] += len(new)
            self.counts["duplicates"] += duplicates
            self.counts["rejected"] += len(rejected)
        return Ingested(len(new), duplicates, rejected, self.learner.version)

    def _apply_events(self, events: Sequence[StoredEvent]) -> None:
        cols = {
            C.USER_ID: [e.user_id for e in events],
            C.ITEM_ID: [e.item_id for e in events],
            C.SCENARIO: [e.scenario for e in events],
            C.BEHAVIOR: [e.behavior for e in events],
            C.TIMESTAMP: [e.timestamp for e in events],
            C.VALUE: [e.value for e in events],
            C.QUERY: [e.query for e in events],
        }
        self.learner.apply(pl.DataFrame(cols, schema={c: EVENT_SCHEMA[c] for c in _FIELDS}))

    def put_items(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Add or update catalog items durably; returns (added, updated)."""
        if isinstance(self.learner, HistoryOverlay):  # refuse before storing anything
            self.learner.add_items(pl.DataFrame())  # raises UnsupportedError (409)
        with self.write_lock:
            self.store.put_items(rows)
            return self._apply_items(pl.DataFrame(rows, infer_schema_length=None), cache=False)

    def _apply_items(self, catalog: pl.DataFrame, *, cache: bool) -> tuple[int, int]:
        added = self.learner.add_items(catalog)
        ids = catalog[C.ITEM_ID].cast(pl.String).to_list()
        with self.learner.lock:
            labels = self._labels(ids)
        self.items.put(catalog, labels, cache=cache)
        return added, len(ids) - added

    def forget(self, user_id: str) -> tuple[bool, int]:
        """Forget a user everywhere: stored events deleted (a tombstone kept), state removed.
        Returns (the service knew them, stored events deleted)."""
        with self.write_lock:
            deleted = self.store.forget(user_id)
            known = self.learner.forget_user(user_id)
        return known or deleted > 0, deleted

    # ------------------------------------------------------------------ reads
    def recommend(
        self,
        user_id: str,
        scenario: str | None,
        k: int,
        *,
        explain: bool,
        fallback: bool,
        exclude_seen: bool = True,
    ) -> Recommendation:
        """Top-k for a user; an unknown user is a 404 unless ``fallback`` (popular items)."""
        if not fallback and not self.knows_user(user_id):
            raise UnknownEntityError(
                "user", user_id, fix="send events for the user first, or pass fallback=true"
            )
        query = RecQuery(
            user_id=user_id,
            scenario=scenario,
            exclude_seen=exclude_seen,
            unknown_user="fallback" if fallback else "raise",
        )
        return self.learner.recommend(query, k=k, explain_items=explain)

    def recommend_session(
        self,
        history: list[HistoryEvent],
        query: str | None,
        scenario: str | None,
        k: int,
        *,
        explain: bool,
    ) -> Recommendation:
        """Top-k for an anonymous session; with query text, the model ranks the query's best
        matches (without history: the matches in order of similarity)."""
        if query is None:
            return self.learner.recommend(
                RecQuery(history=history, scenario=scenario), k=k, explain_items=explain
            )
        with self.learner.lock:
            labels, scores = self.items.search(query, max(10 * k, 100), self._allowed(scenario))
            ids = self.model.train_state.vocabularies["items"].to_ids(labels)
        known = [e for e in history if e.item_id in self.model.train_state.vocabularies["items"]]
        if not known or not ids:
            version = self.learner.version
            return Recommendation(tuple(ids[:k]), scores[:k], True, self.model.name, version)
        rq = RecQuery(history=history, scenario=scenario, candidates=ids)
        return self.learner.recommend(rq, k=k, explain_items=explain)

    def similar(self, item_id: str, scenario: str | None, k: int) -> tuple[Hits, str]:
        with self.learner.lock:
            label = self.model.train_state.vocabularies["items"].index(item_id)
            allowed = self._allowed(scenario)
            return self.items.similar(label, k, allowed, self.model.train_state)

    def search(
        self, text: str, scenario: str | None, k: int, user_id: str | None
    ) -> tuple[Hits, bool]:
        """Semantic search; with a known ``user_id``, personalised by their interest vector.
        Returns the hits and whether they were personalised (the user has text evidence)."""
        with self.learner.lock:
            allowed = self._allowed(scenario)
            if user_id is None:
                return self.items.search(text, k, allowed), False
            if not self.knows_user(user_id):
                raise UnknownEntityError("user", user_id, fix="search without user_id")
            interest = self._interest(user_id)
            weight = self.config.personal_weight
            hits = self.items.search(text, k, allowed, interest=interest, weight=weight)
            return hits, interest is not None and weight > 0

    def _interest(self, user_id: str) -> np.ndarray | None:
        state = self.model.train_state
        u = state.vocabularies["users"].get(user_id)
        if u is None or isinstance(self.learner, HistoryOverlay):
            return None
        return self.items.interest(state, u, half_life_days=self.config.interest_half_life_days)

    def item_ids(self, labels: np.ndarray) -> list[str]:
        with self.learner.lock:
            return self.model.train_state.vocabularies["items"].to_ids(labels)

    def close(self) -> None:
        self.learner.close()
        self.store.close()


def _problem(e: StoredEvent, latest: float) -> str | None:
    """Why an event that passed the schema cannot be stored, or ``None``."""
    for name in (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR):
        if not getattr(e, name).strip():
            return f"{name} is blank. Fix: send a non-blank {name}"
    if e.timestamp > latest:
        return (
            f"timestamp {e.timestamp} is in the future. Fix: send UTC seconds since 1970 (not "
            "milliseconds)"
        )
    return None


def _encoder_config(model: BaseRecommender[Any], cfg: ServingConfig) -> EncoderConfig:
    """The serving encoder: configured, else the model's own, else hashing."""
    if cfg.encoder is not None:
        return cfg.encoder
    own = getattr(model.config, ENCODER_FIELD, None)
    return own if isinstance(own, EncoderConfig) else EncoderConfig(backend="hashing")


__all__ = ["Engine", "Ingested"]
