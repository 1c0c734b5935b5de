"""Amazon product reviews, 2014 (McAuley et al.) and 2018 (Ni et al.) releases.

One category file per scenario: pass ``{"books": reviews_Books_5.json.gz, ...}``.

* Reviews (both releases): JSON lines with ``reviewerID``, ``asin``, ``overall`` (rating) and
  ``unixReviewTime`` (seconds); other fields are ignored. Plain or ``.gz``. The ratings-only
  CSVs (no header) are read too: 2014 ``ratings_X.csv`` is ``user,item,rating,time`` and 2018
  ``X.csv`` is ``item,user,rating,time``, so CSVs need ``version``.
* Metadata: one item per line with ``asin``, ``title``, and ``categories`` (2014: a list of
  category paths) or ``category`` (2018: one path as a list), ``brand``, ``description``
  (2014: str, 2018: list of str). 2014 metadata lines are Python literals (single quotes), which
  are parsed with :func:`ast.literal_eval` (never ``eval``); JSON lines are parsed as JSON.

Mapping: ``user_id`` = reviewerID, ``item_id`` = asin, ``scenario`` = the key of the file,
``behavior`` = ``"rate"``, ``value`` = overall, ``timestamp`` = unixReviewTime. Catalog:
``title``, ``category`` (a path joined with ``" > "``, several paths joined with ``" | "``),
``brand``, ``description`` (list items joined with a space), and ``scenario`` = the scenario of
the first metadata file that lists the item. Nothing is cleaned here (the 2018 files contain
duplicate reviews): run ``scenerec.data.clean`` on the events.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from scenerec.data.public._base import (
    LoadedData,
    check_integers,
    check_numbers,
    read_table_bytes,
    require_file,
    typed_events,
)
from scenerec.errors import SchemaError
from scenerec.schema import C

logger = logging.getLogger(__name__)

BEHAVIOR: Final = "rate"
Version = Literal[2014, 2018]

# Field names of the Amazon files.
_REVIEWER: Final = "reviewerID"
_ASIN: Final = "asin"
_OVERALL: Final = "overall"
_TIME: Final = "unixReviewTime"
_REVIEW_SCHEMA: Final = {
    _REVIEWER: pl.String(),
    _ASIN: pl.String(),
    _OVERALL: pl.Float64(),
    _TIME: pl.Int64(),
}
_RATING: Final = "rating"
_META_TITLE: Final = "title"
_META_CATEGORIES: Final = ("categories", "category")  # 2014, 2018
_META_BRAND: Final = "brand"
_META_DESCRIPTION: Final = "description"


def _open_bytes(path: Path) -> bytes:
    raw = require_file(path).read_bytes()
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise SchemaError(f"not a readable gzip file ({exc})", file=path) from None
    return raw


def _is_csv(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(".csv")


def _parse_line(line: str, *, file: Path, row: int) -> dict[str, Any]:
    """One JSON or Python-literal object; literal_eval evaluates literals only, never calls."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        try:
            obj = ast.literal_eval(line)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise SchemaError(
                "line is neither JSON nor a Python literal",
                file=file,
                row=row,
                value=line[:80],
                fix="each line must hold one JSON object (2018) or Python dict literal (2014)",
            ) from None
    if not isinstance(obj, dict):
        raise SchemaError("line is not an object", file=file, row=row, value=line[:80])
    return obj


def _iter_objects(data: bytes, file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for row, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if line.strip():
            yield row, _parse_line(line, file=file, row=row)


def _read_reviews(path: Path, version: Version | None) -> pl.DataFrame:
    data = _open_bytes(path)
    if _is_csv(path):
        if version is None:
            raise SchemaError(
                "a ratings-only CSV needs the release year: 2014 files are user,item,... and "
                "2018 files item,user,...",
                file=path,
                fix="pass version=2014 or version=2018",
            )
        order = (
            (C.USER_ID, C.ITEM_ID, _RATING, C.TIMESTAMP)
            if version == 2014
            else (C.ITEM_ID, C.USER_ID, _RATING, C.TIMESTAMP)
        )
        df = read_table_bytes(data, file=path, separator=",", columns=order)
    else:
        try:
            # Fast path: strict JSON lines; the schema makes polars skip every other field.
            raw = pl.read_ndjson(io.BytesIO(data), schema=_REVIEW_SCHEMA)
        except pl.exceptions.PolarsError:
            rows = [
                {k: None if obj.get(k) is None else str(obj.get(k)) for k in _REVIEW_SCHEMA}
                for _, obj in _iter_objects(data, path)
            ]
            raw = pl.DataFrame(rows, schema=dict.fromkeys(_REVIEW_SCHEMA, pl.String()))
        df = raw.select(
            pl.col(_REVIEWER).cast(pl.String).alias(C.USER_ID),
            pl.col(_ASIN).cast(pl.String).alias(C.ITEM_ID),
            pl.col(_OVERALL).cast(pl.String).alias(_RATING),
            pl.col(_TIME).cast(pl.String).alias(C.TIMESTAMP),
        )
        for their, ours in ((_REVIEWER, C.USER_ID), (_ASIN, C.ITEM_ID)):
            missing = df[ours].is_null() | (df[ours] == "")
            if missing.any():
                raise SchemaError(
                    "review has no id",
                    file=path,
                    row=int(missing.arg_true()[0]) + 1,
                    column=their,
                    fix="every review needs reviewerID and asin",
                )
    df = check_integers(df, [C.TIMESTAMP], file=path)
    return check_numbers(df, [_RATING], file=path)


def _join_category(value: object) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        paths = [" > ".join(str(x) for x in p) for p in value if p]
        return " | ".join(paths) or None
    if isinstance(value, list):
        return " > ".join(str(x) for x in value) or None
    return None if value is None else str(value)


def _join_text(value: object) -> str | None:
    if isinstance(value, list):
        return " ".join(str(x) for x in value if x) or None
    return None if value is None else str(value)


def _read_metadata(path: Path, scenario: str) -> pl.DataFrame:
    data = _open_bytes(path)
    rows: dict[str, list[str | None]] = {
        C.ITEM_ID: [],
        C.TITLE: [],
        C.CATEGORY: [],
        C.BRAND: [],
        C.DESCRIPTION: [],
    }
    for row, obj in _iter_objects(data, path):
        asin = obj.get(_ASIN)
        if not asin:
            raise SchemaError(
                "item has no asin", file=path, row=row, column=_ASIN, fix="drop the line"
            )
        rows[C.ITEM_ID].append(str(asin))
        category = next((obj[k] for k in _META_CATEGORIES if k in obj), None)
        rows[C.TITLE].append(_join_text(obj.get(_META_TITLE)))
        rows[C.CATEGORY].append(_join_category(category))
        rows[C.BRAND].append(_join_text(obj.get(_META_BRAND)))
        rows[C.DESCRIPTION].append(_join_text(obj.get(_META_DESCRIPTION)))
    df = pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String()))
    return df.with_columns(pl.lit(scenario).alias(C.SCENARIO))


def load_amazon(
    reviews: Mapping[str, str | Path],
    metadata: Mapping[str, str | Path] | None = None,
    *,
    version: Version | None = None,
    name: str = "amazon",
) -> LoadedData:
    """Read Amazon review files, one per scenario (see the module docstring).

    Args:
        reviews: scenario name -> reviews file (JSON lines or ratings-only CSV, plain or .gz).
        metadata: scenario name -> metadata file; items without metadata get no catalog row.
        version: 2014 or 2018; needed only for ratings-only CSVs.
        name: the data-set name.

    Returns:
        ``LoadedData`` with every review as an event, no users table and no predefined split.

    Raises:
        SchemaError: a file is missing or a line cannot be parsed (names the file and row).
    """
    if not reviews:
        raise SchemaError("no review files given", fix="pass {scenario: path, ...}")
    frames = []
    for scenario, file in reviews.items():
        df = _read_reviews(Path(file), version)
        logger.info("%s: %d reviews for scenario %r", file, df.height, scenario)
        frames.append(
            df.with_columns(
                pl.lit(scenario).alias(C.SCENARIO),
                pl.lit(BEHAVIOR).alias(C.BEHAVIOR),
                pl.col(_RATING).alias(C.VALUE),
            )
        )
    events = typed_events(pl.concat(frames))
    meta = [_read_metadata(Path(f), s) for s, f in (metadata or {}).items()]
    if meta:
        catalog = pl.concat(meta).unique(C.ITEM_ID, keep="first", maintain_order=True)
    else:
        catalog = pl.DataFrame(
            schema={C.ITEM_ID: pl.String(), C.TITLE: pl.String(), C.SCENARIO: pl.String()}
        )
    return LoadedData(
        events=events,
        catalog=catalog,
        name=name,
        info={
            "source": f"Amazon reviews ({version or 'auto-detected'} release)",
            "reviews": {s: str(f) for s, f in reviews.items()},
            "metadata": {s: str(f) for s, f in (metadata or {}).items()},
        },
    )
