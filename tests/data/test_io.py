from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.data.io import read_catalog, scan_events, write_table
from scenerec.errors import SchemaError
from scenerec.schema import C

HEADER = "user_id,item_id,scenario,behavior,timestamp\n"


def test_csv_read_as_text_with_source_rows(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text(HEADER + "u1,i1,app,click,100\nu2,i2,web,view,abc\n")
    df = scan_events(f).collect()
    assert df[C.ROW].to_list() == [1, 2]
    assert df[C.TIMESTAMP].to_list() == ["100", "abc"]  # typing is the cleaner's job


def test_column_mapping_renames(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text("uid,iid,scenario,behavior,ts\nu1,i1,app,click,1\n")
    df = scan_events(f, mapping={"uid": "user_id", "iid": "item_id", "ts": "timestamp"}).collect()
    assert df.row(0, named=True)[C.USER_ID] == "u1"


def test_mapping_naming_absent_column_is_clear(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text(HEADER + "u1,i1,app,click,1\n")
    with pytest.raises(SchemaError, match="not in the file"):
        scan_events(f, mapping={"nope": "user_id"})


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text("user_id,item_id,scenario,behavior\nu1,i1,app,click\n")
    with pytest.raises(SchemaError) as err:
        scan_events(f)
    msg = str(err.value)
    assert "ev.csv" in msg and "timestamp" in msg


def test_wrong_delimiter_suggests_the_right_one(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text(HEADER.replace(",", ";") + "u1;i1;app;click;1\n")
    with pytest.raises(SchemaError, match="--sep ';'"):
        scan_events(f)


def test_defaults_fill_absent_scenario_and_behavior(tmp_path: Path) -> None:
    f = tmp_path / "ev.csv"
    f.write_text("user_id,item_id,timestamp\nu1,i1,5\n")
    df = scan_events(f, default_scenario="web", default_behavior="view").collect()
    assert df.row(0, named=True)[C.SCENARIO] == "web"


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="file not found"):
        scan_events(tmp_path / "absent.csv")
    f = tmp_path / "ev.xyz"
    f.write_text("x")
    with pytest.raises(SchemaError, match="--format"):
        scan_events(f)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_write_then_read_round_trip(tmp_path: Path, suffix: str) -> None:
    df = pl.DataFrame(
        {
            C.USER_ID: ["a", "b"],
            C.ITEM_ID: ["x", "y"],
            C.SCENARIO: ["app", "web"],
            C.BEHAVIOR: ["click", "view"],
            C.TIMESTAMP: ["1", "2"],
        }
    )
    out = write_table(df, tmp_path / f"ev{suffix}")
    back = scan_events(out).collect().drop(C.ROW)
    assert back.with_columns(pl.all().cast(pl.String)).equals(df)


def test_catalog_dedupes_and_requires_item_id(tmp_path: Path) -> None:
    f = tmp_path / "cat.csv"
    f.write_text("item_id,title\ni1,Boots\ni1,Other\ni2,Tent\n")
    cat = read_catalog(f)
    assert cat[C.TITLE].to_list() == ["Boots", "Tent"]
    g = tmp_path / "bad.csv"
    g.write_text("id,title\ni1,Boots\n")
    with pytest.raises(SchemaError, match="item_id"):
        read_catalog(g)
