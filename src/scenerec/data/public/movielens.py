"""MovieLens 100K and 1M in their original GroupLens file formats.

* ML-100K (``ml-100k/``): ``u.data`` (tab-separated ``user item rating timestamp``),
  ``u.item`` (pipe-separated, Latin-1: id, title, release date, video date, IMDb URL, 19 genre
  flags), optional ``u.genre`` (genre names in flag order) and ``u.user``
  (``id|age|gender|occupation|zip``).
* ML-1M (``ml-1m/``): ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``movies.dat``
  (``MovieID::Title::Genre|Genre``) and optional ``users.dat``
  (``UserID::Gender::Age::Occupation::Zip``), ``::``-separated, Latin-1.

Every rating becomes one event: scenario ``"movies"``, behaviour ``"rate"``, ``value`` = the
rating (1-5), ``timestamp`` = Unix seconds. Ids are kept as given (numeric strings). The catalog
has ``title`` (with the year, as GroupLens writes it), ``genres`` (pipe-joined) and the same
string as ``category``. Users carry ``gender``, ``age`` (ML-1M: the age-bucket code),
``occupation`` (ML-100K: a name, ML-1M: a numeric code, both as text) and ``zip_code``.
Nothing is cleaned here; the files contain no duplicates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from scenerec.data.public._base import (
    SC,
    LoadedData,
    check_integers,
    check_numbers,
    read_table_bytes,
    require_file,
    typed_events,
)
from scenerec.errors import SchemaError
from scenerec.schema import C

SCENARIO: Final = "movies"
BEHAVIOR: Final = "rate"

# The genre order of the u.item flags, as listed in ML-100K's u.genre; used when u.genre is absent.
GENRES_100K: Final = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

_RATING: Final = "rating"
_USER_COLUMNS: Final = (C.USER_ID, SC.AGE, SC.GENDER, SC.OCCUPATION, SC.ZIP_CODE)


def _folder(path: str | Path, marker: str, sub: str) -> Path:
    """The folder holding ``marker``: ``path`` itself or its ``sub`` child."""
    p = Path(path)
    for cand in (p, p / sub):
        if (cand / marker).is_file():
            return cand
    raise SchemaError(
        f"no {marker} in this folder or in its {sub}/ child",
        file=p,
        fix=f"point to the unpacked GroupLens {sub} folder",
    )


def _latin1_utf8(path: Path) -> bytes:
    # GroupLens files are Latin-1 (titles such as "Misérables"); polars reads UTF-8 only.
    return require_file(path).read_bytes().decode("latin-1").encode("utf-8")


def _events(ratings: pl.DataFrame, file: Path) -> pl.DataFrame:
    ratings = check_integers(ratings, [C.TIMESTAMP], file=file)
    ratings = check_numbers(ratings, [_RATING], file=file)
    return typed_events(
        ratings.with_columns(
            pl.lit(SCENARIO).alias(C.SCENARIO),
            pl.lit(BEHAVIOR).alias(C.BEHAVIOR),
            pl.col(_RATING).alias(C.VALUE),
        )
    )


def _catalog(items: pl.DataFrame) -> pl.DataFrame:
    return items.select(
        C.ITEM_ID,
        C.TITLE,
        SC.GENRES,
        pl.col(SC.GENRES).alias(C.CATEGORY),
        pl.lit(SCENARIO).alias(C.SCENARIO),
    )


def _users(file: Path, columns: tuple[str, ...], *, separator: bytes) -> pl.DataFrame | None:
    """The optional users file (``|``- or ``::``-separated), age typed; None when absent."""
    if not file.is_file():
        return None
    # A unit separator, not a tab, so that a field can never be split by the replacement.
    data = _latin1_utf8(file).replace(separator, b"\x1f")
    raw = read_table_bytes(data, file=file, separator="\x1f", columns=columns)
    return check_integers(raw.select(_USER_COLUMNS), [SC.AGE], file=file)


def _loaded(
    events: pl.DataFrame,
    items: pl.DataFrame,
    users: pl.DataFrame | None,
    *,
    name: str,
    folder: Path,
    source: str,
) -> LoadedData:
    info = {"source": source, "folder": str(folder), "format": "grouplens"}
    return LoadedData(events=events, catalog=_catalog(items), users=users, name=name, info=info)


def load_movielens_100k(path: str | Path, *, name: str = "ml-100k") -> LoadedData:
    """Read the GroupLens ML-100K files (see the module docstring).

    Args:
        path: the ``ml-100k`` folder (or its parent).
        name: the data-set name.

    Returns:
        ``LoadedData`` with 100,000 events for the official release; no predefined split (the
        ``u1..u5``/``ua``/``ub`` folds are not read).

    Raises:
        SchemaError: a file is missing or malformed (names the file, row and column).
    """
    folder = _folder(path, "u.data", "ml-100k")
    data_file = folder / "u.data"
    ratings = read_table_bytes(
        require_file(data_file).read_bytes(),
        file=data_file,
        separator="\t",
        columns=(C.USER_ID, C.ITEM_ID, _RATING, C.TIMESTAMP),
    )
    events = _events(ratings, data_file)

    genre_file = folder / "u.genre"
    genres: tuple[str, ...] = GENRES_100K
    if genre_file.is_file():
        g = read_table_bytes(
            _latin1_utf8(genre_file), file=genre_file, separator="|", columns=("name", "flag")
        ).filter(pl.col("name") != "")
        genres = tuple(check_integers(g, ["flag"], file=genre_file).sort("flag")["name"])
    item_file = folder / "u.item"
    items = read_table_bytes(
        _latin1_utf8(item_file),
        file=item_file,
        separator="|",
        columns=(C.ITEM_ID, C.TITLE, "release", "video_release", "url", *genres),
    )
    flags = [pl.when(pl.col(g) == "1").then(pl.lit(g)) for g in genres]
    items = items.with_columns(
        pl.concat_list(flags).list.drop_nulls().list.join("|").alias(SC.GENRES)
    )

    users = _users(folder / "u.user", _USER_COLUMNS, separator=b"|")
    return _loaded(
        events, items, users, name=name, folder=folder, source="GroupLens MovieLens 100K"
    )


def load_movielens_1m(path: str | Path, *, name: str = "ml-1m") -> LoadedData:
    """Read the GroupLens ML-1M files (see the module docstring).

    Args:
        path: the ``ml-1m`` folder (or its parent).
        name: the data-set name.

    Returns:
        ``LoadedData`` with 1,000,209 events for the official release; no predefined split.

    Raises:
        SchemaError: a file is missing or malformed (names the file, row and column).
    """
    folder = _folder(path, "ratings.dat", "ml-1m")
    rating_file = folder / "ratings.dat"
    # "::" is two bytes and polars takes a one-byte separator; ratings are ASCII digits, so a
    # byte-level replace is exact and keeps the 24 MB file out of Python string handling.
    ratings = read_table_bytes(
        require_file(rating_file).read_bytes().replace(b"::", b"\t"),
        file=rating_file,
        separator="\t",
        columns=(C.USER_ID, C.ITEM_ID, _RATING, C.TIMESTAMP),
    )
    events = _events(ratings, rating_file)

    movie_file = folder / "movies.dat"
    # A unit separator, not a tab, so that a title can never be split by the replacement.
    items = read_table_bytes(
        _latin1_utf8(movie_file).replace(b"::", b"\x1f"),
        file=movie_file,
        separator="\x1f",
        columns=(C.ITEM_ID, C.TITLE, SC.GENRES),
    )

    columns = (C.USER_ID, SC.GENDER, SC.AGE, SC.OCCUPATION, SC.ZIP_CODE)
    users = _users(folder / "users.dat", columns, separator=b"::")
    return _loaded(events, items, users, name=name, folder=folder, source="GroupLens MovieLens 1M")


def load_movielens(path: str | Path, *, name: str | None = None) -> LoadedData:
    """Read ML-100K or ML-1M, whichever GroupLens layout ``path`` holds."""
    p = Path(path)
    if (p / "ratings.dat").is_file() or (p / "ml-1m" / "ratings.dat").is_file():
        return load_movielens_1m(p, name=name or "ml-1m")
    if (p / "u.data").is_file() or (p / "ml-100k" / "u.data").is_file():
        return load_movielens_100k(p, name=name or "ml-100k")
    raise SchemaError(
        "neither ratings.dat (ML-1M) nor u.data (ML-100K) found",
        file=p,
        fix="point to the unpacked GroupLens ml-1m or ml-100k folder",
    )
