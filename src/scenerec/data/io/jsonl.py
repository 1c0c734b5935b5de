"""JSON Lines, read line by line: a bad line becomes a row with a parse error, not a failed file.

Every value is kept as text (typing is the cleaner's job): strings as they are, numbers and
booleans as JSON writes them, objects and arrays as their JSON text, so that an object where a
timestamp should be ends in the quarantine with the value shown. ``source_row`` is the 1-based
line number; blank lines are skipped (they keep their number). A line that is not valid JSON,
or not a JSON object, gets the reason in ``parse_error`` and no values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import polars as pl

from scenerec.data.io.formats import compression_of
from scenerec.errors import SchemaError
from scenerec.schema import C

# How much of a bad line the parse error quotes.
_SNIPPET: Final = 60


def _read_bytes(path: Path) -> bytes:
    kind = compression_of(path)
    if kind is None:
        return path.read_bytes()
    try:
        if kind == "gzip":
            import gzip

            return gzip.decompress(path.read_bytes())
        import pyarrow as pa  # type: ignore[import-untyped]

        with pa.input_stream(str(path), compression="zstd") as f:
            data: bytes = f.read()
        return data
    except (OSError, EOFError, ValueError) as exc:  # pyarrow raises OSError subclasses
        raise SchemaError(
            f"cannot decompress ({kind}): {exc}", file=path, fix="check that the file is whole"
        ) from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _error(line: str, problem: str) -> str:
    snippet = line if len(line) <= _SNIPPET else line[:_SNIPPET] + "..."
    return f"{problem}: {snippet}"


def _parse(line: str) -> tuple[dict[str, Any], str | None]:
    """(the record, None) or ({}, why the line is not a JSON object)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, _error(line, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(record, dict):
        return {}, _error(line, f"a JSON {type(record).__name__}, not an object")
    return record, None


def json_lines_keys(path: str | Path, *, lines: int = 100) -> list[str]:
    """The keys of the first ``lines`` JSON objects of a file, in order of first appearance
    (enough to tell events from a catalog without reading the whole file)."""
    keys: dict[str, None] = {}
    text = _read_bytes(Path(path))[: 1 << 20].decode("utf-8", errors="replace")
    for raw in text.split("\n")[:lines]:
        record, _ = _parse(raw.strip()) if raw.strip() else ({}, None)
        keys.update(dict.fromkeys(record))
    return list(keys)


def read_json_lines(path: str | Path) -> pl.DataFrame:
    """Every line of a JSON Lines file (plain, ``.gz`` or ``.zst``) as a row of text columns,
    plus ``source_row`` (line number) and ``parse_error`` (null for good lines)."""
    p = Path(path)
    text = _read_bytes(p).decode("utf-8", errors="replace")
    columns: dict[str, list[str | None]] = {}
    rows: list[int] = []
    errors: list[str | None] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        n = len(rows)
        rows.append(number)
        record, problem = _parse(line)
        errors.append(problem)
        for key, value in record.items():
            columns.setdefault(key, [None] * n).append(_text(value))
        for col in columns.values():
            if len(col) == n:
                col.append(None)
    data: dict[str, list[Any]] = dict(columns)
    data[C.ROW] = rows
    data[C.PARSE_ERROR] = errors
    schema = {k: pl.String() for k in columns} | {C.ROW: pl.Int64(), C.PARSE_ERROR: pl.String()}
    return pl.DataFrame(data, schema=schema)
