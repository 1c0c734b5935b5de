"""``VectorIndex``: maximum inner-product search over labelled vectors, exact for small catalogs
and approximate (faiss HNSW or IVF) above a configurable size.

Rows are labelled by a dense integer (an item index); ``set`` adds or replaces rows one batch at
a time, so a catalog grows while it is served. The exact scan is the reference: an approximate
index is built only once the index holds ``exact_below`` vectors, and its recall@10 against the
exact scan is measured on a sample of the indexed vectors when it is built (``IndexReport``).
Every approximate hit is re-scored against the current vectors, so a row replaced after it was
indexed (faiss graphs cannot delete) never returns a stale score, and filters (a scenario's
items, excluded ids) that leave fewer than ``k`` approximate hits fall back to the exact scan
over the allowed rows: a filtered search never returns fewer items than exist.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.errors import ConfigError, SchemaError
from scenerec.models.recent import reserve
from scenerec.schema import FloatMatrix, IdxArray

log = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


class RetrievalConfig(FrozenConfig):
    """How vectors are searched.

    Attributes:
        exact_below: score exactly while the index holds fewer vectors than this; build an
            approximate index once it holds this many.
        kind: ``hnsw`` (a graph: no training, good recall, slower to build) or ``ivf``
            (k-means cells: faster to build, recall set by ``nprobe``).
        hnsw_m: graph degree of HNSW.
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW query-time beam width (higher: better recall, slower).
        nlist: IVF cells (``None``: 4 * sqrt(n)).
        nprobe: IVF cells visited per query.
        overfetch: approximate hits fetched per requested item before filtering.
        recall_queries: indexed vectors used as queries to measure recall@10 at build time.
        threads: faiss build threads (0: every core).
        seed: sampling seed (IVF training rows, recall queries).
    """

    exact_below: int = Field(default=20_000, ge=1)
    kind: Literal["hnsw", "ivf"] = "hnsw"
    hnsw_m: int = Field(default=16, ge=4, le=128)
    ef_construction: int = Field(default=40, ge=8)
    ef_search: int = Field(default=64, ge=8)
    nlist: int | None = Field(default=None, ge=1)
    nprobe: int = Field(default=16, ge=1)
    overfetch: int = Field(default=4, ge=1)
    recall_queries: int = Field(default=200, ge=1)
    threads: int = Field(default=0, ge=0)
    seed: int = 0


@dataclass(frozen=True)
class IndexReport:
    """What an index is and how good it is.

    Attributes:
        kind: ``exact``, ``hnsw`` or ``ivf``.
        size: vectors indexed.
        dim: their length.
        build_seconds: time to build the approximate index (0 for exact).
        recall_at_10: share of the exact top-10 the index returns, averaged over
            ``queries`` indexed vectors (1.0 for exact).
        queries: how many queries measured it.
    """

    kind: str
    size: int
    dim: int
    build_seconds: float = 0.0
    recall_at_10: float = 1.0
    queries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VectorIndex:
    """Labelled vectors searchable by inner product (see the module docstring).

    Args:
        dim: vector length.
        config: when to go approximate, and how.
    """

    def __init__(self, dim: int, config: RetrievalConfig | None = None) -> None:
        if dim < 1:
            raise ConfigError(f"a vector index needs dim >= 1 (got {dim})")
        self.dim = dim
        self.config = config or RetrievalConfig()
        self._vectors = np.zeros((0, dim), np.float32)
        self._present = np.zeros(0, bool)
        self._n = 0  # rows 0.._n-1 are addressable (present or not)
        self._ann: Any = None
        self._lock = threading.RLock()
        self._report = IndexReport("exact", 0, dim)

    # ------------------------------------------------------------------ contents
    @property
    def size(self) -> int:
        """Rows that hold a vector."""
        return int(self._present[: self._n].sum())

    @property
    def kind(self) -> str:
        return self._report.kind

    @property
    def report(self) -> IndexReport:
        """What the index is, its size now, and the recall measured when it was built."""
        return IndexReport(**{**asdict(self._report), "size": self.size})

    def has(self, labels: IdxArray) -> BoolArray:
        """(n,) whether each label holds a vector."""
        labels = np.asarray(labels, np.int64)
        ok = (labels >= 0) & (labels < self._n)
        out: BoolArray = np.zeros(len(labels), bool)
        out[ok] = self._present[labels[ok]]
        return out

    def vectors(self, labels: IdxArray) -> FloatMatrix:
        """(n, dim) vectors of labels (zero rows for labels without one)."""
        labels = np.asarray(labels, np.int64)
        out = np.zeros((len(labels), self.dim), np.float32)
        ok = self.has(labels)
        out[ok] = self._vectors[labels[ok]]
        return out

    def set(self, labels: IdxArray, vectors: FloatMatrix) -> None:
        """Add or replace the vectors of ``labels`` (all-zero rows: the label holds none).

        Raises:
            SchemaError: shapes that do not match, or non-finite values.
        """
        labels = np.asarray(labels, np.int64)
        vectors = np.asarray(vectors, np.float32)
        if vectors.shape != (len(labels), self.dim):
            raise SchemaError(
                f"vectors have shape {vectors.shape}, expected ({len(labels)}, {self.dim})",
                fix="encode every item with the index's encoder",
            )
        if len(labels) and (labels.min() < 0 or not np.isfinite(vectors).all()):
            raise SchemaError("negative labels or non-finite vectors given to a vector index")
        if not len(labels):
            return
        with self._lock:
            n = max(self._n, int(labels.max()) + 1)
            self._vectors = reserve(self._vectors, n)
            self._present = reserve(self._present, n)
            self._n = n
            self._vectors[labels] = vectors
            has = np.abs(vectors).sum(axis=1) > 0
            self._present[labels] = has
            if self._ann is not None and has.any():
                self._ann.add_with_ids(np.ascontiguousarray(vectors[has]), labels[has])
            elif self._ann is None and self.size >= self.config.exact_below:
                self._build()

    # ------------------------------------------------------------------ search
    def search(
        self,
        query: FloatMatrix,
        k: int,
        *,
        allowed: BoolArray | None = None,
        exclude: IdxArray | None = None,
    ) -> tuple[IdxArray, FloatMatrix]:
        """The ``k`` labels of highest inner product with ``query`` (dim,), best first.

        Args:
            query: (dim,) float32.
            k: how many.
            allowed: (>= rows,) mask of labels that may be returned (e.g. a scenario's items).
            exclude: labels never returned (e.g. the query item itself, items seen).

        Returns:
            ``(labels int64, scores float32)``, up to ``k`` of each (fewer when fewer rows
            qualify).
        """
        q = np.asarray(query, np.float32).reshape(-1)
        if q.shape != (self.dim,):
            raise SchemaError(f"query has {q.size} values, the index holds {self.dim}-d vectors")
        with self._lock:
            ok = self._present[: self._n].copy()
            if allowed is not None:
                m = min(len(allowed), self._n)
                ok[:m] &= np.asarray(allowed[:m], bool)
                ok[m:] = False
            if exclude is not None and len(exclude):
                ex = np.asarray(exclude, np.int64)
                ok[ex[(ex >= 0) & (ex < self._n)]] = False
            if self._ann is not None:
                hit = self._approximate(q, k, ok)
                if hit is not None:
                    return hit
            return self._exact(q, k, ok)

    def _exact(self, q: FloatMatrix, k: int, ok: BoolArray) -> tuple[IdxArray, FloatMatrix]:
        rows = np.flatnonzero(ok)
        if not len(rows) or k < 1:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        dense = len(rows) > self._n // 2
        scores = self._vectors[: self._n] @ q if dense else self._vectors[rows] @ q
        if dense:
            scores = scores[rows]
        kk = min(k, len(rows))
        top = np.argpartition(-scores, kk - 1)[:kk]
        top = top[np.lexsort((rows[top], -scores[top]))]  # best first, ties by label
        return rows[top].astype(np.int64), scores[top].astype(np.float32)

    def _approximate(
        self, q: FloatMatrix, k: int, ok: BoolArray
    ) -> tuple[IdxArray, FloatMatrix] | None:
        """Approximate hits that pass ``ok``, re-scored exactly; ``None`` when fewer than
        ``k`` pass (the caller scans exactly)."""
        filtered = int(ok.sum()) < self.size
        fetch = min(self.size, k * self.config.overfetch * (4 if filtered else 1))
        import faiss

        # one query: one thread. OpenMP's thread count is per calling thread, so it is set
        # here, in the request's thread (a team of threads per single query cost ~10 ms)
        faiss.omp_set_num_threads(1)
        _, found = self._ann.search(q[None, :], max(fetch, 1))
        labels = np.unique(found[0][found[0] >= 0])
        labels = labels[ok[labels]]
        if len(labels) < min(k, int(ok.sum())):
            return None
        scores = self._vectors[labels] @ q
        order = np.lexsort((labels, -scores))[:k]
        return labels[order], scores[order].astype(np.float32)

    # ------------------------------------------------------------------ approximate index
    def _build(self) -> None:
        """Build the approximate index over every present row and measure its recall."""
        import faiss

        cfg = self.config
        if cfg.threads:
            faiss.omp_set_num_threads(cfg.threads)
        rows = np.flatnonzero(self._present[: self._n])
        x = np.ascontiguousarray(self._vectors[rows])
        t0 = time.perf_counter()
        inner: Any
        if cfg.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = cfg.ef_construction
            inner.hnsw.efSearch = cfg.ef_search
        else:
            nlist = cfg.nlist or max(1, int(4 * np.sqrt(len(rows))))
            quantizer = faiss.IndexFlatIP(self.dim)
            inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(cfg.seed)
            sample = rng.choice(len(rows), min(len(rows), 64 * nlist), replace=False)
            inner.train(x[np.sort(sample)])
            inner.nprobe = cfg.nprobe
        ann = faiss.IndexIDMap2(inner)
        ann.add_with_ids(x, rows.astype(np.int64))
        self._ann = ann
        built = time.perf_counter() - t0
        recall, n_q = self._recall(rows)
        self._report = IndexReport(cfg.kind, len(rows), self.dim, round(built, 3), recall, n_q)
        log.info(
            "built a %s index over %d vectors in %.1f s; recall@10 against exact %.3f (%d queries)",
            cfg.kind,
            len(rows),
            built,
            recall,
            n_q,
        )

    def _recall(self, rows: IdxArray) -> tuple[float, int]:
        """Mean share of the exact top-10 the approximate index returns, over a sample of the
        indexed vectors used as queries."""
        rng = np.random.default_rng(self.config.seed + 1)
        n_q = min(self.config.recall_queries, len(rows))
        queries = rows[rng.choice(len(rows), n_q, replace=False)]
        k = min(10, len(rows))
        _, found = self._ann.search(np.ascontiguousarray(self._vectors[queries]), k)
        ok = self._present[: self._n]
        hits = 0
        for j, label in enumerate(queries.tolist()):
            exact, _ = self._exact(self._vectors[label], k, ok)
            hits += len(set(exact.tolist()) & set(found[j].tolist()))
        return round(hits / (n_q * k), 4), n_q


__all__ = ["IndexReport", "RetrievalConfig", "VectorIndex"]
