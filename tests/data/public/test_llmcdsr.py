"""The LLMCDSR Food-Kitchen release: tiny hand-written files, plus the shared copy (bench)."""

from __future__ import annotations

import pickle
from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import load_food_kitchen
from scenerec.errors import DataWarning, SchemaError
from scenerec.schema import C
from tests.data.public.helpers import (
    FOOD_KITCHEN,
    Evil,
    assert_partition,
    assert_typed,
    needs_fk,
    per_scenario,
)


def write_food_kitchen(folder: Path, *, evil: bool = False) -> Path:
    """A 3-item Food (A) + 3-item Kitchen (B) release in the LLMCDSR format."""
    folder.mkdir(parents=True)
    (folder / "num.txt").write_text("3\n3\n")
    sets = {"A": {"FA0": 0, "FA1": 1, "FA2": 2}, "B": {"KB0": 0, "KB1": 1, "KB2": 2}}
    for dom, mapping in sets.items():
        (folder / f"item_set_{dom}.pkl").write_bytes(pickle.dumps(mapping, protocol=4))
        titles = {asin: f"title of {asin}" for asin in mapping}
        (folder / f"text_{dom}.pkl").write_bytes(pickle.dumps(titles, protocol=4))
    if evil:
        (folder / "text_B.pkl").write_bytes(pickle.dumps({"x": Evil(folder / "pwned")}))
    # Global ids: A = 0..2, B = 3 + local index. FA2 and KB2 appear in no sequence.
    (folder / "train_A.txt").write_text("1\t0,1\n2\t1,0\n")
    (folder / "train_B.txt").write_text("1\t3,4\n")
    (folder / "train_overlap.txt").write_text("1\t0,3,1\n")
    (folder / "valid.txt").write_text("1\t4,0,3\n")
    (folder / "test.txt").write_text("1\t1,4,0\n2\t3,1\n")
    return folder


def test_food_kitchen_ids_scenarios_positions_and_split(tmp_path: Path) -> None:
    data = load_food_kitchen(write_food_kitchen(tmp_path / "fk"))
    assert_typed(data)
    assert_partition(data)
    ev = data.events
    assert ev.height == 2 + 2 + 2 + 3 + 3 + 3 + 2
    # uids restart per file, so they are prefixed by file.
    assert set(ev[C.USER_ID]) == {"A:1", "A:2", "B:1", "O:1", "valid:1", "test:1", "test:2"}
    o1 = ev.filter(pl.col(C.USER_ID) == "O:1")
    assert o1[C.ITEM_ID].to_list() == ["FA0", "KB0", "FA1"]
    assert o1[C.SCENARIO].to_list() == ["food", "kitchen", "food"]
    assert o1[C.TIMESTAMP].to_list() == [0, 1, 2]
    assert data.predefined_split is not None
    valid, test = data.predefined_split["valid"], data.predefined_split["test"]
    assert valid.select(C.USER_ID, C.ITEM_ID, C.TIMESTAMP).rows() == [("valid:1", "KB0", 2)]
    assert sorted(test.select(C.USER_ID, C.ITEM_ID).rows()) == [
        ("test:1", "FA0"),
        ("test:2", "FA1"),
    ]
    train = data.predefined_split["train"]
    hist = train.filter(pl.col(C.USER_ID) == "test:1")[C.ITEM_ID].to_list()
    assert hist == ["FA1", "KB1"]  # the test sequence without its last item
    # Every item of both domains is in the catalog with a title and its scenario.
    cat = data.catalog
    assert cat.height == 6 and cat[C.TITLE].null_count() == 0
    assert dict(cat.select(C.ITEM_ID, C.SCENARIO).iter_rows())["KB2"] == "kitchen"
    ds = data.to_dataset()
    assert ds.n_items == 6 and ds.n_events == ev.height


def test_food_kitchen_refuses_a_malicious_pickle(tmp_path: Path) -> None:
    folder = write_food_kitchen(tmp_path / "fk", evil=True)
    with pytest.raises(SchemaError) as err:
        load_food_kitchen(folder)
    assert "text_B.pkl" in str(err.value)
    assert not (folder / "pwned").exists()


def test_food_kitchen_out_of_range_item_names_file_and_row(tmp_path: Path) -> None:
    folder = write_food_kitchen(tmp_path / "fk")
    (folder / "valid.txt").write_text("1\t4,0,3\n2\t0,6\n")
    with pytest.raises(SchemaError) as err:
        load_food_kitchen(folder)
    assert err.value.row == 2 and "valid.txt" in str(err.value)


@pytest.mark.bench
@needs_fk
def test_food_kitchen_matches_source_md_statistics() -> None:
    data = load_food_kitchen(FOOD_KITCHEN)
    assert_typed(data)
    assert_partition(data)
    ev = data.events.with_columns(pl.col(C.USER_ID).str.split(":").list.get(0).alias("file"))
    # SOURCE.md, "Statistics": users and per-domain interactions of each file.
    expected = {
        "A": (5_472, 37_281, 0),
        "B": (38_191, 0, 265_817),
        "O": (7_501, 45_849, 53_321),
        "valid": (960, 8_739, 9_394),
        "test": (937, 6_447, 9_279),
    }
    for prefix, (users, food, kitchen) in expected.items():
        part = ev.filter(pl.col("file") == prefix)
        counts = per_scenario(part)
        got = (part[C.USER_ID].n_unique(), counts.get("food", 0), counts.get("kitchen", 0))
        assert got == (users, food, kitchen), prefix
    assert per_scenario(data.events) == {"food": 98_316, "kitchen": 337_811}
    assert data.events[C.USER_ID].n_unique() == 53_061
    # Items: 8,661 Food and 27,637 Kitchen, all titled, all used.
    assert per_scenario(data.catalog) == {"food": 8_661, "kitchen": 27_637}
    assert (data.catalog[C.TITLE].str.strip_chars().str.len_chars() > 0).all()
    assert data.events[C.ITEM_ID].n_unique() == data.catalog.height
    # Overlapping users (both domains) and single-domain users.
    n_scen = data.events.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).n_unique().alias("n"))
    assert int((n_scen["n"] == 2).sum()) == 9_398
    assert int((n_scen["n"] == 1).sum()) == 43_663
    # Target domains: valid 363/597, test 300/637; one target per user.
    split = data.predefined_split
    assert split is not None
    assert per_scenario(split["valid"]) == {"food": 363, "kitchen": 597}
    assert per_scenario(split["test"]) == {"food": 300, "kitchen": 637}
    assert split["valid"][C.USER_ID].n_unique() == 960
    assert split["test"][C.USER_ID].n_unique() == 937


def test_a_release_missing_one_domains_text_and_single_domain_users_loads_with_warnings(
    tmp_path: Path,
) -> None:
    # As the Movie-Book snapshot ships: no text_B.pkl and no train_B.txt.
    folder = write_food_kitchen(tmp_path / "mb")
    (folder / "text_B.pkl").unlink()
    (folder / "train_B.txt").unlink()
    with pytest.warns(DataWarning) as caught:
        data = load_food_kitchen(folder, name="movie-book", scenarios=("movie", "book"))
    messages = " ".join(str(w.message) for w in caught)
    assert "text_B.pkl is missing" in messages and "train_B.txt is missing" in messages
    book = data.catalog.filter(pl.col(C.SCENARIO) == "book")
    assert book.height == 3 and book[C.TITLE].null_count() == 3
    assert data.catalog.filter(pl.col(C.SCENARIO) == "movie")[C.TITLE].null_count() == 0
    assert not data.events[C.USER_ID].str.starts_with("B:").any()
    assert set(data.events[C.SCENARIO].unique()) <= {"movie", "book"}
