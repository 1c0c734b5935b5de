"""Cleaning: type raw events, reject noise and outliers, quarantine every rejected row.

``clean_events`` turns the text columns that ``scenerec.data.io.scan_events`` returns into typed
events (``scenerec.schema.EVENT_SCHEMA``) and sends every row it rejects to a quarantine table with
one reason code and a sentence naming the column and the bad value. Nothing is dropped silently:
every input ``source_row`` ends in exactly one of ``events`` and ``quarantine``.

Rules run in this fixed order; a row gets the code of the first rule that rejects it.

Row-level rules (each row judged alone, lazily, streamed):

1. ``missing_value``: ``user_id``, ``item_id``, ``scenario``, ``behavior`` or ``timestamp`` is
   null or empty after stripping whitespace (e.g. a truncated last line).
2. ``encoding``: some field holds U+FFFD, the character a lossy UTF-8 reader puts where bytes
   were not valid UTF-8. It runs before the parsing rules because a mangled timestamp is an
   encoding problem, not a timestamp problem.
3. ``bad_timestamp``: the timestamp is neither whole Unix seconds (``978300760``, also written
   ``978300760.0``) nor ISO-8601 (``2024-01-02T03:04:05Z``, ``2024-01-02 03:04:05+02:00``,
   ``2024-01-02T03:04``, ``2024-01-02``; fractions of a second are floored; no offset means UTC).
   Accepted ISO values are converted to int64 seconds UTC.
4. ``bad_value``: ``value`` is present but not a finite number, or outside ``value_range``.
5. ``timestamp_out_of_range``: outside ``[min_timestamp, max_timestamp]``.
6. ``unknown_behavior``: ``behavior`` not in ``allowed_behaviors`` (when that is set).
7. ``unknown_item``: ``item_id`` not in the catalog (when ``unknown_items="quarantine"``).

Global rules (judged against other rows, in memory, on the rows the row-level rules kept):

8. ``duplicate``: same ``user_id, item_id, scenario, behavior, timestamp, value, query`` as an
   earlier row (input order); the first is kept.
9. ``near_duplicate``: same ``user_id, item_id, scenario, behavior`` as the group's previous
   event (by timestamp, ties by input order) at most ``near_duplicate_window_s`` seconds
   earlier. The gap is measured to the previous event, kept or not, so a burst of repeats
   keeps only its first event.
10. ``bot``: every event of a user whose rate is an outlier (see ``CleaningConfig``).
11. ``kcore``: events of users (items) with fewer than ``kcore_users`` (``kcore_items``) events.

Bot detection and k-core alternate until neither removes anything (k-core itself iterates to its
fixed point, bot detection re-estimates its cut-off after removing outliers until it flags nobody
new). That fixed point is what makes cleaning idempotent: cleaning the cleaned events again finds
the same statistics and removes nothing. An event removed by k-core in one pass keeps the code
``kcore`` even if its user is flagged as a bot in a later pass.

Timestamps are taken as seconds; when kept timestamps look like milliseconds (after the year
5000) and ``max_timestamp`` is unset, a ``DataWarning`` says so.

Row-level values are normalised: ids, scenario, behaviour and query are stripped of surrounding
whitespace, behaviour is lower-cased, an empty query becomes null. The quarantine keeps the
original values as text.

Memory: the row-level rules run on a ``LazyFrame`` collected with the streaming engine, but the
collected frame holds each row's original text and typed values (about twice the in-memory size of
the parsed file), and the global rules work on the valid typed rows in memory.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import polars as pl
from pydantic import field_validator, model_validator

from scenerec.config import FrozenConfig
from scenerec.data.io import write_table
from scenerec.errors import ConfigError, DataWarning, SchemaError
from scenerec.schema import EVENT_COLUMNS, EVENT_SCHEMA, REQUIRED_EVENT_COLUMNS, C

if TYPE_CHECKING:
    from rich.table import Table

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------- reason codes
MISSING_VALUE: Final = "missing_value"
"""A required field (user_id, item_id, scenario, behavior, timestamp) is null or empty."""
ENCODING: Final = "encoding"
"""A field holds U+FFFD: the file had bytes that are not valid UTF-8."""
BAD_TIMESTAMP: Final = "bad_timestamp"
"""The timestamp is neither whole Unix seconds nor ISO-8601."""
BAD_VALUE: Final = "bad_value"
"""``value`` is not a finite number or lies outside ``value_range``."""
TIMESTAMP_OUT_OF_RANGE: Final = "timestamp_out_of_range"
"""The timestamp lies outside ``[min_timestamp, max_timestamp]``."""
UNKNOWN_BEHAVIOR: Final = "unknown_behavior"
"""The behaviour is not in ``allowed_behaviors``."""
UNKNOWN_ITEM: Final = "unknown_item"
"""The item is not in the catalog (only with ``unknown_items="quarantine"``)."""
DUPLICATE: Final = "duplicate"
"""An exact copy of an earlier row (all event columns equal)."""
NEAR_DUPLICATE: Final = "near_duplicate"
"""A repeat of the same user, item, scenario and behaviour within the near-duplicate window."""
BOT: Final = "bot"
"""An event of a user whose event rate is an outlier."""
KCORE: Final = "kcore"
"""An event of a user or item with too few events for the k-core."""

ROW_LEVEL_REASONS: Final = (
    MISSING_VALUE,
    ENCODING,
    BAD_TIMESTAMP,
    BAD_VALUE,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_BEHAVIOR,
    UNKNOWN_ITEM,
)
GLOBAL_REASONS: Final = (DUPLICATE, NEAR_DUPLICATE, BOT, KCORE)
REASONS: Final = ROW_LEVEL_REASONS + GLOBAL_REASONS
"""Every reason code, in the order the rules run."""

_FIXES: Final[dict[str, str]] = {
    MISSING_VALUE: "fill the field in every row or remove the row",
    ENCODING: "re-save the file as UTF-8",
    BAD_TIMESTAMP: "write whole Unix seconds or ISO-8601 such as 2024-01-02T03:04:05Z",
    BAD_VALUE: "write a finite number inside value_range, or leave value empty",
    TIMESTAMP_OUT_OF_RANGE: (
        "check the time unit (seconds, not milliseconds) or widen min_timestamp/max_timestamp"
    ),
    UNKNOWN_BEHAVIOR: "add the behaviour to allowed_behaviors or map it to a known one",
    UNKNOWN_ITEM: "add the item to the catalog or set unknown_items='keep'",
}

# The scale of log event rates never drops below this (natural-log units), so that a population
# of near-identical users (MAD close to 0) does not make a slight excess look extreme.
_MIN_LOG_SCALE: Final = 0.25
# Makes the MAD a consistent estimator of the standard deviation for normal data.
_MAD_TO_SD: Final = 1.4826
_REPLACEMENT_CHAR: Final = "\ufffd"
# Unix seconds above this are after the year 5000: almost surely milliseconds.
_MS_SUSPECT: Final = 100_000_000_000

# Scratch columns that live only inside clean_events (never in its output).
_POS: Final = "__pos"
_COLUMN: Final = "__column"
_TS_TEXT: Final = "__timestamp_text"


def _typed(column: str) -> str:
    """Scratch name of a column's typed value (the original text keeps the schema name)."""
    return f"__typed_{column}"


# ---------------------------------------------------------------------------------- config
class CleaningConfig(FrozenConfig):
    """What ``clean_events`` rejects.

    Attributes:
        unknown_items: ``"keep"`` events of items missing from the catalog (they become
            id-only items) or ``"quarantine"`` them as ``unknown_item``; needs a catalog.
        near_duplicate_window_s: an event repeating the same user, item, scenario and behaviour
            at most this many seconds after the previous one is a ``near_duplicate``; 0 = off.
        min_timestamp: earliest accepted timestamp (Unix seconds, inclusive); None = no bound.
            The default 0 rejects pre-1970 times, which usually mean a wrong unit or a sentinel.
        max_timestamp: latest accepted timestamp (inclusive); None = no upper bound. There is no
            "now"-relative default because cleaning must not depend on the day it runs.
        allowed_behaviors: behaviours to accept (compared lower-case); None = any.
        value_range: inclusive ``(low, high)`` bounds for ``value``; None = any finite number.
        bot_detection: flag users whose event rate is an outlier as bots.
        bot_min_events: only users with at least this many events are judged (rates of users
            with few events say little).
        bot_min_users: the robust z-score rule needs at least this many judged users (a median
            and MAD of a handful of users are noise); ``bot_max_events_per_minute`` applies
            regardless.
        bot_mad_z: robust z cut-off. The statistic is ``x = ln(events / active minutes)`` per
            judged user, where active minutes are the distinct ``timestamp // 60`` values. With
            ``m = median(x)`` and ``MAD = median(|x - m|)`` over judged users, a user is a bot
            when ``(x - m) / max(1.4826 * MAD, 0.25) > bot_mad_z``. Flagged users are removed
            and the cut-off re-estimated until nobody new is flagged.
        bot_max_events_per_minute: also flag judged users whose events per active minute exceed
            this absolute rate; None = no absolute cap.
        kcore_users: keep only users with at least this many events (0 = off).
        kcore_items: keep only items with at least this many events (0 = off).
        kcore_scope: ``"global"`` counts events over all scenarios; ``"scenario"`` counts them per
            (user, scenario) and (item, scenario) and drops a user's or item's events only in the
            scenarios where it falls short.
        strict: raise ``SchemaError`` on the first row (smallest ``source_row``) that a row-level
            rule rejects, instead of quarantining it. Global rules still quarantine.
    """

    unknown_items: Literal["keep", "quarantine"] = "keep"
    near_duplicate_window_s: int = 0
    min_timestamp: int | None = 0
    max_timestamp: int | None = None
    allowed_behaviors: tuple[str, ...] | None = None
    value_range: tuple[float, float] | None = None
    bot_detection: bool = True
    bot_min_events: int = 50
    bot_min_users: int = 20
    bot_mad_z: float = 8.0
    bot_max_events_per_minute: float | None = None
    kcore_users: int = 0
    kcore_items: int = 0
    kcore_scope: Literal["global", "scenario"] = "global"
    strict: bool = False

    @field_validator("allowed_behaviors")
    @classmethod
    def _normalise_behaviors(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        # Behaviours are compared after the same normalisation the events get.
        if v is None:
            return None
        out = tuple(dict.fromkeys(b.strip().lower() for b in v))
        if not out or "" in out:
            raise ValueError("allowed_behaviors must list non-empty names (or be null for any)")
        return out

    @model_validator(mode="after")
    def _check(self) -> CleaningConfig:
        if self.near_duplicate_window_s < 0:
            raise ValueError("near_duplicate_window_s must be >= 0 (0 turns it off)")
        if (
            self.min_timestamp is not None
            and self.max_timestamp is not None
            and self.min_timestamp > self.max_timestamp
        ):
            raise ValueError(
                f"min_timestamp {self.min_timestamp} is after max_timestamp {self.max_timestamp}"
            )
        if self.value_range is not None:
            lo, hi = self.value_range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(
                    f"value_range must be finite (low, high) with low <= high: {lo, hi}"
                )
        if self.bot_min_events < 1 or self.bot_min_users < 1:
            raise ValueError("bot_min_events and bot_min_users must be >= 1")
        if not self.bot_mad_z > 0:
            raise ValueError(f"bot_mad_z must be > 0 (got {self.bot_mad_z})")
        if self.bot_max_events_per_minute is not None and not self.bot_max_events_per_minute > 0:
            raise ValueError("bot_max_events_per_minute must be > 0 or null")
        if self.kcore_users < 0 or self.kcore_items < 0:
            raise ValueError("kcore_users and kcore_items must be >= 0 (0 turns them off)")
        return self


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class BotReport:
    """What bot detection measured on the final (cleaned) population.

    Attributes:
        enabled: whether bot detection ran.
        judged_users: users with at least ``bot_min_events`` events in the cleaned events.
        median_log_rate: median of ``ln(events per active minute)`` over judged users; None
            when the z rule did not run (detection off or fewer than ``bot_min_users``).
        mad_log_rate: median absolute deviation of that statistic; None as above.
        scale: ``max(1.4826 * MAD, 0.25)``; None as above.
        cutoff_events_per_minute: rate above which a judged user is flagged by the z rule,
            ``exp(median + bot_mad_z * scale)``; None as above.
        max_events_per_minute: the absolute cap used, if any.
        flagged_users: flagged user ids, sorted.
        passes: estimate-and-flag passes over all bot/k-core rounds.
    """

    enabled: bool
    judged_users: int = 0
    median_log_rate: float | None = None
    mad_log_rate: float | None = None
    scale: float | None = None
    cutoff_events_per_minute: float | None = None
    max_events_per_minute: float | None = None
    flagged_users: tuple[str, ...] = ()
    passes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types only)."""
        return {
            "enabled": self.enabled,
            "judged_users": self.judged_users,
            "median_log_rate": self.median_log_rate,
            "mad_log_rate": self.mad_log_rate,
            "scale": self.scale,
            "cutoff_events_per_minute": self.cutoff_events_per_minute,
            "max_events_per_minute": self.max_events_per_minute,
            "flagged_users": list(self.flagged_users),
            "passes": self.passes,
        }


@dataclass(frozen=True)
class CleaningReport:
    """Counts and thresholds of one cleaning run.

    Attributes:
        file: the source file, when given.
        input_rows: rows in.
        output_rows: rows kept in ``events``.
        rows_per_reason: quarantined rows per reason code, every code present, in rule order.
        bots: bot-detection statistics and flagged users.
        kcore_rounds: k-core removal rounds that removed something (all passes together).
        global_passes: bot/k-core alternations until the fixed point.
        config: the configuration used, as plain data.
    """

    file: str | None
    input_rows: int
    output_rows: int
    rows_per_reason: dict[str, int]
    bots: BotReport
    kcore_rounds: int
    global_passes: int
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def quarantined_rows(self) -> int:
        """Rows sent to the quarantine."""
        return sum(self.rows_per_reason.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types only)."""
        return {
            "file": self.file,
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "quarantined_rows": self.quarantined_rows,
            "rows_per_reason": dict(self.rows_per_reason),
            "bots": self.bots.to_dict(),
            "kcore_rounds": self.kcore_rounds,
            "global_passes": self.global_passes,
            "config": dict(self.config),
        }

    def to_table_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a two-column summary table; reasons with 0 rows omitted."""
        rows = [("input rows", f"{self.input_rows:,}"), ("kept rows", f"{self.output_rows:,}")]
        rows += [(f"quarantined: {r}", f"{n:,}") for r, n in self.rows_per_reason.items() if n]
        b = self.bots
        if b.enabled:
            rows.append(("bot: judged users", f"{b.judged_users:,}"))
            if b.cutoff_events_per_minute is not None:
                rows.append(
                    ("bot: cut-off events/active minute", f"{b.cutoff_events_per_minute:.3g}")
                )
            if b.max_events_per_minute is not None:
                rows.append(("bot: cap events/active minute", f"{b.max_events_per_minute:.3g}"))
            rows.append(("bot: flagged users", f"{len(b.flagged_users):,}"))
        if self.kcore_rounds:
            rows.append(("k-core rounds", str(self.kcore_rounds)))
        return rows

    def __rich__(self) -> Table:
        from rich.table import Table

        title = f"Cleaning {self.file}" if self.file else "Cleaning"
        table = Table(title=title, show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        for label, value in self.to_table_rows():
            table.add_row(label, value)
        return table


@dataclass(frozen=True)
class CleaningResult:
    """What ``clean_events`` returns.

    Attributes:
        events: kept events in input order: ``source_row`` (Int64) and the columns of
            ``EVENT_SCHEMA`` with its dtypes (``value``/``query`` null when absent).
        quarantine: rejected rows in input order: ``source_row``, every event column with its
            original value as text (String), ``reason`` (a code from ``REASONS``) and ``detail``
            (a sentence naming the column and the bad value).
        report: counts and thresholds.
    """

    events: pl.DataFrame
    quarantine: pl.DataFrame
    report: CleaningReport


# ---------------------------------------------------------------------------------- row level
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
    text = pl.col(_TS_TEXT)
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
        name = _TS_TEXT if col == C.TIMESTAMP else _typed(col)
        rules.append((pl.col(name).is_null(), MISSING_VALUE, col))
    for col in EVENT_COLUMNS:
        if schema[col] == pl.String:
            rules.append((pl.col(col).str.contains(_REPLACEMENT_CHAR, literal=True), ENCODING, col))
    rules.append((pl.col(_typed(C.TIMESTAMP)).is_null(), BAD_TIMESTAMP, C.TIMESTAMP))
    value = pl.col(_typed(C.VALUE))
    not_number = _text(C.VALUE, schema[C.VALUE]).is_not_null() & ~value.is_finite().fill_null(False)
    rules.append((not_number, BAD_VALUE, C.VALUE))
    if config.value_range is not None:
        lo, hi = config.value_range
        rules.append((~value.is_between(lo, hi).fill_null(True), BAD_VALUE, C.VALUE))
    ts = pl.col(_typed(C.TIMESTAMP))
    if config.min_timestamp is not None:
        rules.append((ts < config.min_timestamp, TIMESTAMP_OUT_OF_RANGE, C.TIMESTAMP))
    if config.max_timestamp is not None:
        rules.append((ts > config.max_timestamp, TIMESTAMP_OUT_OF_RANGE, C.TIMESTAMP))
    if config.allowed_behaviors is not None:
        allowed = pl.Series(list(config.allowed_behaviors), dtype=pl.String).implode()
        rules.append((~pl.col(_typed(C.BEHAVIOR)).is_in(allowed), UNKNOWN_BEHAVIOR, C.BEHAVIOR))
    if catalog_ids is not None:
        rules.append(
            (~pl.col(_typed(C.ITEM_ID)).is_in(catalog_ids.implode()), UNKNOWN_ITEM, C.ITEM_ID)
        )
    return rules


def _row_details(config: CleaningConfig) -> pl.Expr:
    """Problem sentence (without the value) for rows with a row-level reason and column."""
    reason, column = pl.col(C.REASON), pl.col(_COLUMN)
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
        .when((reason == BAD_VALUE) & pl.col(_typed(C.VALUE)).is_finite().fill_null(False))
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
    chain = pl.when(pl.col(_COLUMN) == EVENT_COLUMNS[0]).then(pl.col(EVENT_COLUMNS[0]))
    for col in EVENT_COLUMNS[1:]:
        chain = chain.when(pl.col(_COLUMN) == col).then(pl.col(col))  # type: ignore[assignment]
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
    lf = lf.with_row_index(_POS)
    if C.ROW in names:
        # Non-integer row numbers become null and are reported by _check_rows.
        lf = lf.with_columns(pl.col(C.ROW).cast(pl.Int64, strict=False))
    else:
        lf = lf.with_columns((pl.col(_POS).cast(pl.Int64) + 1).alias(C.ROW))
    absent = [pl.lit(None, pl.String).alias(c) for c in EVENT_COLUMNS if c not in names]
    return lf.with_columns(absent).select(_POS, C.ROW, *EVENT_COLUMNS)


def _catalog_ids(catalog: pl.DataFrame, file: str | Path | None) -> pl.Series:
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


# ---------------------------------------------------------------------------------- global rules
def _rejected(
    ev: pl.DataFrame, mask: pl.Series | pl.Expr, reason: str, detail: pl.Expr
) -> pl.DataFrame:
    """(position, reason, detail) of the rows of ``ev`` selected by ``mask``."""
    # rechunk: pl.format panicked (polars 2.1, "i < self.len()") on filtered frames whose string
    # columns had more chunks than the others.
    return (
        ev.filter(mask)
        .rechunk()
        .select(_POS, pl.lit(reason).alias(C.REASON), detail.cast(pl.String).alias(C.DETAIL))
    )


def _duplicates(ev: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = list(EVENT_COLUMNS)
    dup = ~ev.select(pl.struct(keys).is_first_distinct()).to_series()
    if not dup.any():
        return ev, _rejected(ev, pl.lit(False), DUPLICATE, pl.lit(""))
    # Only pay for the "duplicate of which row" lookup when there are duplicates.
    marked = ev.with_columns(pl.col(C.ROW).first().over(keys).alias("__first"))
    detail = pl.format("exact duplicate of source_row {}", pl.col("__first"))
    return ev.filter(~dup), _rejected(marked, dup, DUPLICATE, detail)


def _near_duplicates(ev: pl.DataFrame, window: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = [C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR]
    # One sort by group then time (ties by input order) puts each event right after its
    # predecessor; a window function with order_by was 8x slower on MovieLens-1M.
    same = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    by_group = ev.select(_POS, C.ROW, *keys, C.TIMESTAMP).sort([*keys, C.TIMESTAMP, _POS])
    gaps = by_group.select(
        _POS,
        pl.when(same).then(pl.col(C.TIMESTAMP) - pl.col(C.TIMESTAMP).shift(1)).alias("__gap"),
        pl.when(same).then(pl.col(C.ROW).shift(1)).alias("__prev"),
    ).sort(_POS)
    near = (gaps["__gap"] <= window).fill_null(False)
    marked = pl.concat([ev, gaps.drop(_POS)], how="horizontal")
    detail = pl.format(
        "same user_id, item_id, scenario and behavior as source_row {} only {} s earlier "
        f"(near_duplicate_window_s={window})",
        pl.col("__prev"),
        pl.col("__gap"),
    )
    return ev.filter(~near), _rejected(marked, near, NEAR_DUPLICATE, detail)


@dataclass
class _BotState:
    """Running bot statistics across passes (mutable; frozen into BotReport at the end)."""

    flagged: list[pl.DataFrame] = field(default_factory=list)
    judged: int = 0
    median: float | None = None
    mad: float | None = None
    scale: float | None = None
    cutoff: float | None = None
    passes: int = 0


def _bots(
    ev: pl.DataFrame, config: CleaningConfig, state: _BotState
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Flag users whose events per active minute are outliers; see ``CleaningConfig.bot_mad_z``."""
    stats = (
        ev.group_by(C.USER_ID)
        .agg(pl.len().alias("__n"), (pl.col(C.TIMESTAMP) // 60).n_unique().alias("__minutes"))
        .filter(pl.col("__n") >= config.bot_min_events)
        .sort(C.USER_ID)  # group_by order is arbitrary; the statistics must not depend on it
        .with_columns((pl.col("__n") / pl.col("__minutes")).alias("__rate"))
    )
    rate = stats["__rate"].to_numpy()
    x = np.log(rate)
    flagged = np.zeros(len(x), dtype=bool)
    cutoffs = np.full(len(x), np.nan)
    cap = config.bot_max_events_per_minute
    if cap is not None:
        flagged |= rate > cap
        cutoffs[flagged] = cap
    median = mad = scale = cutoff = None
    while True:
        state.passes += 1
        pop = ~flagged
        if int(pop.sum()) < config.bot_min_users:
            median = mad = scale = cutoff = None
            break
        median = float(np.median(x[pop]))
        mad = float(np.median(np.abs(x[pop] - median)))
        scale = max(_MAD_TO_SD * mad, _MIN_LOG_SCALE)
        cutoff = median + config.bot_mad_z * scale
        new = pop & (x > cutoff)
        if not new.any():
            break
        # Re-estimate without the outliers: they inflate the MAD, and the cleaned data (which is
        # what a second run sees) will not contain them.
        flagged |= new
        cutoffs[new] = math.exp(cutoff)
    state.judged = int((~flagged).sum())
    state.median, state.mad, state.scale = median, mad, scale
    state.cutoff = None if cutoff is None else math.exp(cutoff)
    users = stats.with_columns(pl.Series("__cut", cutoffs)).filter(pl.Series(flagged))
    if users.is_empty():
        return ev, _rejected(ev, pl.lit(False), BOT, pl.lit(""))
    state.flagged.append(users.select(C.USER_ID))
    marked = ev.join(users, on=C.USER_ID, how="left", maintain_order="left")
    is_bot = pl.col("__n").is_not_null()
    detail = pl.format(
        "user_id '{}' looks automated: {} events in {} active minutes ({} per minute, cut-off {})",
        pl.col(C.USER_ID),
        pl.col("__n"),
        pl.col("__minutes"),
        pl.col("__rate").round(2),
        pl.col("__cut").round(2),
    )
    rej = _rejected(marked, is_bot, BOT, detail)
    return marked.filter(~is_bot).select(ev.columns), rej


def _kcore(
    ev: pl.DataFrame, config: CleaningConfig
) -> tuple[pl.DataFrame, list[pl.DataFrame], int]:
    """Remove users/items below the k-core thresholds until none is; returns kept, rejected,
    rounds."""
    per_scenario = config.kcore_scope == "scenario"
    where = " in scenario '{}'" if per_scenario else ""
    counts: list[tuple[str, int, str]] = []
    if config.kcore_users > 0:
        counts.append((C.USER_ID, config.kcore_users, "kcore_users"))
    if config.kcore_items > 0:
        counts.append((C.ITEM_ID, config.kcore_items, "kcore_items"))
    rejected: list[pl.DataFrame] = []
    rounds = 0
    while counts and not ev.is_empty():
        exprs: list[pl.Expr] = []
        for col, _, _ in counts:
            by = [col, C.SCENARIO] if per_scenario else [col]
            exprs.append(pl.len().over(by).alias(f"__count_{col}"))
        marked = ev.with_columns(exprs)
        conds = [(pl.col(f"__count_{col}") < k) for col, k, _ in counts]
        drop = pl.any_horizontal(conds)
        if not marked.select(drop.any()).item():
            break
        rounds += 1
        detail: pl.Expr = pl.lit(None, pl.String)
        for (col, k, name), cond in reversed(list(zip(counts, conds, strict=True))):
            args = [pl.col(col), pl.col(f"__count_{col}")]
            if per_scenario:
                args.append(pl.col(C.SCENARIO))
            text = pl.format(
                f"{col} '{{}}' has {{}} events{where} (< {name}={k}, k-core round {rounds})", *args
            )
            detail = pl.when(cond).then(text).otherwise(detail)
        rejected.append(_rejected(marked, drop, KCORE, detail))
        ev = marked.filter(~drop).select(ev.columns)
    return ev, rejected, rounds


# ---------------------------------------------------------------------------------- stages
def _row_level(
    events: pl.LazyFrame | pl.DataFrame,
    config: CleaningConfig,
    catalog_ids: pl.Series | None,
    file: str | Path | None,
) -> pl.DataFrame:
    """Every input row with its original text (schema names), typed values (``_typed`` names),
    position, and the first row-level reason and column (null when the row passed)."""
    lf = _prepare(events, file)
    schema = lf.collect_schema()
    typed = [
        _text(c, schema[c]).alias(_typed(c)) for c in (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.QUERY)
    ]
    behavior = _text(C.BEHAVIOR, schema[C.BEHAVIOR]).str.to_lowercase()
    lf = lf.with_columns(
        *typed,
        behavior.alias(_typed(C.BEHAVIOR)),
        _parse_value(schema[C.VALUE]).alias(_typed(C.VALUE)),
        _text(C.TIMESTAMP, schema[C.TIMESTAMP]).alias(_TS_TEXT),
    )
    lf = lf.with_columns(_parse_timestamp(schema[C.TIMESTAMP]).alias(_typed(C.TIMESTAMP)))
    rules = _row_rules(schema, config, catalog_ids)
    lf = lf.with_columns(
        _first_match([(cond, reason) for cond, reason, _ in rules]).alias(C.REASON),
        _first_match([(cond, col) for cond, _, col in rules]).alias(_COLUMN),
        # The quarantine shows the original values, as text.
        *[pl.col(c).cast(pl.String) for c in EVENT_COLUMNS],
    ).drop(_TS_TEXT)
    df = lf.collect(engine="streaming")
    if not df[_POS].is_sorted():
        df = df.sort(
            _POS
        )  # positions must equal row numbers of df (the quarantine gathers by them)
    _check_rows(df, file)
    return df


def _row_rejects(df: pl.DataFrame, config: CleaningConfig, file: str | Path | None) -> pl.DataFrame:
    """(position, reason, detail) of the rows a row-level rule rejected; under ``strict`` the
    one with the smallest source_row raises instead."""
    bad = df.filter(pl.col(C.REASON).is_not_null()).rechunk()
    bad = bad.with_columns(_row_details(config).alias(C.DETAIL))
    if config.strict and not bad.is_empty():
        first = bad.sort(C.ROW).row(0, named=True)
        column = first[_COLUMN]
        raise SchemaError(
            first[C.DETAIL],
            file=file,
            row=first[C.ROW],
            column=column,
            value=first[column],
            fix=_FIXES[first[C.REASON]],
        )
    got = (
        pl.when(pl.col(C.REASON) == MISSING_VALUE)
        .then(pl.lit(""))
        .otherwise(pl.format(" (got '{}')", _bad_value_text()))
    )
    return bad.select(_POS, C.REASON, (pl.col(C.DETAIL) + got).alias(C.DETAIL))


def _global_rules(
    ev: pl.DataFrame, config: CleaningConfig, rejects: list[pl.DataFrame]
) -> tuple[pl.DataFrame, _BotState, int, int]:
    """Duplicates, near-duplicates, then bots and k-core alternating to their joint fixed point.

    Appends rejected rows to ``rejects``; returns kept events, bot statistics, k-core rounds
    and bot/k-core passes.
    """
    ev, rej = _duplicates(ev)
    rejects.append(rej)
    if config.near_duplicate_window_s > 0:
        ev, rej = _near_duplicates(ev, config.near_duplicate_window_s)
        rejects.append(rej)
    state = _BotState()
    kcore_rounds = passes = 0
    while True:
        passes += 1
        flagged_before = len(state.flagged)
        if config.bot_detection:
            ev, rej = _bots(ev, config, state)
            rejects.append(rej)
        # k-core was at its fixed point and bots found nobody new: nothing can change any more.
        if passes > 1 and len(state.flagged) == flagged_before:
            break
        ev, krej, rounds = _kcore(ev, config)
        rejects.extend(krej)
        kcore_rounds += rounds
        # k-core removed nothing: bots (run to their own fixed point just before) see the same data.
        if rounds == 0 or not config.bot_detection:
            break
    return ev, state, kcore_rounds, passes


# ---------------------------------------------------------------------------------- entry point
def clean_events(
    events: pl.LazyFrame | pl.DataFrame,
    *,
    config: CleaningConfig | None = None,
    catalog: pl.DataFrame | None = None,
    file: str | Path | None = None,
) -> CleaningResult:
    """Type, validate and filter raw events; quarantine every rejected row with a reason.

    Args:
        events: raw events, e.g. from ``scenerec.data.io.scan_events``: the required event
            columns as text (typed columns are accepted too: integer or datetime timestamps,
            numeric values, integer ids), optional ``value`` and ``query``, and ``source_row``
            (1-based; rows are numbered 1..n when it is absent). Other columns are ignored.
        config: the rules; ``CleaningConfig()`` when omitted.
        catalog: items with an ``item_id`` column; needed for ``unknown_items="quarantine"``.
        file: the source file, named in errors and in the report.

    Returns:
        ``CleaningResult`` with typed ``events`` and the ``quarantine``, both in input order,
        and the ``report``. See the module docstring for the rules and their order.

    Raises:
        SchemaError: a required column is missing; ``source_row`` is null or repeated; or, with
            ``config.strict``, the row with the smallest ``source_row`` that a row-level rule
            rejects (the error names the file, that row, the column and the value).
        ConfigError: ``unknown_items="quarantine"`` without a catalog.

    Warns:
        DataWarning: kept timestamps look like milliseconds (and ``max_timestamp`` is unset).
    """
    config = config or CleaningConfig()
    if config.unknown_items == "quarantine" and catalog is None:
        raise ConfigError("unknown_items='quarantine' needs a catalog (pass catalog=...)")
    catalog_ids = None
    if catalog is not None and config.unknown_items == "quarantine":
        catalog_ids = _catalog_ids(catalog, file)

    df = _row_level(events, config, catalog_ids, file)
    rejects = [_row_rejects(df, config, file)]
    ev = df.filter(pl.col(C.REASON).is_null()).select(
        _POS, C.ROW, *[pl.col(_typed(c)).cast(EVENT_SCHEMA[c]).alias(c) for c in EVENT_COLUMNS]
    )
    raw = df.select(C.ROW, *EVENT_COLUMNS)
    del df  # the typed copies of rejected rows are no longer needed
    ev, bot_state, kcore_rounds, passes = _global_rules(ev, config, rejects)

    rej_all = pl.concat(rejects, how="vertical_relaxed").sort(_POS)
    quarantine = pl.concat(
        [raw.select(pl.all().gather(rej_all[_POS])), rej_all.select(C.REASON, C.DETAIL)],
        how="horizontal",
    )
    counts = dict(rej_all.group_by(C.REASON).len().iter_rows())
    flagged: tuple[str, ...] = ()
    if bot_state.flagged:
        flagged = tuple(sorted(pl.concat(bot_state.flagged)[C.USER_ID].to_list()))
    report = CleaningReport(
        file=None if file is None else str(file),
        input_rows=raw.height,
        output_rows=ev.height,
        rows_per_reason={r: int(counts.get(r, 0)) for r in REASONS},
        bots=BotReport(
            enabled=config.bot_detection,
            judged_users=bot_state.judged,
            median_log_rate=bot_state.median,
            mad_log_rate=bot_state.mad,
            scale=bot_state.scale,
            cutoff_events_per_minute=bot_state.cutoff,
            max_events_per_minute=config.bot_max_events_per_minute,
            flagged_users=flagged,
            passes=bot_state.passes,
        ),
        kcore_rounds=kcore_rounds,
        global_passes=passes,
        config=config.to_dict(),
    )
    ts_max = ev[C.TIMESTAMP].max()
    if isinstance(ts_max, int) and ts_max > _MS_SUSPECT and config.max_timestamp is None:
        warnings.warn(
            f"{file or 'events'}: timestamps up to {ts_max} look like milliseconds, not seconds; "
            "divide them by 1000, or set max_timestamp to reject them",
            DataWarning,
            stacklevel=2,
        )
    logger.info(
        "cleaned %s: %d rows in, %d kept, %d quarantined %s",
        file or "events",
        raw.height,
        ev.height,
        report.quarantined_rows,
        {r: n for r, n in report.rows_per_reason.items() if n},
    )
    return CleaningResult(events=ev.drop(_POS), quarantine=quarantine, report=report)


def write_quarantine(result: CleaningResult, path: str | Path) -> Path:
    """Write the quarantine table as Parquet, CSV/TSV or JSONL (by the path's suffix).

    Returns:
        The path written.
    """
    return write_table(result.quarantine, path)
