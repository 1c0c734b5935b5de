"""Writing tables: Parquet, CSV/TSV or JSON Lines by suffix, atomically."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from scenerec.data.io.files import atomic_path
from scenerec.data.io.formats import compression_of, detect_format
from scenerec.errors import SchemaError


def write_table(df: pl.DataFrame | pl.LazyFrame, path: str | Path) -> Path:
    """Write a table as Parquet (or CSV/TSV/JSONL by suffix), creating the parent folder.

    The file appears whole or not at all (written beside it, then renamed). A LazyFrame is
    streamed to disk without being collected where the format allows.

    Raises:
        SchemaError: an unknown or compressed suffix (outputs are written uncompressed).
    """
    p = Path(path)
    fmt = detect_format(p)
    if compression_of(p) is not None:
        raise SchemaError(
            "outputs are not compressed", file=p, fix="name the output .parquet, .csv or .jsonl"
        )
    with atomic_path(p) as tmp:
        if isinstance(df, pl.LazyFrame):
            if fmt == "parquet":
                df.sink_parquet(tmp)
                return p
            df = df.collect()
        if fmt == "parquet":
            df.write_parquet(tmp)
        elif fmt in ("csv", "tsv"):
            df.write_csv(tmp, separator="\t" if fmt == "tsv" else ",")
        else:
            df.write_ndjson(tmp)
    return p
