"""Raw-event builders and checks shared by the cleaning tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from scenerec.data.clean import CleaningConfig, CleaningResult
from scenerec.schema import EVENT_COLUMNS, EVENT_SCHEMA, C

# Small frames would never reach the default bot thresholds; tests that are not about bots
# turn detection off so that what they check cannot be confused with it.
NO_BOTS = CleaningConfig(bot_detection=False)
EVENT_OUTPUT_SCHEMA = pl.Schema([(C.ROW, pl.Int64()), *EVENT_SCHEMA.items()])


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Raw text events (what scan_events yields for a CSV), source_row 1..n."""
    cols = {c: [r.get(c) for r in rows] for c in EVENT_COLUMNS}
    return (
        pl.DataFrame(cols, schema=dict.fromkeys(EVENT_COLUMNS, pl.String))
        .with_row_index(C.ROW, offset=1)
        .with_columns(pl.col(C.ROW).cast(pl.Int64))
    )


def ev(
    user: str | None = "u1", item: str = "i1", ts: str | None = "100", **kw: Any
) -> dict[str, Any]:
    row = {C.USER_ID: user, C.ITEM_ID: item, C.SCENARIO: "app", C.BEHAVIOR: "view"}
    row[C.TIMESTAMP] = ts
    row.update(kw)
    return row


def reason_of(result: CleaningResult, row: int) -> str | None:
    q = result.quarantine.filter(pl.col(C.ROW) == row)
    return None if q.is_empty() else q[C.REASON].item()


def detail_of(result: CleaningResult, row: int) -> str:
    return str(result.quarantine.filter(pl.col(C.ROW) == row)[C.DETAIL].item())


def assert_conserved(raw: pl.DataFrame, result: CleaningResult) -> None:
    kept = result.events[C.ROW].to_list()
    quarantined = result.quarantine[C.ROW].to_list()
    assert not set(kept) & set(quarantined)
    assert sorted(kept + quarantined) == sorted(raw[C.ROW].to_list())
