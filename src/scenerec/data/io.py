"""Read events and catalogs from CSV/TSV, Parquet and JSON Lines; write Parquet.

Readers are lazy (polars ``LazyFrame``) so a file larger than memory can be cleaned with the
streaming engine. Event columns are read as text and typed by the cleaner, so that a bad value
in one row is quarantined with a reason instead of failing the whole file. A column mapping
renames the user's columns to scenerec's (``{"uid": "user_id", ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import polars as pl

from scenerec.errors import SchemaError
from scenerec.schema import EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS, C

Format = Literal["csv", "tsv", "parquet", "jsonl"]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path: str | Path, format: str | None = None) -> Format:
    """The file format, from ``format`` if given, else from the file suffix."""
    if format is not None:
        if format not in ("csv", "tsv", "parquet", "jsonl"):
            raise SchemaError(
                f"unknown format {format!r}", file=path, fix="use csv, tsv, parquet or jsonl"
            )
        return format  # type: ignore[return-value]
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise SchemaError(
            f"cannot tell the format from the suffix {suffix!r}",
            file=path,
            fix="pass --format csv|tsv|parquet|jsonl",
        )
    return _SUFFIXES[suffix]


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise SchemaError("file not found", file=path, fix="check the path")
    if path.is_dir():
        raise SchemaError("is a directory, expected a file", file=path)


def scan_table(
    path: str | Path,
    *,
    format: str | None = None,
    separator: str | None = None,
    as_text: bool = True,
) -> pl.LazyFrame:
    """Lazily read a table, adding a 1-based ``source_row`` column.

    Args:
        path: the file.
        format: csv, tsv, parquet or jsonl; from the suffix when omitted.
        separator: CSV field separator; ``,`` for csv and a tab for tsv by default.
        as_text: read every CSV column as text (typing is the cleaner's job).

    Returns:
        A LazyFrame with the file's own column names plus ``source_row``.
    """
    p = Path(path)
    _check_exists(p)
    fmt = detect_format(p, format)
    if fmt in ("csv", "tsv"):
        sep = separator or ("\t" if fmt == "tsv" else ",")
        lf = pl.scan_csv(
            p,
            separator=sep,
            infer_schema=not as_text,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            quote_char='"',
        )
    elif fmt == "parquet":
        lf = pl.scan_parquet(p)
    else:
        lf = pl.scan_ndjson(p, infer_schema_length=10_000)
    return lf.with_row_index(C.ROW, offset=1).with_columns(pl.col(C.ROW).cast(pl.Int64))


def apply_mapping(
    lf: pl.LazyFrame, mapping: Mapping[str, str] | None, *, file: str | Path | None = None
) -> pl.LazyFrame:
    """Rename the user's columns to scenerec's; the mapping is ``{their_name: our_name}``."""
    if not mapping:
        return lf
    names = lf.collect_schema().names()
    missing = [src for src in mapping if src not in names]
    if missing:
        raise SchemaError(
            f"column mapping names columns that are not in the file: {missing}; "
            f"the file has {names}",
            file=file,
            fix="correct the mapping (their_name=our_name)",
        )
    return lf.rename(dict(mapping))


def scan_events(
    path: str | Path,
    *,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    separator: str | None = None,
    default_scenario: str | None = None,
    default_behavior: str | None = None,
) -> pl.LazyFrame:
    """Lazily read an events file and check its columns.

    Columns other than the schema's are dropped (the source row is kept). A missing
    ``scenario`` or ``behavior`` column is filled with the given default when one is given.

    Raises:
        SchemaError: a required column is missing (the message lists the columns found and, for a
            CSV read as one column, suggests the right delimiter).
    """
    lf = apply_mapping(scan_table(path, format=format, separator=separator), mapping, file=path)
    names = lf.collect_schema().names()
    fills = {C.SCENARIO: default_scenario, C.BEHAVIOR: default_behavior}
    for col, default in fills.items():
        if col not in names and default is not None:
            lf = lf.with_columns(pl.lit(default).alias(col))
            names.append(col)
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in names]
    if missing:
        data_cols = [n for n in names if n != C.ROW]
        hint = "map your column names with --map theirs=ours, or add the column"
        if len(data_cols) == 1:
            guess = next((s for s in ("\t", ";", "|", ",") if s in data_cols[0]), None)
            if guess is not None:
                hint = f"the file looks delimited by {guess!r}: pass --sep {guess!r}"
        raise SchemaError(
            f"missing required column(s) {missing}; found {data_cols}",
            file=path,
            column=missing[0],
            fix=hint,
        )
    keep = [C.ROW] + [c for c in EVENT_COLUMNS if c in names]
    return lf.select(keep)


def read_catalog(
    path: str | Path,
    *,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    separator: str | None = None,
) -> pl.DataFrame:
    """Read an item catalog: ``item_id`` plus optional text columns, one row per item.

    Every column is read as text. Duplicate item ids keep their first row.
    """
    lf = apply_mapping(scan_table(path, format=format, separator=separator), mapping, file=path)
    names = lf.collect_schema().names()
    if C.ITEM_ID not in names:
        raise SchemaError(
            f"catalog has no {C.ITEM_ID!r} column; found {[n for n in names if n != C.ROW]}",
            file=path,
            column=C.ITEM_ID,
            fix="map your item id column with --catalog-map theirs=item_id",
        )
    df = lf.drop(C.ROW).collect()
    df = df.with_columns(pl.col(c).cast(pl.String) for c in df.columns)
    return df.filter(pl.col(C.ITEM_ID).is_not_null()).unique(
        C.ITEM_ID, keep="first", maintain_order=True
    )


def write_table(df: pl.DataFrame | pl.LazyFrame, path: str | Path) -> Path:
    """Write a table as Parquet (or CSV/JSONL by suffix), creating the parent folder.

    A LazyFrame is streamed to disk without being collected where the format allows.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fmt = detect_format(p)
    tmp = p.with_name(p.name + ".tmp")
    if isinstance(df, pl.LazyFrame):
        if fmt == "parquet":
            df.sink_parquet(tmp)
            tmp.replace(p)
            return p
        df = df.collect()
    if fmt == "parquet":
        df.write_parquet(tmp)
    elif fmt in ("csv", "tsv"):
        df.write_csv(tmp, separator="\t" if fmt == "tsv" else ",")
    else:
        df.write_ndjson(tmp)
    tmp.replace(p)
    return p
