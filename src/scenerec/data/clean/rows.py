"""Row-level rules: type each raw row and give it the first row-level reason that rejects it.

Each row is judged alone, lazily, on the streaming engine (rules 1-7 of ``scenerec.data.clean``).
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Final

import polars as pl

from scenerec.data.clean._scratch import (
    COLUMN,
    POS,
    SUGGEST,
    TS_BAND,
    TS_NUM,
    TS_TEXT,
    typed_name,
)
from scenerec.data.clean.config import (
    BAD_LINE,
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
from scenerec.data.clean.timestamps import (
    UNIT_NAMES,
    UnitDecision,
    band,
    decide_unit,
    iso_timestamp,
    numeric_timestamp,
    to_seconds,
)
from scenerec.data.io import input_errors, require_item_id
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
    schema: pl.Schema, config: CleaningConfig, catalog_ids: pl.Series | None, unit: UnitDecision
) -> list[tuple[pl.Expr, str, str]]:
    """(condition, reason, column) for every row-level check, in rule order."""
    rules: list[tuple[pl.Expr, str, str]] = [
        (pl.col(C.PARSE_ERROR).is_not_null(), BAD_LINE, C.PARSE_ERROR)
    ]
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
    if unit.detected:
        other_unit = pl.col(TS_BAND).is_not_null() & (pl.col(TS_BAND) != unit.unit)
        rules.append((other_unit, TIMESTAMP_OUT_OF_RANGE, C.TIMESTAMP))
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


def _row_details(config: CleaningConfig, unit: UnitDecision) -> pl.Expr:
    """Problem sentence (without the value) for rows with a row-level reason and column."""
    reason, column = pl.col(C.REASON), pl.col(COLUMN)
    lo_hi = "" if config.value_range is None else f" {list(config.value_range)}"
    bounds = f"[{config.min_timestamp}, {config.max_timestamp}]".replace("None", "unbounded")
    allowed = list(config.allowed_behaviors or ())
    known = allowed if len(allowed) <= 12 else f"{len(allowed)} names"
    closest = pl.format(" (closest known: '{}')", pl.col(SUGGEST)).fill_null("")
    unit_name = UNIT_NAMES[unit.unit]
    band_name = pl.col(TS_BAND).replace_strict(UNIT_NAMES, default=None, return_dtype=pl.String)
    return (
        pl.when(reason == BAD_LINE)
        .then(pl.col(C.PARSE_ERROR))
        .when(reason == MISSING_VALUE)
        .then(pl.format("{} is missing or empty", column))
        .when(reason == ENCODING)
        .then(pl.format("{} has bytes that are not valid UTF-8 (shown as U+FFFD)", column))
        .when(reason == BAD_TIMESTAMP)
        .then(pl.lit("timestamp is neither a whole Unix time (s, ms, us or ns) nor ISO-8601"))
        .when((reason == BAD_VALUE) & pl.col(typed_name(C.VALUE)).is_finite().fill_null(False))
        .then(pl.lit(f"value is outside value_range{lo_hi}"))
        .when(reason == BAD_VALUE)
        .then(pl.lit("value is not a finite number"))
        .when((reason == TIMESTAMP_OUT_OF_RANGE) & (pl.col(TS_BAND) != unit.unit).fill_null(False))
        .then(
            pl.format(
                f"timestamp looks like {{}} but this file's timestamps are in {unit_name}",
                band_name,
            )
        )
        .when(reason == TIMESTAMP_OUT_OF_RANGE)
        .then(
            pl.format(
                f"timestamp is {{}} s after conversion, outside {bounds} (Unix seconds)",
                pl.col(typed_name(C.TIMESTAMP)),
            )
        )
        .when(reason == UNKNOWN_BEHAVIOR)
        .then(pl.format(f"behavior is not a known behaviour {known}{{}}", closest))
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
    absent = [
        pl.lit(None, pl.String).alias(c) for c in (*EVENT_COLUMNS, C.PARSE_ERROR) if c not in names
    ]
    return lf.with_columns(absent).select(POS, C.ROW, *EVENT_COLUMNS, C.PARSE_ERROR)


def catalog_item_ids(catalog: pl.DataFrame, file: str | Path | None) -> pl.Series:
    """The catalog's item ids, normalised like event item ids (stripped, non-empty)."""
    require_item_id(catalog.columns, file)
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
) -> tuple[pl.DataFrame, UnitDecision]:
    """Every input row with its original text (schema names), typed values (``typed_name`` names),
    position, and the first row-level reason and column (null when the row passed); and the
    unit of the numeric timestamps."""
    lf = _prepare(events, file)
    schema = lf.collect_schema()
    typed = [
        _text(c, schema[c]).alias(typed_name(c))
        for c in (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.QUERY)
    ]
    behavior = _text(C.BEHAVIOR, schema[C.BEHAVIOR]).str.to_lowercase()
    ts_type = schema[C.TIMESTAMP]
    lf = lf.with_columns(
        *typed,
        behavior.alias(typed_name(C.BEHAVIOR)),
        _parse_value(schema[C.VALUE]).alias(typed_name(C.VALUE)),
        _text(C.TIMESTAMP, ts_type).alias(TS_TEXT),
    ).with_columns(numeric_timestamp(ts_type).alias(TS_NUM))
    with input_errors(file):
        unit = decide_unit(lf, config.timestamp_unit)
        seconds = pl.coalesce(to_seconds(unit.unit), iso_timestamp(ts_type))
        lf = lf.with_columns(
            seconds.alias(typed_name(C.TIMESTAMP)), band(pl.col(TS_NUM)).alias(TS_BAND)
        )
        rules = _row_rules(schema, config, catalog_ids, unit)
        lf = lf.with_columns(
            _first_match([(cond, reason) for cond, reason, _ in rules]).alias(C.REASON),
            _first_match([(cond, col) for cond, _, col in rules]).alias(COLUMN),
            # The quarantine shows the original values, as text.
            *[pl.col(c).cast(pl.String) for c in EVENT_COLUMNS],
        ).drop(TS_TEXT, TS_NUM)
        df = lf.collect(engine="streaming")
    if not df[POS].is_sorted():
        # Positions must equal row numbers of df (the quarantine gathers by them).
        df = df.sort(POS)
    _check_rows(df, file)
    return df, unit


def _suggestions(bad: pl.DataFrame, config: CleaningConfig) -> pl.DataFrame:
    """``SUGGEST``: the closest known behaviour to each unknown one (null when none is close)."""
    allowed = list(config.allowed_behaviors or ())
    beh = pl.col(typed_name(C.BEHAVIOR))
    unknown = bad.filter(pl.col(C.REASON) == UNKNOWN_BEHAVIOR)[typed_name(C.BEHAVIOR)]
    close = {u: next(iter(get_close_matches(u, allowed, n=1)), None) for u in unknown.unique()}
    return bad.with_columns(
        beh.replace_strict(close, default=None, return_dtype=pl.String).alias(SUGGEST)
    )


def row_rejects(
    df: pl.DataFrame, config: CleaningConfig, file: str | Path | None, unit: UnitDecision
) -> pl.DataFrame:
    """(position, reason, detail) of the rows a row-level rule rejected; under ``strict`` the
    one with the smallest source_row raises instead."""
    bad = _suggestions(df.filter(pl.col(C.REASON).is_not_null()).rechunk(), config)
    bad = bad.with_columns(_row_details(config, unit).alias(C.DETAIL))
    if config.strict and not bad.is_empty():
        first = bad.sort(C.ROW).row(0, named=True)
        column = first[COLUMN]
        fix = FIXES[first[C.REASON]]
        if first[SUGGEST] is not None:
            fix = f"did you mean {first[SUGGEST]!r}? {fix[0].upper()}{fix[1:]}"
        parse = column == C.PARSE_ERROR
        raise SchemaError(
            first[C.DETAIL],
            file=file,
            row=first[C.ROW],
            column=None if parse else column,
            value=None if parse else first[column],
            fix=fix,
        )
    got = (
        pl.when(pl.col(C.REASON).is_in([MISSING_VALUE, BAD_LINE]))
        .then(pl.lit(""))
        .otherwise(pl.format(" (got '{}')", _bad_value_text()))
    )
    return bad.select(POS, C.REASON, (pl.col(C.DETAIL) + got).alias(C.DETAIL))
