"""Row-level rules: type each raw row and give it the first row-level reason that rejects it.

Each row is judged alone, lazily, on the streaming engine (rules 1-7 of ``scenerec.data.clean``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import polars as pl

from scenerec.data.clean._scratch import COLUMN, POS, TS_TEXT, typed_name
from scenerec.data.clean.config import (
    BAD_TIMESTAMP,
    BAD_VALUE,
    ENCODING,
    FIXES,
    MISSING_VALUE,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
    CleaningConfig,
)
from scenerec.errors import SchemaError
from scenerec.schema import EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS, C

_REPLACEMENT_CHAR: Final = "\ufffd"


def _text(column: str, dtype: pl.DataType) -> pl.Expr:
    """The column as stripped text, empty -> null."""
    expr = pl.col(column)
    if dtype != pl.String:
        expr = expr.cast(pl.String)
    expr = expr.str.strip_chars()
    return pl.when(expr.str.len_bytes() > 0).then(expr)


def _parse_timestamp(dtype: pl.DataType) -> pl.Expr:
    """Int64 Unix seconds from the original timestamp column; null when unparseable."""
    col = pl.col(C.TIMESTAMP)
    if dtype.is_integer():
        return col.cast(pl.Int64, strict=False)
    if isinstance(dtype, pl.Datetime):
        return col.dt.epoch("s")
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.epoch("s")
    if dtype.is_float():
        return _whole_float(col)
    text = pl.col(TS_TEXT)
    as_int = text.cast(pl.Int64, strict=False)
    # Only rows that are not plain integers pay for the float and ISO attempts (nulls are free).
    rest = pl.when(as_int.is_null()).then(text)
    as_float = rest.cast(pl.Float64, strict=False)
    iso_src = (
        pl.when(as_float.is_null())
        .then(rest)
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
    )
    # %.f takes an optional fraction, %#z an offset with or without minutes; exact match only.
    iso = [
        iso_src.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC").dt.epoch("s")
        for fmt in (
            "%Y-%m-%dT%H:%M:%S%.f%#z",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M%#z",
            "%Y-%m-%dT%H:%M",
        )
    ]
    date = iso_src.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.epoch("s")
    return pl.coalesce(as_int, _whole_float(as_float), *iso, date)


def _whole_float(expr: pl.Expr) -> pl.Expr:
    """A float that is a whole number of seconds (``978300760.0``) as Int64, else null."""
    ok = expr.is_finite() & (expr == expr.floor()) & (expr.abs() < 2.0**53)
    return pl.when(ok).then(expr).cast(pl.Int64)


def _parse_value(dtype: pl.DataType) -> pl.Expr:
    """Float64 value; null when absent or unparseable (the bad_value rule tells them apart)."""
    if dtype.is_numeric():
        return pl.col(C.VALUE).cast(pl.Float64)
    return _text(C.VALUE, dtype).cast(pl.Float64, strict=False)


def _first_match(rules: Sequence[tuple[pl.Expr, str]]) -> pl.Expr:
    """``when(c1).then(lit(v1)).when(c2)...``: the value of the first true condition, else null."""
    cond, value = rules[0]
    chain = pl.when(cond).then(pl.lit(value))
    for cond, value in rules[1:]:
        chain = chain.when(cond).then(pl.lit(value))  # type: ignore[assignment]
    return chain.otherwise(pl.lit(None, pl.String))


def _row_rules(
    schema: pl.Schema, config: CleaningConfig, catalog_ids: pl.Series | None
) -> list[tuple[pl.Expr, str, str]]:
    """(condition, reason, column) for every row-level check, in rule order."""
    rules: list[tuple[pl.Expr, str, str]] = []
    for col in REQUIRED_EVENT_COLUMNS:
        name = TS_TEXT if col == C.TIMESTAMP else typed_name(col)
        rules.append((pl.col(name).is_null(), MISSING_VALUE, col))
    for col in EVENT_COLUMNS:
        if schema[col] == pl.String:
            rules.append((pl.col(col).str.contains(_REPLACEMENT_CHAR, literal=True), ENCODING, col))
    rules.append((pl.col(typed_name(C.TIMESTAMP)).is_null(), BAD_TIMESTAMP, C.TIMESTAMP))
    value = pl.col(typed_name(C.VALUE))
    not_number = _text(C.VALUE, schema[C.VALUE]).is_not_null() & ~value.is_finite().fill_null(False)
    rules.append((not_number, BAD_VALUE, C.VALUE))
    if config.value_range is not None:
        lo, hi = config.value_range
        rules.append((~value.is_between(lo, hi).fill_null(True), BAD_VALUE, C.VALUE))
    ts = pl.col(typed_name(C.TIMESTAMP))
    if config.min_timestamp is not None:
        rules.append((ts < config.min_timestamp, TIMESTAMP_OUT_OF_RANGE, C.TIMESTAMP))
    if config.max_timestamp is not None:
        rules.append((ts > config.max_timestamp, TIMESTAMP_OUT_OF_RANGE, C.TIMESTAMP))
    if config.allowed_behaviors is not None:
        allowed = pl.Series(list(config.allowed_behaviors), dtype=pl.String).implode()
        rules.append((~pl.col(typed_name(C.BEHAVIOR)).is_in(allowed), UNKNOWN_BEHAVIOR, C.BEHAVIOR))
    if catalog_ids is not None:
        rules.append(
            (~pl.col(typed_name(C.ITEM_ID)).is_in(catalog_ids.implode()), UNKNOWN_ITEM, C.ITEM_ID)
        )
    return rules


def _row_details(config: CleaningConfig) -> pl.Expr:
    """Problem sentence (without the value) for rows with a row-level reason and column."""
    reason, column = pl.col(C.REASON), pl.col(COLUMN)
    lo_hi = "" if config.value_range is None else f" {list(config.value_range)}"
    bounds = f"[{config.min_timestamp}, {config.max_timestamp}]".replace("None", "unbounded")
    allowed = list(config.allowed_behaviors or ())
    return (
        pl.when(reason == MISSING_VALUE)
        .then(pl.format("{} is missing or empty", column))
        .when(reason == ENCODING)
        .then(pl.format("{} has bytes that are not valid UTF-8 (shown as U+FFFD)", column))
        .when(reason == BAD_TIMESTAMP)
        .then(pl.lit("timestamp is neither whole Unix seconds nor ISO-8601"))
        .when((reason == BAD_VALUE) & pl.col(typed_name(C.VALUE)).is_finite().fill_null(False))
        .then(pl.lit(f"value is outside value_range{lo_hi}"))
        .when(reason == BAD_VALUE)
        .then(pl.lit("value is not a finite number"))
        .when(reason == TIMESTAMP_OUT_OF_RANGE)
        .then(pl.lit(f"timestamp is outside {bounds} (Unix seconds)"))
        .when(reason == UNKNOWN_BEHAVIOR)
        .then(pl.lit(f"behavior is not in allowed_behaviors {allowed}"))
        .when(reason == UNKNOWN_ITEM)
        .then(pl.lit("item_id is not in the catalog"))
        .otherwise(pl.lit(None, pl.String))
    )


def _bad_value_text() -> pl.Expr:
    """The original text of the column a row-level rule blamed."""
    chain = pl.when(pl.col(COLUMN) == EVENT_COLUMNS[0]).then(pl.col(EVENT_COLUMNS[0]))
    for col in EVENT_COLUMNS[1:]:
        chain = chain.when(pl.col(COLUMN) == col).then(pl.col(col))  # type: ignore[assignment]
    return chain.otherwise(pl.lit(None, pl.String))


# ---------------------------------------------------------------------------------- input
def _prepare(events: pl.LazyFrame | pl.DataFrame, file: str | Path | None) -> pl.LazyFrame:
    """Schema columns only (absent optional ones as null text), with ``source_row`` and a
    position column; raises SchemaError for missing required columns."""
    lf = events.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in names]
    if missing:
        raise SchemaError(
            f"events lack required column(s) {missing}; found {names}",
            file=file,
            column=missing[0],
            fix="read the file with scenerec.data.io.scan_events and a column mapping",
        )
    lf = lf.with_row_index(POS)
    if C.ROW in names:
        # Non-integer row numbers become null and are reported by _check_rows.
        lf = lf.with_columns(pl.col(C.ROW).cast(pl.Int64, strict=False))
    else:
        lf = lf.with_columns((pl.col(POS).cast(pl.Int64) + 1).alias(C.ROW))
    absent = [pl.lit(None, pl.String).alias(c) for c in EVENT_COLUMNS if c not in names]
    return lf.with_columns(absent).select(POS, C.ROW, *EVENT_COLUMNS)


def catalog_item_ids(catalog: pl.DataFrame, file: str | Path | None) -> pl.Series:
    """The catalog's item ids, normalised like event item ids (stripped, non-empty)."""
    if C.ITEM_ID not in catalog.columns:
        raise SchemaError(
            f"catalog has no {C.ITEM_ID!r} column; found {catalog.columns}",
            file=file,
            column=C.ITEM_ID,
            fix="read it with scenerec.data.io.read_catalog and a column mapping",
        )
    ids = catalog.select(_text(C.ITEM_ID, catalog.schema[C.ITEM_ID]))
    return ids.to_series().drop_nulls().unique().sort()


def _check_rows(df: pl.DataFrame, file: str | Path | None) -> None:
    """source_row must identify rows, or conservation cannot be checked by anyone."""
    rows = df[C.ROW]
    if rows.null_count() or rows.n_unique() != rows.len():
        dup = df.filter(rows.is_duplicated() | rows.is_null())[C.ROW].head(1).to_list()
        raise SchemaError(
            "source_row does not identify rows (null or repeated)",
            file=file,
            column=C.ROW,
            value=dup[0] if dup else None,
            fix="drop the source_row column to number rows 1..n, or make it unique",
        )


def row_level(
    events: pl.LazyFrame | pl.DataFrame,
    config: CleaningConfig,
    catalog_ids: pl.Series | None,
    file: str | Path | None,
) -> pl.DataFrame:
    """Every input row with its original text (schema names), typed values (``typed_name`` names),
    position, and the first row-level reason and column (null when the row passed)."""
    lf = _prepare(events, file)
    schema = lf.collect_schema()
    typed = [
        _text(c, schema[c]).alias(typed_name(c))
        for c in (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.QUERY)
    ]
    behavior = _text(C.BEHAVIOR, schema[C.BEHAVIOR]).str.to_lowercase()
    lf = lf.with_columns(
        *typed,
        behavior.alias(typed_name(C.BEHAVIOR)),
        _parse_value(schema[C.VALUE]).alias(typed_name(C.VALUE)),
        _text(C.TIMESTAMP, schema[C.TIMESTAMP]).alias(TS_TEXT),
    )
    lf = lf.with_columns(_parse_timestamp(schema[C.TIMESTAMP]).alias(typed_name(C.TIMESTAMP)))
    rules = _row_rules(schema, config, catalog_ids)
    lf = lf.with_columns(
        _first_match([(cond, reason) for cond, reason, _ in rules]).alias(C.REASON),
        _first_match([(cond, col) for cond, _, col in rules]).alias(COLUMN),
        # The quarantine shows the original values, as text.
        *[pl.col(c).cast(pl.String) for c in EVENT_COLUMNS],
    ).drop(TS_TEXT)
    df = lf.collect(engine="streaming")
    if not df[POS].is_sorted():
        # Positions must equal row numbers of df (the quarantine gathers by them).
        df = df.sort(POS)
    _check_rows(df, file)
    return df


def row_rejects(df: pl.DataFrame, config: CleaningConfig, file: str | Path | None) -> pl.DataFrame:
    """(position, reason, detail) of the rows a row-level rule rejected; under ``strict`` the
    one with the smallest source_row raises instead."""
    bad = df.filter(pl.col(C.REASON).is_not_null()).rechunk()
    bad = bad.with_columns(_row_details(config).alias(C.DETAIL))
    if config.strict and not bad.is_empty():
        first = bad.sort(C.ROW).row(0, named=True)
        column = first[COLUMN]
        raise SchemaError(
            first[C.DETAIL],
            file=file,
            row=first[C.ROW],
            column=column,
            value=first[column],
            fix=FIXES[first[C.REASON]],
        )
    got = (
        pl.when(pl.col(C.REASON) == MISSING_VALUE)
        .then(pl.lit(""))
        .otherwise(pl.format(" (got '{}')", _bad_value_text()))
    )
    return bad.select(POS, C.REASON, (pl.col(C.DETAIL) + got).alias(C.DETAIL))
