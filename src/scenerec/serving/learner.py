"""What the service serves: the online layer's ``AdaptiveRecommender`` for models that learn
online, and ``HistoryOverlay`` for every other model (the flagship ranker, SASRec, BPR...).

Both offer the same operations (``Serves``). ``HistoryOverlay`` keeps each user's new events
beside the run and ranks from the user's trained history followed by them (an ad-hoc history),
so models that read histories at scoring time (item co-occurrence, sequences, the flagship's
generators) react to every event without a refit; models whose user state is a trained vector
react once a refit includes the events. It cannot add items to the model's catalog (409), and
forgetting a user removes their trained history and new events from everything it serves; the
model's weights keep what they learned from the user until the run is retrained.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import polars as pl

from scenerec.errors import UnknownEntityError
from scenerec.models.base import BaseRecommender
from scenerec.models.explain import Explanation
from scenerec.models.online import OnlineMixin
from scenerec.models.query import HistoryEvent, RecQuery
from scenerec.online import AdaptiveRecommender, OnlineConfig, Recommendation
from scenerec.schema import C
from scenerec.serving.errors import UnsupportedError


class Serves(Protocol):
    """The operations the service needs from what it serves."""

    lock: threading.RLock
    version: int
    events_applied: int

    @property
    def model(self) -> BaseRecommender[Any]: ...
    def apply(self, events: pl.DataFrame) -> object: ...
    def add_items(self, catalog: pl.DataFrame) -> int: ...
    def forget_user(self, user_id: str) -> bool: ...
    def recommend(
        self, query: RecQuery, *, k: int = 10, explain_items: bool = False
    ) -> Recommendation: ...
    def close(self) -> None: ...


def trained_history(model: BaseRecommender[Any], user_id: str) -> list[HistoryEvent]:
    """A known user's events in the model's state (trained and, for online models, added
    since), oldest first; empty for an unknown user."""
    state = model.train_state
    u = state.vocabularies["users"].get(user_id)
    if u is None:
        return []
    h, sl = state.user_history(u)
    items = state.vocabularies["items"].to_ids(h.item_idx[sl])
    scen = state.scenarios
    beh = state.vocabularies["behaviors"].to_list()
    return [
        HistoryEvent(i, scen[s] if s >= 0 else None, beh[b], int(t))
        for i, s, b, t in zip(
            items,
            h.scenario_idx[sl].tolist(),
            h.behavior_idx[sl].tolist(),
            h.timestamp[sl].tolist(),
            strict=True,
        )
    ]


def serving_recommender(
    model: BaseRecommender[Any], config: OnlineConfig, catalog: pl.DataFrame | None
) -> Serves:
    """``AdaptiveRecommender`` for a model that learns online, else ``HistoryOverlay``."""
    if isinstance(model, OnlineMixin):
        return AdaptiveRecommender(model, config, catalog=catalog)
    return HistoryOverlay(model)


class HistoryOverlay:
    """A model that does not learn online, served with each user's new events (see the
    module docstring)."""

    def __init__(self, model: BaseRecommender[Any]) -> None:
        self._model = model
        self.lock = threading.RLock()
        self.version = 1
        self.events_applied = 0
        self._new: dict[str, list[HistoryEvent]] = {}
        self._forgotten: set[str] = set()

    @property
    def model(self) -> BaseRecommender[Any]:
        return self._model

    def knows(self, user_id: str) -> bool:
        """The user has trained events (not forgotten) or new ones."""
        with self.lock:
            if user_id in self._new:
                return True
            trained = self._model.train_state.vocabularies["users"].get(user_id) is not None
            return trained and user_id not in self._forgotten

    def history(self, user_id: str) -> list[HistoryEvent]:
        """The user's trained events (unless forgotten) followed by their new ones."""
        with self.lock:
            old = [] if user_id in self._forgotten else trained_history(self._model, user_id)
            return old + self._new.get(user_id, [])

    def apply(self, events: pl.DataFrame) -> int:
        rows = events.select(C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP)
        with self.lock:
            for user, item, scen, beh, ts in rows.iter_rows():
                self._new.setdefault(user, []).append(HistoryEvent(item, scen, beh, int(ts)))
            self.events_applied += events.height
        return events.height

    def add_items(self, catalog: pl.DataFrame) -> int:
        raise UnsupportedError(
            f"the served model ({self._model.name}) does not learn online, so it cannot add "
            "items to its catalog. Fix: retrain with the new items, or serve a model that "
            "learns online (popularity, itemknn, ease, als, fusion)"
        )

    def forget_user(self, user_id: str) -> bool:
        with self.lock:
            known = self.knows(user_id)
            self._new.pop(user_id, None)
            if self._model.train_state.vocabularies["users"].get(user_id) is not None:
                self._forgotten.add(user_id)
            return known

    def recommend(
        self, query: RecQuery, *, k: int = 10, explain_items: bool = False
    ) -> Recommendation:
        with self.lock:
            user = query.user_id
            if user is not None and (user in self._new or user in self._forgotten):
                if self.knows(user):
                    query = _with_history(query, self.history(user))
                elif query.unknown_user == "fallback":
                    query = _with_history(query, [])
                else:
                    raise UnknownEntityError("user", user, fix="the user was forgotten")
            ranked = self._model.recommend(query, k=k)
            reasons: tuple[Explanation, ...] = ()
            if explain_items and ranked.item_ids:
                reasons = tuple(self._model.explain(query, ranked.item_ids))
            return Recommendation(
                ranked.item_ids,
                ranked.scores,
                ranked.fallback,
                self._model.name,
                self.version,
                explanations=reasons,
            )

    def close(self) -> None:
        return None


def _with_history(query: RecQuery, history: list[HistoryEvent]) -> RecQuery:
    return RecQuery(
        history=history,
        scenario=query.scenario,
        candidates=query.candidates,
        exclude=query.exclude,
        exclude_seen=query.exclude_seen,
    )


__all__ = ["HistoryOverlay", "Serves", "serving_recommender", "trained_history"]
