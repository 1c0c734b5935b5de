"""A catalog cleaned on its own: one row per item id, rejected rows quarantined with a reason."""

from __future__ import annotations

import polars as pl

from scenerec.data.clean import DUPLICATE, MISSING_VALUE, clean_catalog
from scenerec.schema import C


def test_missing_and_repeated_item_ids_are_quarantined() -> None:
    raw = pl.DataFrame(
        {C.ITEM_ID: ["i1", " ", "i2", "i1"], C.TITLE: [" Boots ", "x", "", "Boots again"]}
    )
    res = clean_catalog(raw, file="items.csv")
    assert res.catalog.to_dicts() == [
        {C.ITEM_ID: "i1", C.TITLE: "Boots"},
        {C.ITEM_ID: "i2", C.TITLE: None},
    ]
    assert res.quarantine[C.ROW].to_list() == [2, 4]
    assert res.quarantine[C.REASON].to_list() == [MISSING_VALUE, DUPLICATE]
    assert "repeats source_row 1" in res.quarantine[C.DETAIL][1]
    assert res.report["rows_per_reason"][DUPLICATE] == 1 and res.report["output_rows"] == 2
