"""Amazon review dumps (2014 and 2018 formats)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import load_amazon
from scenerec.errors import SchemaError
from scenerec.schema import C
from tests.data.public.helpers import assert_typed


def test_amazon_2014_python_literal_metadata_and_two_scenarios(tmp_path: Path) -> None:
    books = tmp_path / "reviews_Books_5.json.gz"
    rows = [
        {"reviewerID": "U1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1300000000},
        {"reviewerID": "U2", "asin": "B1", "overall": 3.0, "unixReviewTime": 1300000500},
    ]
    books.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    movies = tmp_path / "reviews_Movies_5.json"
    movies.write_text(
        json.dumps(
            {
                "reviewerID": "U1",
                "asin": "M1",
                "overall": 4.0,
                "unixReviewTime": 1300000100,
                "helpful": [0, 0],
            }
        )
        + "\n"
    )
    meta = tmp_path / "meta_Books.json"
    # 2014 metadata: Python dict literals (single quotes), nested category paths.
    meta.write_text(
        "{'asin': 'B1', 'title': \"Dune\", 'categories': [['Books', 'Sci-Fi'], ['Books', "
        "'Classics']], 'brand': 'Ace', 'salesRank': {'Books': 12}}\n"
        "{'asin': 'B9', 'title': 'Unreviewed'}\n"
    )
    data = load_amazon({"books": books, "movies": movies}, {"books": meta})
    assert_typed(data)
    counts = dict(data.events.group_by(C.SCENARIO).len().iter_rows())
    assert counts == {"books": 2, "movies": 1}
    u1 = data.events.filter(pl.col(C.ITEM_ID) == "M1").row(0, named=True)
    assert (u1[C.USER_ID], u1[C.VALUE], u1[C.TIMESTAMP]) == ("U1", 4.0, 1300000100)
    b1 = data.catalog.filter(pl.col(C.ITEM_ID) == "B1").row(0, named=True)
    assert b1[C.TITLE] == "Dune" and b1[C.BRAND] == "Ace"
    assert b1[C.CATEGORY] == "Books > Sci-Fi | Books > Classics"
    assert b1[C.SCENARIO] == "books"
    assert data.to_dataset().n_items == 3  # B1, M1 and the unreviewed B9


def test_amazon_2018_json_metadata_lists(tmp_path: Path) -> None:
    reviews = tmp_path / "Grocery.json"
    reviews.write_text(
        '{"overall": 5.0, "vote": "2", "reviewerID": "A", "asin": "G1", '
        '"unixReviewTime": 1500000000, "style": {"Size:": "1"}}\n'
    )
    meta = tmp_path / "meta_Grocery.json.gz"
    line = {
        "asin": "G1",
        "title": "Tea",
        "category": ["Grocery", "Beverages", "Tea"],
        "description": ["Green tea.", "Organic."],
        "brand": "Leaf",
    }
    meta.write_bytes(gzip.compress((json.dumps(line) + "\n").encode()))
    data = load_amazon({"food": reviews}, {"food": meta}, version=2018)
    row = data.catalog.row(0, named=True)
    assert row[C.CATEGORY] == "Grocery > Beverages > Tea"
    assert row[C.DESCRIPTION] == "Green tea. Organic."
    assert data.events[C.VALUE].to_list() == [5.0]


def test_amazon_ratings_csv_column_order_depends_on_version(tmp_path: Path) -> None:
    f = tmp_path / "Books.csv"
    f.write_text("ITEM1,USER1,4.0,1400000000\n")
    with pytest.raises(SchemaError, match="version"):
        load_amazon({"books": f})
    data = load_amazon({"books": f}, version=2018)
    assert data.events.select(C.USER_ID, C.ITEM_ID).row(0) == ("USER1", "ITEM1")
    assert load_amazon({"books": f}, version=2014).events[C.USER_ID].item() == "ITEM1"


def test_amazon_metadata_never_evaluates_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    reviews = tmp_path / "r.json"
    reviews.write_text('{"reviewerID": "A", "asin": "X", "overall": 1, "unixReviewTime": 1}\n')
    meta = tmp_path / "meta.json"
    meta.write_text(f"{{'asin': 'X'}}\n__import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(SchemaError) as err:
        load_amazon({"s": reviews}, {"s": meta})
    assert err.value.row == 2
    assert not marker.exists()
