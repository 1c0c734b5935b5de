from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.data.io import (
    detect_format,
    find_tables,
    guard_outputs,
    kind_of_file,
    read_catalog,
    scan_events,
    write_table,
)
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
    back = scan_events(out).collect().drop(C.ROW, C.PARSE_ERROR, strict=False)
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


# ---------------------------------------------------------------------------------- issue 12
ROWS = "u1,i1,app,click,100\nu2,i2,web,view,200\n"


def test_gzip_and_zstd_inputs_are_read_by_suffix(tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa

    gz = tmp_path / "ev.csv.gz"
    gz.write_bytes(gzip.compress((HEADER + ROWS).encode()))
    zst = tmp_path / "ev.jsonl.zst"
    lines = '{"user_id": "u1", "item_id": "i1", "scenario": "app", "behavior": "click", '
    lines += '"timestamp": 5}\n'
    with pa.CompressedOutputStream(str(zst), "zstd") as f:
        f.write(lines.encode())
    assert scan_events(gz).collect()[C.USER_ID].to_list() == ["u1", "u2"]
    assert scan_events(zst).collect()[C.TIMESTAMP].to_list() == ["5"]
    assert detect_format(tmp_path / "x.tsv.gz") == "tsv"


def test_an_empty_or_garbage_file_is_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "ev.csv"
    empty.write_text("")
    with pytest.raises(SchemaError, match=r"ev\.csv: the file is empty"):
        scan_events(empty)
    junk = tmp_path / "ev.parquet"
    junk.write_text("not parquet at all")
    with pytest.raises(SchemaError, match=r"ev\.parquet: cannot read the file"):
        scan_events(junk)


def test_json_lines_are_read_line_by_line(tmp_path: Path) -> None:
    f = tmp_path / "ev.jsonl"
    good = (
        '{"user_id": "u1", "item_id": "i1", "scenario": "app", "behavior": "click", "timestamp": 5}'
    )
    obj = good.replace('"timestamp": 5', '"timestamp": {"at": 5}')
    f.write_text("\n".join([good, '{"user_id": "u2" "item_id": 1}', "", "[1, 2]", obj]) + "\n")
    df = scan_events(f).collect()
    assert df[C.ROW].to_list() == [1, 2, 4, 5]  # line numbers; the blank line is skipped
    assert df[C.PARSE_ERROR][0] is None
    assert "not valid JSON" in df[C.PARSE_ERROR][1] and "not an object" in df[C.PARSE_ERROR][2]
    assert df[C.TIMESTAMP].to_list() == ["5", None, None, '{"at": 5}']


def test_files_are_told_apart_by_their_columns(tmp_path: Path) -> None:
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    (tmp_path / "items.tsv").write_text("item_id\ttitle\ni1\tBoots\n")
    (tmp_path / "notes.md").write_text("# not a table")
    assert kind_of_file(tmp_path / "logs.csv") == "events"
    assert kind_of_file(tmp_path / "items.tsv") == "catalog"
    assert find_tables(tmp_path) == (tmp_path / "logs.csv", tmp_path / "items.tsv")
    (tmp_path / "more.csv").write_text(HEADER + ROWS)
    with pytest.raises(SchemaError, match="expected one events file"):
        find_tables(tmp_path)


def test_outputs_never_replace_an_input(tmp_path: Path) -> None:
    src = tmp_path / "ev.csv"
    src.write_text(HEADER + ROWS)
    (tmp_path / "link.csv").symlink_to(src)
    (tmp_path / "hard.csv").hardlink_to(src)
    for out in (src, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "sub/../ev.csv"):
        with pytest.raises(SchemaError, match="would overwrite the input"):
            guard_outputs([src], [out])
    with pytest.raises(SchemaError, match="two outputs"):
        guard_outputs([src], [tmp_path / "a.parquet", tmp_path / "a.parquet"])
    guard_outputs([src], [tmp_path / "clean.parquet", None])


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"old")
    bad = pl.LazyFrame({"x": [1]}).select(pl.col("x").str.to_integer())  # fails while sinking
    with pytest.raises(pl.exceptions.PolarsError):
        write_table(bad, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
