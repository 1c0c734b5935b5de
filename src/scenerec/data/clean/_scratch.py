"""Scratch columns shared by the cleaning stages, and the frame of rejected rows they return.

These columns live only inside ``clean_events``; none of them reaches its output.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from scenerec.schema import C

POS: Final = "__pos"
COLUMN: Final = "__column"
TS_TEXT: Final = "__timestamp_text"
TS_NUM: Final = "__timestamp_number"  # a numeric timestamp as written (in the file's unit)
TS_BAND: Final = "__timestamp_band"  # the unit that number's magnitude suggests
SUGGEST: Final = "__suggestion"  # the closest known behaviour to an unknown one


def typed_name(column: str) -> str:
    """Scratch name of a column's typed value (the original text keeps the schema name)."""
    return f"__typed_{column}"


def rejected_rows(
    ev: pl.DataFrame, mask: pl.Series | pl.Expr, reason: str, detail: pl.Expr
) -> pl.DataFrame:
    """(position, reason, detail) of the rows of ``ev`` selected by ``mask``."""
    # rechunk: pl.format panicked (polars 2.1, "i < self.len()") on filtered frames whose string
    # columns had more chunks than the others.
    return (
        ev.filter(mask)
        .rechunk()
        .select(POS, pl.lit(reason).alias(C.REASON), detail.cast(pl.String).alias(C.DETAIL))
    )
