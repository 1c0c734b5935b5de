"""Which table format a file holds: from ``--format`` or its suffix, through compression."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from scenerec.errors import SchemaError

Format = Literal["csv", "tsv", "parquet", "jsonl"]
FORMATS: Final = ("csv", "tsv", "parquet", "jsonl")

_SUFFIXES: Final[dict[str, Format]] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
#: Compression suffixes read transparently (``events.csv.gz``, ``events.jsonl.zst``).
COMPRESSIONS: Final[dict[str, str]] = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".zstd": "zstd",
}


def compression_of(path: str | Path) -> str | None:
    """``gzip``, ``zstd`` or ``None``, from the last suffix."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def _table_suffix(path: str | Path) -> str:
    p = Path(path)
    if compression_of(p) is not None:
        p = p.with_suffix("")
    return p.suffix.lower()


def is_table_file(path: str | Path) -> bool:
    """Whether the suffix names a table format (possibly compressed)."""
    return Path(path).is_file() and _table_suffix(path) in _SUFFIXES


def detect_format(path: str | Path, format: str | None = None) -> Format:
    """The file format, from ``format`` if given, else from the suffix (``.csv.gz`` is csv)."""
    if format is not None:
        if format not in FORMATS:
            raise SchemaError(
                f"unknown format {format!r}", file=path, fix="use csv, tsv, parquet or jsonl"
            )
        return format  # type: ignore[return-value]
    suffix = _table_suffix(path)
    if suffix not in _SUFFIXES:
        raise SchemaError(
            f"cannot tell the format from the suffix {suffix or Path(path).name!r}",
            file=path,
            fix="pass --format csv|tsv|parquet|jsonl (compressed files: name.csv.gz, .zst)",
        )
    fmt = _SUFFIXES[suffix]
    if fmt == "parquet" and compression_of(path) is not None:
        raise SchemaError(
            "a compressed Parquet file cannot be read",
            file=path,
            fix="decompress it: Parquet compresses its own columns",
        )
    return fmt
