"""GroupLens MovieLens 100K and 1M folders."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import SC, load_movielens, load_movielens_1m, load_movielens_100k
from scenerec.errors import SchemaError
from scenerec.schema import C
from tests.data.public.helpers import ML1M_RATINGS, assert_typed, write_ml1m


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
