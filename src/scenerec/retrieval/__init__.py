"""Retrieval: maximum inner-product search over item vectors (text embeddings, factors),
exact for small catalogs and faiss HNSW / IVF above a configurable size, with the approximate
index's recall@10 against the exact scan measured when it is built.

- ``index``: ``VectorIndex``, ``RetrievalConfig``, ``IndexReport``.
"""

from __future__ import annotations

from scenerec.retrieval.index import IndexReport, RetrievalConfig, VectorIndex

__all__ = ["IndexReport", "RetrievalConfig", "VectorIndex"]
