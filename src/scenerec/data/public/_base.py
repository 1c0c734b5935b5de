"""What every public-format adapter returns (``LoadedData``) and the helpers they share."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from scenerec.errors import SchemaError
from scenerec.schema import EVENT_COLUMNS, EVENT_SCHEMA, REQUIRED_EVENT_COLUMNS, C

if TYPE_CHECKING:
    from scenerec.data.dataset import Dataset


SPLIT_NAMES: Final = ("train", "valid", "test")


class SourceColumns:
    """Column names that public formats carry beyond ``scenerec.schema.C``.

    Catalog: ``genres`` (pipe-joined, MovieLens). Users: MovieLens demographics and the Amazon
    reviewer id behind an anonymised user id.
    """

    GENRES: Final = "genres"
    GENDER: Final = "gender"
    AGE: Final = "age"
    OCCUPATION: Final = "occupation"
    ZIP_CODE: Final = "zip_code"
    REVIEWER_ID: Final = "reviewer_id"


SC = SourceColumns


@dataclass(frozen=True, kw_only=True)
class LoadedData:
    """A public data set read into scenerec's tables.

    Attributes:
        events: every event of every split, typed per ``scenerec.schema.EVENT_SCHEMA``
            (``user_id``, ``item_id``, ``scenario``, ``behavior`` str; ``timestamp`` Int64;
            optional ``value`` Float64), in file order.
        catalog: one row per item: ``item_id``, ``title`` and, where the source has them,
            ``category``, ``genres``, ``brand``, ``description`` (all str) and ``scenario``. It may
            list items that have no events (text-only items).
        users: user attributes keyed by ``user_id``, or ``None``.
        predefined_split: for releases that ship their own split, ``{"train", "valid", "test"}``
            -> event frames (same columns as ``events``) that partition ``events`` exactly.
            ``"train"`` holds every event a model may fit on, including the *history* of the
            valid and test users. ``"valid"`` and ``"test"`` hold only the held-out target
            events: one row per evaluation instance, to be ranked for its ``user_id`` given that
            user's events in ``"train"``. ``None`` when the source has no split.
        name: short data-set name (``"ml-1m"``, ``"food-kitchen"``).
        info: free-form notes: source files, id conventions, caveats.
    """

    events: pl.DataFrame
    catalog: pl.DataFrame
    users: pl.DataFrame | None = None
    predefined_split: dict[str, pl.DataFrame] | None = None
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in self.events.columns]
        if missing:
            raise SchemaError(f"{self.name}: events lack column(s) {missing}")
        if C.ITEM_ID not in self.catalog.columns:
            raise SchemaError(f"{self.name}: catalog lacks column {C.ITEM_ID!r}")
        if self.users is not None and C.USER_ID not in self.users.columns:
            raise SchemaError(f"{self.name}: users table lacks column {C.USER_ID!r}")
        if self.predefined_split is not None:
            unknown = sorted(set(self.predefined_split) - set(SPLIT_NAMES))
            if unknown:
                raise SchemaError(
                    f"{self.name}: unknown split name(s) {unknown}; expected {list(SPLIT_NAMES)}"
                )

    def to_dataset(self, *, behavior_weights: Mapping[str, float] | None = None) -> Dataset:
        """A ``Dataset`` over all events of all splits, with the full catalog and users."""
        from scenerec.data.dataset import Dataset

        return Dataset(
            self.events,
            self.catalog,
            self.users,
            behavior_weights=behavior_weights,
            name=self.name,
        )

    def summary(self) -> dict[str, dict[str, Any]]:
        """Users, events and unique user-item pairs per scenario, for all events and each split.

        Returns:
            ``{"all": {...}, "train": {...}, ...}``; each block has ``users``, ``events``,
            ``events_by_scenario`` and ``pairs_by_scenario`` (unique user-item pairs).
        """
        frames: dict[str, pl.DataFrame] = {"all": self.events}
        frames.update(self.predefined_split or {})
        out: dict[str, dict[str, Any]] = {}
        for split, ev in frames.items():
            by_scen = ev.group_by(C.SCENARIO).agg(
                pl.len().alias("events"),
                pl.struct(C.USER_ID, C.ITEM_ID).n_unique().alias("pairs"),
            )
            out[split] = {
                "users": ev[C.USER_ID].n_unique(),
                "events": ev.height,
                "events_by_scenario": dict(by_scen.select(C.SCENARIO, "events").iter_rows()),
                "pairs_by_scenario": dict(by_scen.select(C.SCENARIO, "pairs").iter_rows()),
            }
        return out


# ---------------------------------------------------------------------------------- helpers
def require_file(path: Path, *, what: str = "file") -> Path:
    """``path`` if it is a file, else a SchemaError naming it."""
    if not path.is_file():
        raise SchemaError(
            f"{what} not found" if not path.exists() else f"{what} is not a regular file",
            file=path,
            fix="check the path; the data set folder must hold the files its SOURCE/README lists",
        )
    return path


def typed_events(df: pl.DataFrame) -> pl.DataFrame:
    """Schema columns only, in schema order, cast to ``EVENT_SCHEMA``."""
    return df.select(pl.col(c).cast(EVENT_SCHEMA[c]) for c in EVENT_COLUMNS if c in df.columns)


def read_table_bytes(
    data: bytes,
    *,
    file: Path,
    separator: str,
    columns: Sequence[str],
    has_header: bool = False,
) -> pl.DataFrame:
    """Parse delimited text (UTF-8 bytes, no quoting) into string columns.

    Args:
        data: the file content, already UTF-8.
        file: the source file, for error messages.
        separator: one-byte field separator.
        columns: names for the columns, in file order; every line must have exactly these.
        has_header: skip the first line.

    Raises:
        SchemaError: a line has a different number of fields (names the 1-based data row).
    """
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            separator=separator,
            has_header=has_header,
            new_columns=list(columns),
            infer_schema=False,
            quote_char=None,
        )
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"cannot parse as {len(columns)} {separator!r}-separated fields ({exc})",
            file=file,
            fix=f"expected the columns {list(columns)}",
        ) from None
    if df.width != len(columns):
        raise SchemaError(
            f"expected {len(columns)} fields per line, found {df.width}",
            file=file,
            fix=f"expected the columns {list(columns)}",
        )
    return df


def check_integers(df: pl.DataFrame, columns: Sequence[str], *, file: Path) -> pl.DataFrame:
    """Cast text columns to Int64; a non-integer names its file, 1-based row, column and value."""
    return _cast_checked(df, columns, pl.Int64(), "not an integer", file=file)


def check_numbers(df: pl.DataFrame, columns: Sequence[str], *, file: Path) -> pl.DataFrame:
    """Cast text columns to Float64; a non-number names its file, 1-based row, column and value."""
    return _cast_checked(df, columns, pl.Float64(), "not a number", file=file)


def _cast_checked(
    df: pl.DataFrame, columns: Sequence[str], dtype: pl.DataType, problem: str, *, file: Path
) -> pl.DataFrame:
    out = df.with_columns(pl.col(c).str.strip_chars().cast(dtype, strict=False) for c in columns)
    for col in columns:
        bad = out[col].is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise SchemaError(
                problem,
                file=file,
                row=row + 1,
                column=col,
                value=df[col][row],
                fix="the file looks truncated or is not in the expected format",
            )
    return out


LINE: Final = "line"


def read_lines(path: Path) -> pl.DataFrame:
    """The non-empty lines of a UTF-8 text file.

    Returns:
        Columns ``source_row`` (Int64, 1-based line number) and ``line`` (str, with the line end
        and trailing tabs/spaces stripped); blank lines are left out.
    """
    text = require_file(path).read_text(encoding="utf-8")
    df = pl.DataFrame({LINE: pl.Series(text.splitlines(), dtype=pl.String)})
    df = df.with_row_index(C.ROW, offset=1).with_columns(
        pl.col(C.ROW).cast(pl.Int64), pl.col(LINE).str.strip_chars_end("\t\r ")
    )
    return df.filter(pl.col(LINE).str.len_chars() > 0)
