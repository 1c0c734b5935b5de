"""What a data command was given: an events file, a catalog on its own, a folder holding events
and a catalog, or a public-format folder; and the options that read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from scenerec.cli._common import parse_mapping, unescape_sep
from scenerec.data.io import apply_mapping, data_columns, find_tables, scan_table, table_kind
from scenerec.errors import SchemaError

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="csv, tsv, parquet, jsonl (.gz/.zst read by suffix), or a public format: "
        "movielens, recbole, llmcdsr, urllm (default: detected)",
    ),
]
MapOpt = Annotated[
    list[str] | None, typer.Option("--map", help="rename a column: THEIRS=OURS (repeatable)")
]
CatalogMapOpt = Annotated[
    list[str] | None,
    typer.Option("--catalog-map", help="rename a catalog column: THEIRS=OURS (repeatable)"),
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="CSV field separator (\\t for tab)")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="item catalog file")]

_TABLE_FORMATS = ("csv", "tsv", "parquet", "jsonl")


@dataclass(frozen=True)
class Inputs:
    """The resolved inputs of a data command.

    Attributes:
        events: the events file (None for a catalog alone or a public folder).
        catalog: the catalog file, if any.
        public: a public-format folder (read by its adapter).
        format: the public format, or the table format of ``events``/``catalog``.
        mapping: events column mapping; ``catalog_mapping`` the catalog's.
        sep: the CSV separator.
    """

    events: Path | None
    catalog: Path | None
    public: Path | None
    format: str | None
    mapping: dict[str, str]
    catalog_mapping: dict[str, str]
    sep: str | None

    @property
    def files(self) -> list[Path]:
        """Every input path (for the overwrite guard)."""
        return [p for p in (self.events, self.catalog, self.public) if p is not None]


def resolve(
    path: Path,
    *,
    catalog: Path | None,
    format: str | None,
    mapping: list[str] | None,
    catalog_mapping: list[str] | None,
    sep: str | None,
) -> Inputs:
    """Tell what ``path`` is: see the module docstring.

    Raises:
        SchemaError: a missing path, or a folder that is neither a public format nor holds one
            events file (naming what it holds).
    """
    m = parse_mapping(mapping, "--map")
    cm = parse_mapping(catalog_mapping, "--catalog-map")
    s = unescape_sep(sep)
    if not path.exists():
        raise SchemaError("file not found", file=path, fix="check the path")
    public = format is not None and format not in _TABLE_FORMATS
    if path.is_dir():
        if not public and format is None:
            from scenerec.data.public import detect_format

            try:
                name = detect_format(path)
            except SchemaError:
                events, found = find_tables(path)
                return Inputs(events, catalog or found, None, None, m, cm, s)
            return Inputs(None, catalog, path, name, m, cm, s)
        return Inputs(None, catalog, path, format, m, cm, s)
    if public:
        raise SchemaError(
            f"--format {format} reads a dataset folder", file=path, fix="pass the folder"
        )
    columns = data_columns(apply_mapping(scan_table(path, format=format, separator=s), m))
    if table_kind(columns) == "catalog" and catalog is None:
        return Inputs(None, path, None, format, m, m, s)
    return Inputs(path, catalog, None, format, m, cm, s)
