"""Item and query embeddings as model features, and their Parquet files.

``encode_items`` renders each item's text with a template and encodes it; items without text
keep a zero vector and ``has_text=False``. ``encode_queries`` encodes the distinct search
queries of ``search`` events with the same encoder (``kind="query"``), so that queries and items
share one space: a user's searches in one scenario can inform recommendations in another.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from scenerec.data.dataset import Dataset
from scenerec.errors import SchemaError
from scenerec.schema import C, FloatMatrix
from scenerec.text.encoder import TextEncoder
from scenerec.text.templates import ItemTextTemplate, render_items

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]
EMBEDDING_COLUMN = "embedding"
HAS_TEXT_COLUMN = "has_text"
_META_FINGERPRINT = "scenerec.fingerprint"
_META_KIND = "scenerec.kind"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ItemEmbeddings:
    """Text vectors of items.

    Attributes:
        item_ids: raw item ids, one per row.
        vectors: float32 ``(n_items, dim)``, unit rows where ``has_text``, zero rows elsewhere.
        has_text: bool ``(n_items,)``; False means "no text: use the id embedding".
        fingerprint: encoder fingerprint and template fingerprint, ``"<encoder>+<template>"``.
    """

    item_ids: list[str]
    vectors: FloatMatrix
    has_text: BoolArray
    fingerprint: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def aligned(self, item_ids: Sequence[str]) -> tuple[FloatMatrix, BoolArray]:
        """Vectors and mask reordered to ``item_ids`` (e.g. ``dataset.item_vocab.to_list()``);
        ids not present get a zero vector and ``has_text=False``."""
        pos = {iid: i for i, iid in enumerate(self.item_ids)}
        idx = np.fromiter((pos.get(i, -1) for i in item_ids), dtype=np.int64, count=len(item_ids))
        ok = idx >= 0
        vectors = np.zeros((len(item_ids), self.dim), dtype=np.float32)
        vectors[ok] = self.vectors[idx[ok]]
        has_text = np.zeros(len(item_ids), dtype=bool)
        has_text[ok] = self.has_text[idx[ok]]
        return vectors, has_text

    def save(self, path: str | Path) -> Path:
        """Write Parquet: ``item_id``, ``has_text``, ``embedding`` (fixed-size float32 array),
        with the fingerprint in the file metadata. Written atomically."""
        df = pl.DataFrame(
            {
                C.ITEM_ID: pl.Series(self.item_ids, dtype=pl.String),
                HAS_TEXT_COLUMN: pl.Series(self.has_text, dtype=pl.Boolean),
                EMBEDDING_COLUMN: pl.Series(
                    np.ascontiguousarray(self.vectors, dtype=np.float32),
                    dtype=pl.Array(pl.Float32, self.dim),
                ),
            }
        )
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{p.name}")
        try:
            df.write_parquet(
                tmp, metadata={_META_FINGERPRINT: self.fingerprint, _META_KIND: "item_embeddings"}
            )
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
        return p

    @classmethod
    def load(cls, path: str | Path) -> ItemEmbeddings:
        """Read a file written by ``save``.

        Raises:
            SchemaError: the file is missing, lacks a column, or its embeddings are malformed.
        """
        p = Path(path)
        if not p.is_file():
            raise SchemaError("embeddings file not found", file=p, fix="run `scenerec encode`")
        df = pl.read_parquet(p)
        for col in (C.ITEM_ID, HAS_TEXT_COLUMN, EMBEDDING_COLUMN):
            if col not in df.columns:
                raise SchemaError(
                    f"embeddings file lacks column {col!r}",
                    file=p,
                    column=col,
                    fix="write it with ItemEmbeddings.save or `scenerec encode`",
                )
        emb = df[EMBEDDING_COLUMN]
        if not isinstance(emb.dtype, pl.Array) or emb.null_count():
            raise SchemaError(
                f"embedding column must be a fixed-size float array without nulls, got {emb.dtype}",
                file=p,
                column=EMBEDDING_COLUMN,
            )
        meta = pl.read_parquet_metadata(p)
        return cls(
            item_ids=[str(x) for x in df[C.ITEM_ID].to_list()],
            vectors=np.ascontiguousarray(emb.to_numpy(), dtype=np.float32).reshape(df.height, -1),
            has_text=df[HAS_TEXT_COLUMN].to_numpy().astype(bool),
            fingerprint=meta.get(_META_FINGERPRINT, ""),
        )


def encode_items(
    source: Dataset | pl.DataFrame,
    encoder: TextEncoder,
    template: ItemTextTemplate | None = None,
    *,
    batch_size: int | None = None,
) -> ItemEmbeddings:
    """Encode every item's text.

    Args:
        source: a Dataset (rows follow ``item_idx``) or a catalog table (rows in table order).
        encoder: any text encoder (wrap it in ``CachedEncoder`` to reuse earlier work).
        template: how fields become text; ``ItemTextTemplate()`` by default.
        batch_size: texts per forward pass; the encoder's default when omitted.

    Returns:
        ``ItemEmbeddings`` with zero vectors and ``has_text=False`` for items without text.
    """
    template = template or ItemTextTemplate()
    catalog = source.catalog if isinstance(source, Dataset) else source
    texts, has_text = render_items(catalog, template)
    item_ids = [str(x) for x in catalog[C.ITEM_ID].to_list()]
    rows = np.flatnonzero(has_text)
    encoded = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
    vectors = np.zeros((len(texts), encoded.shape[1] if len(rows) else encoder.dim), np.float32)
    vectors[rows] = encoded
    n_missing = len(texts) - len(rows)
    if n_missing:
        logger.info("%d of %d items have no text; flagged for id fallback", n_missing, len(texts))
    return ItemEmbeddings(
        item_ids=item_ids,
        vectors=vectors,
        has_text=has_text,
        fingerprint=f"{encoder.fingerprint}+{template.fingerprint}",
    )


def normalize_query(text: str) -> str:
    """The form a query is encoded and looked up in: trimmed, inner whitespace collapsed."""
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class QueryEmbeddings:
    """Text vectors of distinct search queries.

    Attributes:
        queries: distinct normalised queries (``normalize_query``), sorted.
        vectors: float32 ``(n_queries, dim)``, unit rows.
        fingerprint: the encoder fingerprint.
    """

    queries: list[str]
    vectors: FloatMatrix
    fingerprint: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def indices(self, queries: Sequence[str | None]) -> npt.NDArray[np.int64]:
        """Row of each query (normalised first); -1 for None, blank or unknown queries."""
        pos = {q: i for i, q in enumerate(self.queries)}
        return np.fromiter(
            (pos.get(normalize_query(q), -1) if q else -1 for q in queries),
            dtype=np.int64,
            count=len(queries),
        )


def search_queries(events: pl.DataFrame) -> list[str]:
    """Distinct non-blank normalised queries of an events table, sorted (none without a
    ``query`` column)."""
    if C.QUERY not in events.columns:
        return []
    raw = events[C.QUERY].drop_nulls().unique().to_list()
    return sorted({q for q in (normalize_query(str(r)) for r in raw) if q})


def encode_queries(
    source: Dataset | Sequence[str], encoder: TextEncoder, *, batch_size: int | None = None
) -> QueryEmbeddings:
    """Encode distinct search queries with ``kind="query"`` (the query prefix applies).

    Args:
        source: a Dataset (the queries of its events) or the query strings themselves.
        encoder: the same encoder as the items', so that both share one space.
        batch_size: texts per forward pass.
    """
    if isinstance(source, Dataset):
        queries = search_queries(source.events)
    else:
        queries = sorted({q for q in (normalize_query(s) for s in source) if q})
    vectors = (
        encoder.encode(queries, batch_size=batch_size, kind="query")
        if queries
        else np.zeros((0, encoder.dim), dtype=np.float32)
    )
    return QueryEmbeddings(queries=queries, vectors=vectors, fingerprint=encoder.fingerprint)
