"""Column names, the behaviour vocabulary, id types and the schema version.

Every column name used anywhere in scenerec comes from here. Raw ids (``user_id``) and dense
indices (``user_idx``) are different names and different types and never share a signature.
"""

from __future__ import annotations

from typing import Final, NewType

import numpy as np
import numpy.typing as npt
import polars as pl

SCHEMA_VERSION: Final = 1

# Raw ids as they appear in the user's data, and the dense indices models work on.
UserId = NewType("UserId", str)
ItemId = NewType("ItemId", str)
ScenarioName = NewType("ScenarioName", str)
IdxArray = npt.NDArray[np.int64]
FloatMatrix = npt.NDArray[np.float32]


class Columns:
    """Column-name constants for events, catalog and users tables."""

    USER_ID: Final = "user_id"
    ITEM_ID: Final = "item_id"
    SCENARIO: Final = "scenario"
    BEHAVIOR: Final = "behavior"
    TIMESTAMP: Final = "timestamp"
    VALUE: Final = "value"
    QUERY: Final = "query"

    USER_IDX: Final = "user_idx"
    ITEM_IDX: Final = "item_idx"
    SCENARIO_IDX: Final = "scenario_idx"
    WEIGHT: Final = "weight"

    TITLE: Final = "title"
    DESCRIPTION: Final = "description"
    CATEGORY: Final = "category"
    BRAND: Final = "brand"

    # Bookkeeping added by readers and the cleaner.
    ROW: Final = "source_row"  # 1-based data row number in the source file (header excluded)
    PARSE_ERROR: Final = "parse_error"  # why a JSON Lines line could not be read (else null)
    REASON: Final = "reason"
    DETAIL: Final = "detail"


C = Columns

REQUIRED_EVENT_COLUMNS: Final = (C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP)
OPTIONAL_EVENT_COLUMNS: Final = (C.VALUE, C.QUERY)
EVENT_COLUMNS: Final = REQUIRED_EVENT_COLUMNS + OPTIONAL_EVENT_COLUMNS

EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    C.USER_ID: pl.String(),
    C.ITEM_ID: pl.String(),
    C.SCENARIO: pl.String(),
    C.BEHAVIOR: pl.String(),
    C.TIMESTAMP: pl.Int64(),
    C.VALUE: pl.Float64(),
    C.QUERY: pl.String(),
}

CATALOG_TEXT_COLUMNS: Final = (C.TITLE, C.CATEGORY, C.BRAND, C.DESCRIPTION)

# Default behaviour weights: how much one event of each kind says about interest.
# Configurable per experiment (see config.BehaviorWeights).
DEFAULT_BEHAVIOR_WEIGHTS: Final[dict[str, float]] = {
    "view": 1.0,
    "click": 2.0,
    "search": 1.0,
    "rate": 3.0,
    "like": 3.0,
    "cart": 4.0,
    "purchase": 5.0,
}

DEFAULT_SCENARIO: Final = "default"
