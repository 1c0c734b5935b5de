"""Reading events and catalogs (CSV/TSV, Parquet, JSON Lines; gzip/zstd by suffix) and writing
tables safely.

Readers are lazy (polars ``LazyFrame``) so a file larger than memory can be cleaned with the
streaming engine (JSON Lines is read line by line, so one bad line is quarantined instead of
refusing the file). Event columns are read as text and typed by the cleaner, so that a bad value
in one row is quarantined with a reason instead of failing the whole file. A column mapping
renames the user's columns to scenerec's (``{"uid": "user_id", ...}``). Files are told apart by
their columns (``table_kind``): events have user and item ids, a catalog item ids only.

Writers never replace an input (``guard_outputs``) and write through a temporary file renamed
at the end (``atomic_path``), so a crash mid-write leaves no half file.

* ``formats``: suffixes, compression, ``detect_format``.
* ``read``: ``scan_table``, ``scan_events``, ``read_catalog``, ``table_kind``, ``find_tables``.
* ``jsonl``: the line-by-line JSON Lines reader.
* ``files``: ``same_file``, ``guard_outputs``, ``atomic_path``, ``write_text_atomic``.
* ``write``: ``write_table``.
"""

from __future__ import annotations

from scenerec.data.io.files import (
    atomic_path,
    guard_outputs,
    same_file,
    write_bytes_atomic,
    write_text_atomic,
)
from scenerec.data.io.formats import FORMATS, Format, compression_of, detect_format, is_table_file
from scenerec.data.io.jsonl import read_json_lines
from scenerec.data.io.read import (
    TableKind,
    apply_mapping,
    data_columns,
    find_tables,
    input_errors,
    kind_of_file,
    polars_problem,
    read_catalog,
    require_item_id,
    scan_events,
    scan_table,
    table_kind,
)
from scenerec.data.io.write import write_table

__all__ = [
    "FORMATS",
    "Format",
    "TableKind",
    "apply_mapping",
    "atomic_path",
    "compression_of",
    "data_columns",
    "detect_format",
    "find_tables",
    "guard_outputs",
    "input_errors",
    "is_table_file",
    "kind_of_file",
    "polars_problem",
    "read_catalog",
    "read_json_lines",
    "require_item_id",
    "same_file",
    "scan_events",
    "scan_table",
    "table_kind",
    "write_bytes_atomic",
    "write_table",
    "write_text_atomic",
]
