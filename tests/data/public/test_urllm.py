"""The URLLM Art-Office release: tiny hand-written files, plus the shared copy (bench)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import load_art_office
from scenerec.errors import SchemaError
from scenerec.schema import C
from tests.data.public.helpers import (
    ART_OFFICE,
    assert_partition,
    assert_typed,
    needs_ao,
    per_scenario,
)


def _seq_line(uid: int, elements: list[tuple[int, int]]) -> str:
    last = max(p for _, p in elements)
    return f"{uid}\t{last}\t" + "\t".join(f"{i}|{p}|{p}" for i, p in elements) + "\t\n"


def write_art_office(root: Path) -> Path:
    """Art ids 0..2, Office 3..5 (5 unused); train uid 0, test uid 1, valid uid 2."""
    ao = root / "AO"
    ao.mkdir(parents=True)
    head = "idBefore,item_title,idAfter,item_attribute\n"
    (ao / "item_listA_F.csv").write_text(
        head + "".join(f"{i},art item {i},{i},arts crafts brand{i}\n" for i in range(3))
    )
    (ao / "item_listO_AA_F.csv").write_text(
        head + "".join(f"{i},office item {i},{i + 3},office products b{i}\n" for i in range(3))
    )
    hist0 = [(0, 0), (3, 1), (1, 2), (0, 3)]  # item 0 repeats within the history
    (ao / "train_F2.txt").write_text(
        _seq_line(0, [*hist0, (2, 4)]) + _seq_line(0, [*hist0, (4, 4)])
    )
    hist1 = [(1, 0), (4, 1)]
    (ao / "test_F2.txt").write_text(_seq_line(1, [*hist1, (0, 2)]) + _seq_line(1, [*hist1, (3, 2)]))
    hist2 = [(3, 0), (2, 1)]
    (ao / "valid_F2.txt").write_text(
        _seq_line(2, [*hist2, (1, 2)]) + _seq_line(2, [*hist2, (0, 2)])
    )
    (ao / "Dualuser_dict.json").write_text(json.dumps(["RA", "RB", "RC"]))
    return root


def test_art_office_history_once_and_two_targets(tmp_path: Path) -> None:
    data = load_art_office(write_art_office(tmp_path / "ao"))
    assert_typed(data)
    assert_partition(data)
    u0 = data.events.filter(pl.col(C.USER_ID) == "0")
    assert u0[C.ITEM_ID].to_list() == ["0", "3", "1", "0", "2", "4"]
    assert u0[C.TIMESTAMP].to_list() == [0, 1, 2, 3, 4, 4]
    assert u0[C.SCENARIO].to_list() == ["art", "office", "art", "art", "art", "office"]
    split = data.predefined_split
    assert split is not None
    assert sorted(split["test"].select(C.USER_ID, C.ITEM_ID).rows()) == [("1", "0"), ("1", "3")]
    assert sorted(split["valid"][C.ITEM_ID].to_list()) == ["0", "1"]  # two Art targets
    train_users = set(split["train"][C.USER_ID])
    assert train_users == {"0", "1", "2"}  # valid/test histories are in train
    assert split["train"].filter(pl.col(C.USER_ID) == "1")[C.ITEM_ID].to_list() == ["1", "4"]
    cat = data.catalog
    assert cat.height == 6 and cat.filter(pl.col(C.ITEM_ID) == "5")[C.SCENARIO].item() == "office"
    assert cat.filter(pl.col(C.ITEM_ID) == "0")[C.CATEGORY].item() == "arts crafts brand0"
    assert data.users is not None
    assert dict(data.users.iter_rows())["2"] == "RC"
    assert data.to_dataset().n_items == 6


def test_art_office_lines_with_different_histories_are_refused(tmp_path: Path) -> None:
    root = write_art_office(tmp_path / "ao")
    (root / "AO" / "test_F2.txt").write_text(
        _seq_line(1, [(1, 0), (4, 1), (0, 2)]) + _seq_line(1, [(2, 0), (4, 1), (3, 2)])
    )
    with pytest.raises(SchemaError, match="different histories") as err:
        load_art_office(root)
    assert err.value.row == 1 and "test_F2.txt" in str(err.value)


def test_art_office_truncated_variant_reads_dg_src_files(tmp_path: Path) -> None:
    root = write_art_office(tmp_path / "ao")
    dg = root / "DG_src_dataset"
    dg.mkdir()
    (dg / "traindata_new.txt").write_text(
        _seq_line(0, [(1, 3), (2, 4)]) + _seq_line(0, [(1, 3), (4, 4)])
    )
    (dg / "validdata_new.txt").write_text(
        _seq_line(2, [(2, 1), (1, 2)]) + _seq_line(2, [(2, 1), (0, 2)])
    )
    (dg / "testdata_new.txt").write_text(
        _seq_line(1, [(4, 1), (0, 2)]) + _seq_line(1, [(4, 1), (3, 2)])
    )
    data = load_art_office(root, variant="truncated")
    assert data.events.filter(pl.col(C.USER_ID) == "0")[C.TIMESTAMP].to_list() == [3, 4, 4]
    assert data.info["variant"] == "truncated"


@pytest.mark.bench
@needs_ao
def test_art_office_matches_source_md_statistics() -> None:
    data = load_art_office(ART_OFFICE)
    assert_typed(data)
    assert_partition(data)
    split = data.predefined_split
    assert split is not None
    uid = pl.col(C.USER_ID).cast(pl.Int64)
    ev = data.events
    # SOURCE.md: users (uid range), unique user-item pairs per domain, mean unique items per
    # user, and target lines per domain, for each split file.
    expected = {
        "train": ((0, 7_999), 8_000, 98_980, 82_411, 22.7, 8_341, 7_659),
        "test": ((8_000, 8_999), 1_000, 7_394, 9_129, 16.5, 1_050, 950),
        "valid": ((9_000, 9_576), 577, 3_642, 5_105, 15.2, 601, 553),
    }
    for name, (lo_hi, users, art, office, mean_len, t_art, t_office) in expected.items():
        part = ev.filter(uid.is_between(*lo_hi))
        pairs = part.unique([C.USER_ID, C.ITEM_ID])
        assert part[C.USER_ID].n_unique() == users, name
        assert per_scenario(pairs) == {"art": art, "office": office}, name
        assert round(pairs.height / users, 1) == mean_len, name
        targets = part.filter(pl.col(C.TIMESTAMP) == pl.col(C.TIMESTAMP).max().over(C.USER_ID))
        assert per_scenario(targets) == {"art": t_art, "office": t_office}, name
        if name != "train":
            assert split[name].sort(pl.all()).equals(targets.sort(pl.all())), name
    # Items: Art 18,639 all used; Office 19,757 listed, 15,780 used; all titled.
    assert per_scenario(data.catalog) == {"art": 18_639, "office": 19_757}
    used = data.events.unique(C.ITEM_ID)
    assert per_scenario(used) == {"art": 18_639, "office": 15_780}
    assert (data.catalog[C.TITLE].str.len_chars() > 0).all()
    assert (data.catalog[C.CATEGORY].str.len_chars() > 0).all()
    # Every one of the 9,577 users is active in both domains.
    n_scen = ev.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).n_unique().alias("n"))
    assert n_scen.height == 9_577 and (n_scen["n"] == 2).all()
    assert data.users is not None and data.users.height == 9_577


@pytest.mark.bench
@needs_ao
def test_art_office_truncated_variant_keeps_users_and_targets() -> None:
    full = load_art_office(ART_OFFICE)
    cut = load_art_office(ART_OFFICE, variant="truncated")
    assert full.predefined_split is not None and cut.predefined_split is not None
    for name in ("valid", "test"):
        assert (
            full.predefined_split[name]
            .sort(pl.all())
            .equals(cut.predefined_split[name].sort(pl.all()))
        )
    # Histories are cut to 28 elements plus the two targets' shared position.
    per_user = cut.events.group_by(C.USER_ID).agg(pl.col(C.TIMESTAMP).n_unique().alias("n"))
    assert per_user["n"].max() == 29
    assert cut.events.height < full.events.height
