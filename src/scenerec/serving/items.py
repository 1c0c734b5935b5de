"""The catalog as the service searches it: item text vectors in one ``VectorIndex`` labelled by
the model's item index, titles, and the three searches of the API (similar items, semantic
search, personalised search).

Item vectors come from the service's text encoder (the model's own when it reads text, so that
search and recommendations share one space). Items without text have no vector: their similar
items come from co-occurrence in the users' histories instead (cosine over the users who took
them), and semantic search never returns them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from scenerec.data.histories import DAY_SECONDS, decay
from scenerec.models.state import TrainState
from scenerec.retrieval import RetrievalConfig, VectorIndex
from scenerec.schema import C, FloatMatrix, IdxArray
from scenerec.text.cache import CachedEncoder
from scenerec.text.embeddings import encode_items
from scenerec.text.encoder import TextEncoder, l2_normalize
from scenerec.text.templates import ItemTextTemplate
from scenerec.text.users import interest_sums

BoolArray = npt.NDArray[np.bool_]
Hits = tuple[IdxArray, FloatMatrix]
_RERANK = 10  # personalised search re-ranks this many query hits per requested item


class ItemSpace:
    """Item vectors, titles and searches (see the module docstring).

    Args:
        encoder: the text encoder (item texts as passages, search text as queries).
        retrieval: exact or approximate search.
    """

    def __init__(self, encoder: TextEncoder, retrieval: RetrievalConfig) -> None:
        self.encoder = encoder
        # queries are encoded without the on-disk cache: one-off texts would only grow it
        self._query_encoder = encoder.inner if isinstance(encoder, CachedEncoder) else encoder
        self.index = VectorIndex(encoder.dim, retrieval)
        self.titles: dict[str, str] = {}
        self._csc: sp.csc_matrix | None = None
        self._csc_of: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ contents
    def put(self, catalog: pl.DataFrame, labels: IdxArray, *, cache: bool = True) -> None:
        """Encode catalog rows (``item_id`` and text columns) and index them under ``labels``
        (the model's item indices, row for row); an item without text loses any vector."""
        if catalog.is_empty():
            return
        if not any(c in catalog.columns for c in ItemTextTemplate().columns):
            vectors = np.zeros((catalog.height, self.index.dim), np.float32)  # no text at all
        elif cache or not isinstance(self.encoder, CachedEncoder):
            vectors = encode_items(catalog, self.encoder).vectors
        else:  # a few items at a time: keep them out of the on-disk cache's shards
            vectors = encode_items(catalog, self._query_encoder).vectors
        self.index.set(np.asarray(labels, np.int64), vectors)
        if C.TITLE in catalog.columns:
            for item, title in catalog.select(C.ITEM_ID, C.TITLE).iter_rows():
                if title:
                    self.titles[str(item)] = str(title)

    def has_text(self, label: int) -> bool:
        return bool(self.index.has(np.array([label]))[0])

    # ------------------------------------------------------------------ searches
    def similar(
        self, label: int, k: int, allowed: BoolArray | None, state: TrainState
    ) -> tuple[Hits, str]:
        """Items most like ``label`` (itself excluded): by text when it has text, else by
        co-occurrence. Returns the hits and which of the two it used."""
        if self.has_text(label):
            q = self.index.vectors(np.array([label]))[0]
            return self.index.search(q, k, allowed=allowed, exclude=np.array([label])), "text"
        return self._cooccurring(label, k, allowed, state), "co-occurrence"

    def search(
        self,
        text: str,
        k: int,
        allowed: BoolArray | None,
        *,
        interest: FloatMatrix | None = None,
        weight: float = 0.0,
        exclude: IdxArray | None = None,
    ) -> Hits:
        """Items closest to a query text; with an ``interest`` vector, the query's best
        ``_RERANK * k`` items re-ranked by ``query similarity + weight * interest
        similarity``."""
        q = l2_normalize(self._query_encoder.encode([text], kind="query"))[0]
        if interest is None or weight <= 0:
            return self.index.search(q, k, allowed=allowed, exclude=exclude)
        labels, scores = self.index.search(q, _RERANK * k, allowed=allowed, exclude=exclude)
        mixed = scores + weight * (self.index.vectors(labels) @ interest)
        order = np.argsort(-mixed, kind="stable")[:k]
        return labels[order], mixed[order].astype(np.float32)

    def interest(
        self, state: TrainState, user_idx: int, *, half_life_days: float
    ) -> FloatMatrix | None:
        """A user's interest vector in the item text space (``text.users.interest_sums``:
        behaviour weight times time decay, from their newest event), or ``None`` without
        text evidence."""
        h, sl = state.user_history(user_idx)
        items = h.item_idx[sl]
        if not len(items):
            return None
        ts = h.timestamp[sl].astype(np.float64)
        w = h.weight[sl].astype(np.float64) * decay(ts.max() - ts, half_life_days * DAY_SECONDS)
        used, pos = np.unique(items, return_inverse=True)
        rows = np.zeros(len(items), np.int64)
        total = interest_sums(rows, pos.ravel(), w, 1, self.index.vectors(used))
        vec = l2_normalize(total.astype(np.float32))[0]
        return vec if np.any(vec) else None

    def _cooccurring(
        self, label: int, k: int, allowed: BoolArray | None, state: TrainState
    ) -> Hits:
        """Cosine over users between ``label`` and every item, in the stored histories (events
        added since the last compaction join at the next one)."""
        X = state.base_matrix(None, binary=True)
        if label >= X.shape[1]:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        csc = self._csc
        if csc is None or self._csc_of is not X:  # rebuilt when the histories change
            csc = X.tocsc()
            self._csc, self._csc_of = csc, X
        users = csc.indices[csc.indptr[label] : csc.indptr[label + 1]]
        counts = np.diff(csc.indptr).astype(np.float64)
        co = np.asarray(X[users].sum(axis=0)).ravel()
        sims = co / (np.sqrt(counts * max(counts[label], 1.0)) + 1e-9)
        sims[label] = 0.0
        ok = sims > 0
        if allowed is not None:
            m = min(len(allowed), len(ok))
            ok[:m] &= allowed[:m]
            ok[m:] = False
        cand = np.flatnonzero(ok)
        order = np.lexsort((cand, -sims[cand]))[:k]
        return cand[order].astype(np.int64), sims[cand[order]].astype(np.float32)


__all__ = ["ItemSpace"]
