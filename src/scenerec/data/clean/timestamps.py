"""Timestamps: parsing (Unix numbers or ISO-8601), the unit of a file's numbers, conversion.

Numeric timestamps may be seconds, milliseconds, microseconds or nanoseconds. A file's unit is
set by ``CleaningConfig.timestamp_unit`` or detected from the median numeric value (each unit has
its band of magnitudes: the present day is about 1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns); the
decision is reported. ISO-8601 timestamps carry their own unit and are converted directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from scenerec.data.clean._scratch import TS_NUM, TS_TEXT
from scenerec.schema import C

UNIT_FACTORS: Final[dict[str, int]] = {
    "s": 1,
    "ms": 1_000,
    "us": 1_000_000,
    "ns": 1_000_000_000,
}
UNIT_NAMES: Final[dict[str, str]] = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
}
# Upper bound (exclusive) of |value| for each unit: 1e11 s is the year 5138.
_BANDS: Final = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))


@dataclass(frozen=True)
class UnitDecision:
    """The unit of a file's numeric timestamps and why.

    Attributes:
        unit: ``s``, ``ms``, ``us`` or ``ns``.
        detected: whether it was detected (``timestamp_unit="auto"``) rather than set.
        median: median numeric timestamp as written (None without numeric timestamps).
        numeric: how many rows hold a numeric timestamp.
    """

    unit: str
    detected: bool
    median: float | None
    numeric: int

    @property
    def note(self) -> str:
        """One sentence for reports and the command line."""
        name = UNIT_NAMES[self.unit]
        if not self.numeric:
            return "no numeric timestamps"
        if not self.detected:
            return f"numeric timestamps in {name} (set by timestamp_unit)"
        converted = ", converted to seconds" if self.unit != "s" else ""
        return f"numeric timestamps in {name} (detected: median {self.median:.4g}){converted}"


def unit_of(value: float) -> str:
    """The unit whose band holds ``|value|``."""
    v = abs(value)
    return next((unit for bound, unit in _BANDS if v < bound), "ns")


def band(expr: pl.Expr) -> pl.Expr:
    """The unit whose band holds each value (null for null)."""
    v = expr.abs()
    return (
        pl.when(expr.is_null())
        .then(pl.lit(None, pl.String))
        .when(v < _BANDS[0][0])
        .then(pl.lit("s"))
        .when(v < _BANDS[1][0])
        .then(pl.lit("ms"))
        .when(v < _BANDS[2][0])
        .then(pl.lit("us"))
        .otherwise(pl.lit("ns"))
    )


def decide_unit(lf: pl.LazyFrame, setting: str) -> UnitDecision:
    """The unit of ``lf``'s numeric timestamps (column ``TS_NUM``), set or detected."""
    stats = lf.select(
        pl.col(TS_NUM).median().alias("median"), pl.col(TS_NUM).count().alias("n")
    ).collect(engine="streaming")
    median, n = stats["median"].item(), int(stats["n"].item())
    median = None if median is None else float(median)
    if setting != "auto":
        return UnitDecision(setting, False, median, n)
    return UnitDecision("s" if median is None else unit_of(median), True, median, n)


def _whole_float(expr: pl.Expr) -> pl.Expr:
    """A float that is a whole number (``978300760.0``) as Int64, else null."""
    ok = expr.is_finite() & (expr == expr.floor()) & (expr.abs() < 2.0**63)
    return pl.when(ok).then(expr).cast(pl.Int64, strict=False)


def numeric_timestamp(dtype: pl.DataType) -> pl.Expr:
    """The timestamp as a whole number in the file's unit (Int64); null when not a number."""
    col = pl.col(C.TIMESTAMP)
    if dtype.is_integer():
        return col.cast(pl.Int64, strict=False)
    if dtype.is_float():
        return _whole_float(col)
    if dtype != pl.String:
        return pl.lit(None, pl.Int64)
    text = pl.col(TS_TEXT)
    as_int = text.cast(pl.Int64, strict=False)
    # Only rows that are not plain integers pay for the float attempt.
    return pl.coalesce(
        as_int, _whole_float(pl.when(as_int.is_null()).then(text).cast(pl.Float64, strict=False))
    )


def iso_timestamp(dtype: pl.DataType) -> pl.Expr:
    """Int64 Unix seconds from a datetime, a date or ISO-8601 text; null otherwise."""
    col = pl.col(C.TIMESTAMP)
    if isinstance(dtype, pl.Datetime):
        return col.dt.epoch("s")
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.epoch("s")
    if dtype != pl.String:
        return pl.lit(None, pl.Int64)
    src = (
        pl.when(pl.col(TS_NUM).is_null())
        .then(pl.col(TS_TEXT))
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
    )
    # %.f takes an optional fraction, %#z an offset with or without minutes; exact match only.
    iso = [
        src.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC").dt.epoch("s")
        for fmt in (
            "%Y-%m-%dT%H:%M:%S%.f%#z",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M%#z",
            "%Y-%m-%dT%H:%M",
        )
    ]
    date = src.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.epoch("s")
    return pl.coalesce(*iso, date)


def to_seconds(unit: str) -> pl.Expr:
    """``TS_NUM`` converted from ``unit`` to whole seconds (floored)."""
    return pl.col(TS_NUM) // UNIT_FACTORS[unit]
