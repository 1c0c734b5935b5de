"""Learning online: the ``OnlineRecommender`` capability and the mixin that provides it.

A model that learns from new events without a refit inherits ``OnlineMixin`` and implements
``_partial_fit(events)``; only such models have ``partial_fit``, so
``isinstance(model, OnlineRecommender)`` says exactly which models learn online.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import polars as pl

from scenerec.errors import SchemaError
from scenerec.models.base import BaseRecommender, ConfigT, Recommender
from scenerec.schema import C

_REQUIRED = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP)


@runtime_checkable
class OnlineRecommender(Recommender, Protocol):
    """A model that learns from new events without a refit."""

    def partial_fit(self, events: pl.DataFrame) -> Self: ...


class OnlineMixin(BaseRecommender[ConfigT]):
    """``partial_fit`` for models that implement ``_partial_fit``."""

    def partial_fit(self, events: pl.DataFrame) -> Self:
        """Learn from new typed events (schema columns) without a refit.

        Unseen users, items and scenarios grow the vocabularies. The events are added to the
        model's training histories, then the model updates itself from them.
        """
        missing = [c for c in _REQUIRED if c not in events.columns]
        if missing:
            raise SchemaError(
                f"partial_fit events lack column(s) {missing}",
                fix=f"give every event the columns {list(_REQUIRED)}",
            )
        if events.height == 0:
            return self
        mapped = self.train_state.append(events)
        self._partial_fit(mapped)
        return self

    def _partial_fit(self, events: pl.DataFrame) -> None:
        """Update the model from new events (index and weight columns added, time-ordered)."""
        raise NotImplementedError


__all__ = ["OnlineMixin", "OnlineRecommender"]
