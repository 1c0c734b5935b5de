"""Reading events and catalogs lazily, and telling which is which from the columns."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final, Literal

import polars as pl

from scenerec.data.io.formats import detect_format, is_table_file
from scenerec.data.io.jsonl import json_lines_keys, read_json_lines
from scenerec.errors import SchemaError
from scenerec.schema import EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS, C

TableKind = Literal["events", "catalog", "other"]
_BOOKKEEPING: Final = (C.ROW, C.PARSE_ERROR)


def polars_problem(exc: BaseException) -> str:
    """The informative sentence of a polars error, on one line."""
    text = str(exc)
    if "Original error:" in text:
        text = text.split("Original error:", 1)[1]
    text = re.sub(r"\s+", " ", text.replace("`", "")).strip()
    return text if len(text) <= 200 else text[:200] + "..."


@contextlib.contextmanager
def input_errors(file: str | Path | None) -> Iterator[None]:
    """Turn a polars read error into a ``SchemaError`` naming the file (never an internal
    error for what is a problem of the input)."""
    try:
        yield
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"cannot read the file: {polars_problem(exc)}",
            file=file,
            fix="check the format (--format, --sep) and that the file is whole",
        ) from None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise SchemaError("file not found", file=path, fix="check the path")
    if path.is_dir():
        raise SchemaError("is a directory, expected a file", file=path)
    if path.stat().st_size == 0:
        raise SchemaError("the file is empty", file=path, fix="pass a file with a header and rows")


def scan_table(
    path: str | Path,
    *,
    format: str | None = None,
    separator: str | None = None,
    as_text: bool = True,
) -> pl.LazyFrame:
    """Lazily read a table, adding a 1-based ``source_row`` column.

    CSV, TSV and JSON Lines may be compressed (``.gz``, ``.zst``). JSON Lines is read line by
    line (``scenerec.data.io.jsonl``): a bad line yields a row whose ``parse_error`` says why.

    Args:
        path: the file.
        format: csv, tsv, parquet or jsonl; from the suffix when omitted.
        separator: CSV field separator; ``,`` for csv and a tab for tsv by default.
        as_text: read every CSV column as text (typing is the cleaner's job).

    Returns:
        A LazyFrame with the file's own column names plus ``source_row`` (the line number for
        JSON Lines) and, for JSON Lines, ``parse_error``.

    Raises:
        SchemaError: missing, empty or unreadable file, or unknown format (naming the file).
    """
    p = Path(path)
    _check_exists(p)
    fmt = detect_format(p, format)
    if fmt == "jsonl":
        return read_json_lines(p).lazy()
    if fmt in ("csv", "tsv"):
        lf = pl.scan_csv(
            p,
            separator=separator or ("\t" if fmt == "tsv" else ","),
            infer_schema=not as_text,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            quote_char='"',
        )
    else:
        lf = pl.scan_parquet(p)
    with input_errors(p):
        lf.collect_schema()
    return lf.with_row_index(C.ROW, offset=1).with_columns(pl.col(C.ROW).cast(pl.Int64))


def data_columns(lf: pl.LazyFrame) -> list[str]:
    """The file's own columns (without ``source_row`` and ``parse_error``)."""
    return [n for n in lf.collect_schema().names() if n not in _BOOKKEEPING]


def table_kind(columns: list[str]) -> TableKind:
    """``events`` (user and item ids), ``catalog`` (item ids, no users) or ``other``."""
    if C.USER_ID in columns and C.ITEM_ID in columns:
        return "events"
    return "catalog" if C.ITEM_ID in columns else "other"


def kind_of_file(path: str | Path, *, format: str | None = None) -> TableKind:
    """What a file holds, from its column names (JSON Lines: the keys of the first lines)."""
    if detect_format(path, format) == "jsonl":
        _check_exists(Path(path))
        return table_kind(json_lines_keys(path))
    return table_kind(data_columns(scan_table(path, format=format)))


def find_tables(folder: str | Path) -> tuple[Path, Path | None]:
    """The events file and the catalog file (if any) of a folder, told apart by their columns.

    Raises:
        SchemaError: not exactly one events file, or several catalogs (naming the files).
    """
    p = Path(folder)
    found: dict[TableKind, list[Path]] = {"events": [], "catalog": [], "other": []}
    for f in sorted(p.iterdir()):
        if is_table_file(f) and not f.name.startswith("."):
            found[kind_of_file(f)].append(f)
    events, catalogs = found["events"], found["catalog"]
    if len(events) != 1 or len(catalogs) > 1:
        names = {k: [f.name for f in v] for k, v in found.items() if v}
        raise SchemaError(
            f"expected one events file (user_id, item_id, ... columns) and at most one catalog "
            f"(item_id, title, ...), found {names or 'no table files'}",
            file=p,
            fix="pass the events file itself, with --catalog for the catalog",
        )
    return events[0], catalogs[0] if catalogs else None


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


def require_item_id(columns: list[str], file: str | Path | None) -> None:
    """Raise the one error for a catalog without an ``item_id`` column."""
    if C.ITEM_ID not in columns:
        raise SchemaError(
            f"catalog has no {C.ITEM_ID!r} column; found "
            f"{[n for n in columns if n not in _BOOKKEEPING]}",
            file=file,
            column=C.ITEM_ID,
            fix="rename the item id column to item_id, or map it (--map theirs=item_id where the "
            "catalog is the main input, --catalog-map with --catalog)",
        )


def _first_parse_error(lf: pl.LazyFrame, file: str | Path) -> SchemaError | None:
    if C.PARSE_ERROR not in lf.collect_schema().names():
        return None
    bad = lf.filter(pl.col(C.PARSE_ERROR).is_not_null()).head(1).collect()
    if bad.is_empty():
        return None
    return SchemaError(
        bad[C.PARSE_ERROR].item(),
        file=file,
        row=bad[C.ROW].item(),
        fix="write one JSON object per line",
    )


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

    Columns other than the schema's are dropped (``source_row`` and ``parse_error`` are kept).
    A missing ``scenario`` or ``behavior`` column is filled with the given default when one is
    given.

    Raises:
        SchemaError: a required column is missing (the message lists the columns found and, for a
            CSV read as one column, suggests the right delimiter; for a catalog, says so).
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
        data_cols = [n for n in names if n not in _BOOKKEEPING]
        if not data_cols and (err := _first_parse_error(lf, path)) is not None:
            raise err
        hint = "map your column names with --map theirs=ours, or add the column"
        if table_kind(data_cols) == "catalog":
            hint = "this looks like an item catalog: pass it with --catalog"
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
    keep = [n for n in _BOOKKEEPING if n in names] + [c for c in EVENT_COLUMNS if c in names]
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

    Raises:
        SchemaError: no ``item_id`` column, an unreadable file, or a JSON Lines line that is not
            a JSON object (naming the line).
    """
    lf = apply_mapping(scan_table(path, format=format, separator=separator), mapping, file=path)
    names = lf.collect_schema().names()
    if (err := _first_parse_error(lf, path)) is not None:
        raise err
    require_item_id(names, path)
    with input_errors(path):
        df = lf.drop([n for n in _BOOKKEEPING if n in names]).collect()
    df = df.with_columns(pl.col(c).cast(pl.String) for c in df.columns)
    return df.filter(pl.col(C.ITEM_ID).is_not_null()).unique(
        C.ITEM_ID, keep="first", maintain_order=True
    )
