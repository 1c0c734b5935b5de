"""Events entering the online layer: validation of what callers send, and the training state's
events as a table (to replay them into another model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from scenerec.errors import SchemaError
from scenerec.models.state import TrainState
from scenerec.schema import EVENT_SCHEMA, REQUIRED_EVENT_COLUMNS, C

EventsLike = pl.DataFrame | Sequence[Mapping[str, Any]]


def to_events(events: EventsLike, *, source: str = "events") -> pl.DataFrame:
    """Typed events (schema columns, extra columns kept: e.g. catalog text of new items) from a
    table or a list of records.

    Raises:
        SchemaError: a missing column, or a row with an empty id, scenario or behaviour or a
            timestamp that is not whole seconds; names the row (1-based) and the field.
    """
    frame = events if isinstance(events, pl.DataFrame) else _records(events, source)
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{source} lack column(s) {missing}",
            fix=f"give every event the fields {list(REQUIRED_EVENT_COLUMNS)}",
        )
    schema = frame.schema
    casts = [c for c, t in EVENT_SCHEMA.items() if c in schema and schema[c] != t]
    typed = frame
    if casts:
        try:
            typed = frame.with_columns(pl.col(c).cast(EVENT_SCHEMA[c], strict=True) for c in casts)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            _raise_first_bad(frame, source)
            raise
    for col in REQUIRED_EVENT_COLUMNS:
        row = _first_empty(typed[col])
        if row is not None:
            raise SchemaError(
                f"{source}: {col} is empty", row=row, column=col, fix=f"give every event a {col}"
            )
    return typed


def _first_empty(values: pl.Series) -> int | None:
    """1-based row of the first null (or blank text) value, or ``None``."""
    if values.dtype != pl.String:
        return None if not values.null_count() else int(values.is_null().arg_true()[0]) + 1
    if len(values) <= 256:  # small batches: plain Python is faster than a polars expression
        return next(
            (r + 1 for r, v in enumerate(values.to_list()) if v is None or not v.strip()), None
        )
    bad = values.is_null() | (values.str.strip_chars() == "")
    return int(bad.arg_true()[0]) + 1 if bad.any() else None


def _records(records: Sequence[Mapping[str, Any]], source: str) -> pl.DataFrame:
    if not records:
        return pl.DataFrame(schema={c: EVENT_SCHEMA[c] for c in REQUIRED_EVENT_COLUMNS})
    try:
        return pl.DataFrame([dict(r) for r in records], infer_schema_length=None)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise SchemaError(
            f"{source}: not a list of event records ({exc})",
            fix="send one mapping per event with the schema fields",
        ) from None


def _raise_first_bad(frame: pl.DataFrame, source: str) -> None:
    """The first row whose value does not cast to its column's type."""
    for col, dtype in EVENT_SCHEMA.items():
        if col not in frame.columns:
            continue
        cast = frame[col].cast(dtype, strict=False)
        bad = cast.is_null() & frame[col].is_not_null()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"{source}: {col} is not a {dtype}",
                row=row + 1,
                column=col,
                value=frame[col][row],
                fix="timestamps are whole seconds since 1970 (UTC)"
                if col == C.TIMESTAMP
                else f"send {col} as {dtype}",
            )


def state_events(state: TrainState, keep: npt.NDArray[np.bool_] | None = None) -> pl.DataFrame:
    """The training state's events (compacted) as typed raw events (``user_id``, ``item_id``,
    ``scenario``, ``behavior``, ``timestamp``, ``query``) in time order; only those where
    ``keep`` (over the compacted histories' events) is True when given."""
    h = state.histories
    sel = np.ones(h.n_events, bool) if keep is None else keep
    order = np.argsort(h.timestamp[sel], kind="stable")
    v = state.vocabularies
    q = h.query_idx[sel][order]
    queries = np.array([*h.queries, None], dtype=object)
    return pl.DataFrame(
        {
            C.USER_ID: v["users"].to_ids(h.owners()[sel][order]),
            C.ITEM_ID: v["items"].to_ids(h.item_idx[sel][order]),
            C.SCENARIO: v["scenarios"].to_ids(h.scenario_idx[sel][order]),
            C.BEHAVIOR: v["behaviors"].to_ids(h.behavior_idx[sel][order]),
            C.TIMESTAMP: pl.Series(h.timestamp[sel][order], dtype=pl.Int64),
            C.QUERY: pl.Series(
                queries[np.where(q >= 0, q, len(h.queries))].tolist(), dtype=pl.String
            ),
        }
    )


__all__ = ["EventsLike", "state_events", "to_events"]
