"""Cleaning an item catalog: one row per item id, every rejected row quarantined with a reason.

Rules, in order: ``missing_value`` (no item id), ``encoding`` (the item id holds U+FFFD), and
``duplicate`` (an item id seen on an earlier row; the first row is kept). Text fields are
stripped and empty ones become null. The quarantine keeps the original values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from scenerec.data.clean.config import DUPLICATE, ENCODING, MISSING_VALUE
from scenerec.data.io import input_errors, require_item_id
from scenerec.schema import C


@dataclass(frozen=True)
class CatalogResult:
    """What ``clean_catalog`` returns.

    Attributes:
        catalog: one row per item id, every column text, in input order.
        quarantine: rejected rows: ``source_row``, the original columns, ``reason``, ``detail``.
        report: ``file``, ``input_rows``, ``output_rows``, ``rows_per_reason``.
    """

    catalog: pl.DataFrame
    quarantine: pl.DataFrame
    report: dict[str, Any]


def clean_catalog(
    raw: pl.LazyFrame | pl.DataFrame, *, file: str | Path | None = None
) -> CatalogResult:
    """Validate a catalog read as text (``scan_table``); see the module docstring.

    Raises:
        SchemaError: no ``item_id`` column, or an unreadable file (naming it).
    """
    with input_errors(file):
        df = raw.lazy().collect()
    require_item_id(df.columns, file)
    if C.ROW not in df.columns:
        df = df.with_row_index(C.ROW, offset=1).with_columns(pl.col(C.ROW).cast(pl.Int64))
    data = [c for c in df.columns if c not in (C.ROW, C.PARSE_ERROR)]
    df = df.with_columns(pl.col(c).cast(pl.String) for c in data)
    stripped = df.with_columns(
        pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0)
        .then(pl.col(c).str.strip_chars())
        .alias(c)
        for c in data
    )
    item = pl.col(C.ITEM_ID)
    first_row = pl.col(C.ROW).first().over(C.ITEM_ID)
    reason = (
        pl.when(item.is_null())
        .then(pl.lit(MISSING_VALUE))
        .when(item.str.contains("\ufffd", literal=True))
        .then(pl.lit(ENCODING))
        .when(first_row != pl.col(C.ROW))
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(None, pl.String))
    )
    detail = (
        pl.when(reason == MISSING_VALUE)
        .then(pl.lit("item_id is missing or empty"))
        .when(reason == ENCODING)
        .then(pl.lit("item_id has bytes that are not valid UTF-8 (shown as U+FFFD)"))
        .otherwise(pl.format("item_id repeats source_row {}", first_row))
    )
    marked = stripped.with_columns(reason.alias(C.REASON), detail.alias(C.DETAIL))
    bad = marked[C.REASON].is_not_null()
    quarantine = pl.concat(
        [df.filter(bad).select(C.ROW, *data), marked.filter(bad).select(C.REASON, C.DETAIL)],
        how="horizontal",
    )
    catalog = marked.filter(~bad).select(data)
    counts = dict(quarantine.group_by(C.REASON).len().iter_rows())
    report = {
        "file": None if file is None else str(file),
        "input_rows": df.height,
        "output_rows": catalog.height,
        "rows_per_reason": {r: int(counts.get(r, 0)) for r in (MISSING_VALUE, ENCODING, DUPLICATE)},
    }
    return CatalogResult(catalog, quarantine, report)
