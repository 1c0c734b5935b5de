"""Why an item was recommended: ``Explanation`` and the evidence every model can give.

``because`` names the user's past items (and the scenario each was in) that support an item:
those whose training co-occurrence with it is strongest (cosine over the users who took them),
which holds for any model; models that know more (the CrossScenarioRanker's generators, text
similarity) add which of their parts drove the score.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from scenerec.data.histories import Histories
from scenerec.models.state import TrainState
from scenerec.schema import IdxArray


@dataclass(frozen=True)
class Because:
    """One past event that supports a recommendation."""

    item_id: str
    scenario: str | None
    weight: float


@dataclass(frozen=True)
class Explanation:
    """Why ``item_id`` was recommended.

    Attributes:
        item_id: the recommended item.
        source: the model part that contributed most (a generator label, ``text``, the model's
            name, or ``popularity fallback``).
        contributions: model part -> its share of the score (sums to 1 where known).
        because: the user's past items behind it, strongest first.
    """

    item_id: str
    source: str
    contributions: dict[str, float] = field(default_factory=dict)
    because: tuple[Because, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "item_id": self.item_id,
            "source": self.source,
            "contributions": self.contributions,
            "because": [b.__dict__ for b in self.because],
        }


def cooccurrence_because(
    state: TrainState, h: Histories, sl: slice, items: IdxArray, top: int = 3
) -> list[tuple[Because, ...]]:
    """For each of ``items``, the user's past events (``h[sl]``) whose items co-occur most with
    it in the training data (cosine over users), strongest first; empty without co-occurrence.
    """
    hist = h.item_idx[sl]
    scen = h.scenario_idx[sl]
    if len(hist) == 0 or len(items) == 0:
        return [() for _ in items]
    # the stored histories (events added online since the last compaction join at the next
    # one): reading ``state.matrix`` here would compact, O(all events), on every explanation
    X, norms = _columns(state.base_matrix(None, binary=True))
    uniq, first = np.unique(hist[::-1], return_index=True)  # newest occurrence of each item
    last_pos = len(hist) - 1 - first
    sims = np.asarray((X[:, uniq].T @ X[:, items]).toarray(), np.float64)
    sims /= norms[uniq][:, None] * norms[items][None, :]
    items_v = state.vocabularies["items"]
    scen_v = state.scenarios
    out = []
    for j in range(len(items)):
        order = np.argsort(-sims[:, j], kind="stable")[:top]
        out.append(
            tuple(
                Because(
                    item_id=items_v.to_ids([uniq[o]])[0],
                    scenario=scen_v[scen[last_pos[o]]] if scen[last_pos[o]] >= 0 else None,
                    weight=round(float(sims[o, j]), 4),
                )
                for o in order
                if sims[o, j] > 0
            )
        )
    return out


_COLUMNS: list[tuple[weakref.ref[sp.csr_matrix], sp.csc_matrix, np.ndarray]] = []


def _columns(X: sp.csr_matrix) -> tuple[sp.csc_matrix, np.ndarray]:
    """``X`` as CSC and its column norms, kept for the latest matrix (a served model explains
    every list from the same one: converting it per call cost ~15 ms on 100k items)."""
    for ref, csc, norms in _COLUMNS:
        if ref() is X:
            return csc, norms
    csc = X.tocsc()
    norms = np.sqrt(np.asarray(csc.multiply(csc).sum(axis=0)).ravel()) + 1e-9
    _COLUMNS[:] = [(weakref.ref(X), csc, norms)]
    return csc, norms


__all__ = ["Because", "Explanation", "cooccurrence_because"]
