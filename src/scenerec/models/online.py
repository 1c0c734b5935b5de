"""Learning online: the ``OnlineRecommender`` capability and the mixin that provides it.

A model that learns from new events without a refit inherits ``OnlineMixin`` and implements
``_partial_fit(events)``; only such models have ``partial_fit``, so
``isinstance(model, OnlineRecommender)`` says exactly which models learn online.

Besides events, an online model takes catalog additions (``add_items``: a new item with text is
recommendable at once by the models that read text), forgets users (``forget_user``) and can
start a refit from its current weights (``warm_start_from``; the online layer's fine-tuning).
Every operation costs time proportional to what it adds, never to the events stored (the events
go to ``TrainState.recent``); only ``forget_user`` rewrites the stored events, as removing data
must.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

import numpy as np
import polars as pl

from scenerec.data.histories import Histories
from scenerec.errors import SchemaError
from scenerec.models.base import BaseRecommender, ConfigT, Recommender
from scenerec.schema import C, IdxArray

if TYPE_CHECKING:
    from torch import nn

_REQUIRED = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP)


@runtime_checkable
class OnlineRecommender(Recommender, Protocol):
    """A model that learns from new events without a refit."""

    def partial_fit(self, events: pl.DataFrame) -> Self: ...
    def add_items(self, catalog: pl.DataFrame) -> IdxArray: ...
    def forget_user(self, user_id: str) -> bool: ...


class OnlineMixin(BaseRecommender[ConfigT]):
    """``partial_fit``, ``add_items``, ``forget_user`` and warm starts for models that
    implement ``_partial_fit`` (and, where they keep more than histories, the other hooks)."""

    #: weights a refit starts from (``warm_start_from``); ``None`` starts fresh
    warm_weights: dict[str, np.ndarray] | None = None

    def partial_fit(self, events: pl.DataFrame) -> Self:
        """Learn from new typed events (schema columns) without a refit.

        Unseen users, items and scenarios grow the vocabularies. The events are added to the
        model's training state (``TrainState.append``: O(events added)), then the model
        updates itself from them.
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

    def add_items(self, catalog: pl.DataFrame) -> IdxArray:
        """Add or update catalog items (``item_id``, text columns, optional ``scenario``).

        Each item joins its ``scenario`` (every scenario when the column is absent or null), so
        it is a candidate there at once; models that read text encode it now.

        Returns:
            The items' indices.
        """
        if C.ITEM_ID not in catalog.columns:
            raise SchemaError(
                f"catalog lacks column {C.ITEM_ID!r}", fix="give every item an item_id"
            )
        ids = catalog[C.ITEM_ID].cast(pl.String).to_list()
        if any(i is None or not i.strip() for i in ids):
            raise SchemaError("catalog has an empty item_id", fix="give every item an item_id")
        scen: list[str | None] = (
            catalog[C.SCENARIO].cast(pl.String).to_list()
            if C.SCENARIO in catalog.columns
            else [None] * len(ids)
        )
        items = self.train_state.add_items(ids, scen)
        self._add_items(catalog.with_columns(pl.Series(C.ITEM_IDX, items)))
        return items

    def forget_user(self, user_id: str) -> bool:
        """Remove a user: their events, their state in the model and their id (afterwards the
        user is unknown). Returns False for a user the model does not know."""
        state = self.train_state
        u = state.vocabularies["users"].get(user_id)
        if u is None:
            return False
        gone = state.forget(user_id)
        if gone is not None:
            self._forget_user(u, gone)
        return True

    def warm_start_from(self, previous: OnlineMixin[ConfigT]) -> Self:
        """Make the next ``fit`` start from ``previous``'s weights (rows of items and
        scenarios new since then start as a fresh fit would)."""
        self.warm_weights = previous._warm_weights()
        return self

    # ------------------------------------------------------------------ hooks
    def _partial_fit(self, events: pl.DataFrame) -> None:
        """Update the model from new events (index and weight columns added, time-ordered)."""
        raise NotImplementedError

    def _add_items(self, catalog: pl.DataFrame) -> None:
        """Catalog rows just added (with ``item_idx``). Default: nothing to do (models that
        read only histories score a new item once it has events)."""
        return None

    def _forget_user(self, user_idx: int, events: Histories) -> None:
        """Remove what the model keeps of a user beyond their history (their events are
        already gone from the training state). Default: nothing (state = history)."""
        return None

    def _warm_weights(self) -> dict[str, np.ndarray]:
        """The weights a refit can start from, by parameter name. Default: none."""
        return {}


def load_warm(net: nn.Module, weights: Mapping[str, np.ndarray]) -> list[str]:
    """Copy ``weights`` into ``net``'s parameters of the same name; where the sizes differ
    (the catalog or the scenarios grew), the overlapping block is copied and the rest keeps its
    fresh initialisation. Returns the names copied."""
    import torch

    done = []
    with torch.no_grad():
        for name, param in net.state_dict().items():
            w = weights.get(name)
            if w is None or w.ndim != param.ndim:
                continue
            block = tuple(slice(0, min(a, b)) for a, b in zip(param.shape, w.shape, strict=True))
            param[block] = torch.from_numpy(np.ascontiguousarray(w[block])).to(param.dtype)
            done.append(name)
    return done


__all__ = ["OnlineMixin", "OnlineRecommender", "load_warm"]
