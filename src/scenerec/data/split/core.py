"""The ``Split`` container and what every split method shares: input checks, the leak count,
and cutting a table into parts by a per-row part code."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from scenerec.errors import DataWarning, SchemaError, UnknownEntityError
from scenerec.schema import C

if TYPE_CHECKING:
    from scenerec.data.dataset import Dataset

logger = logging.getLogger(__name__)

KEY: Final = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP)
ROW_COL: Final = "__split_row"  # private helper columns, removed before returning
PART_COL: Final = "__split_part"
TRAIN, VALID, TEST, DROP = 0, 1, 2, -1


@dataclass(frozen=True)
class Split:
    """The parts of one split.

    Attributes:
        train: events a model may fit on.
        valid: events for model selection, or ``None``.
        test: events to evaluate on.
        name: e.g. ``"leave_last_out[app]"``.
        info: how it was made (method, arguments) and its sizes (``n_train``, ``n_valid``,
            ``n_test``, ``n_dropped``, ``n_test_users``, ``test_keys_in_train``).
    """

    train: pl.DataFrame
    valid: pl.DataFrame | None
    test: pl.DataFrame
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def train_dataset(self, full: Dataset) -> Dataset:
        """The training part as a Dataset with ``full``'s vocabularies, so indices agree."""
        return full.subset(self.train, name=f"{full.name}:{self.name}:train")

    def __repr__(self) -> str:
        nv = "-" if self.valid is None else self.valid.height
        return (
            f"Split({self.name!r}: train={self.train.height}, valid={nv}, test={self.test.height})"
        )


# --------------------------------------------------------------------------------- checks
def check_events(events: pl.DataFrame, arg: str = "events") -> None:
    """Columns present, timestamps integer, no null keys: what a cleaned table guarantees."""
    fix = "clean the events first (scenerec.data.clean)"
    missing = [c for c in KEY if c not in events.columns]
    if missing:
        raise SchemaError(
            f"{arg} lacks column(s) {missing}; found {events.columns}", column=missing[0], fix=fix
        )
    if not events.schema[C.TIMESTAMP].is_integer():
        raise SchemaError(
            f"{arg}: timestamps must be integer seconds",
            column=C.TIMESTAMP,
            value=str(events.schema[C.TIMESTAMP]),
            fix=fix,
        )
    for col in KEY:
        n_null = events[col].null_count()
        if n_null:
            first = int(np.flatnonzero(events[col].is_null().to_numpy())[0])
            row = events[C.ROW][first] if C.ROW in events.columns else first + 1
            raise SchemaError(
                f"{arg} has {n_null} null value(s) in a key column",
                row=int(row),
                column=col,
                fix=fix,
            )


def check_scenario(events: pl.DataFrame, scenario: str) -> None:
    present = events[C.SCENARIO].unique().sort().to_list()
    if scenario not in present:
        raise UnknownEntityError(
            "scenario", scenario, fix=f"the events have scenarios {present}; choose one of them"
        )


def _leaks(train: pl.DataFrame, test: pl.DataFrame) -> int:
    """Test events whose (user, item, scenario, timestamp) also occurs in train."""
    if train.is_empty() or test.is_empty():
        return 0
    keys = train.select(KEY).unique()
    return test.select(KEY).join(keys, on=list(KEY), how="semi").height


def finish(
    events: pl.DataFrame,
    part: pl.Series,
    *,
    name: str,
    info: dict[str, Any],
    with_valid: bool,
) -> Split:
    """Cut ``events`` by a per-row part code (train/valid/test/dropped) into a Split."""
    tagged = events.with_columns(part.alias(PART_COL))
    train, valid, test = (
        tagged.filter(pl.col(PART_COL) == code).drop(PART_COL) for code in (TRAIN, VALID, TEST)
    )
    leaks = _leaks(train, test)
    info = {
        **info,
        "n_train": train.height,
        "n_valid": valid.height if with_valid else None,
        "n_test": test.height,
        "n_dropped": int((part == DROP).sum()),
        "n_test_users": test[C.USER_ID].n_unique(),
        "test_keys_in_train": leaks,
    }
    if leaks:
        warnings.warn(
            f"split {name}: {leaks} test event(s) share (user, item, scenario, timestamp) with "
            "a training event; deduplicate the events (scenerec.data.clean) or split by time",
            DataWarning,
            stacklevel=3,
        )
    if test.is_empty():
        warnings.warn(f"split {name}: the test part is empty", DataWarning, stacklevel=3)
    logger.info(
        "split %s: train=%d valid=%s test=%d dropped=%d",
        name,
        info["n_train"],
        info["n_valid"],
        info["n_test"],
        info["n_dropped"],
    )
    return Split(train=train, valid=valid if with_valid else None, test=test, name=name, info=info)
