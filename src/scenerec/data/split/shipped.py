"""``predefined``: the train / test (/ valid) frames a data release ships, as a ``Split``."""

from __future__ import annotations

import numpy as np
import polars as pl

from scenerec.data.split.core import TEST, TRAIN, VALID, Split, check_events, finish
from scenerec.errors import SchemaError


def predefined(
    train: pl.DataFrame,
    test: pl.DataFrame,
    valid: pl.DataFrame | None = None,
    *,
    name: str = "predefined",
) -> Split:
    """Wrap the train / test (/ valid) frames a data release ships.

    The frames are checked like any split input and must have the same columns; leakage
    between train and test is counted and warned about, not repaired.
    """
    parts = {"train": train, "test": test} | ({} if valid is None else {"valid": valid})
    for arg, frame in parts.items():
        check_events(frame, arg)
        if set(frame.columns) != set(train.columns):
            raise SchemaError(
                f"predefined: {arg} has columns {frame.columns} but train has {train.columns}",
                fix="give every part the same columns",
            )
    frames = [train.select(train.columns), test.select(train.columns)]
    codes = [np.full(train.height, TRAIN), np.full(test.height, TEST)]
    if valid is not None:
        frames.append(valid.select(train.columns))
        codes.append(np.full(valid.height, VALID))
    events = pl.concat(frames, how="vertical_relaxed")
    info = {"method": "predefined"}
    return finish(
        events,
        pl.Series(np.concatenate(codes).astype(np.int64)),
        name=name,
        info=info,
        with_valid=valid is not None,
    )
