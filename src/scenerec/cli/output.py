"""Tables on the command line that never truncate a number.

``show`` prints rows as a rich table when it fits the console; a table too wide for it is cut
into several tables of whole columns (the key columns repeated in each), so that no number is
ever shortened to ``0.05…``. ``--output-format csv`` or ``json`` prints the raw values instead,
for scripts.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import typer
from rich.console import Console
from rich.table import Table

from scenerec.cli._common import console, echo_json

OutputFormat = Literal["table", "csv", "json"]
_FORMATS: Final = ("table", "csv", "json")
# Widest a wrapping text column gets before its text folds onto the next line.
_TEXT_WIDTH: Final = 48
_MIN_TEXT: Final = 6


def check_format(value: str) -> OutputFormat:
    """The ``--output-format`` value, or a usage error (exit 2)."""
    if value not in _FORMATS:
        raise typer.BadParameter(
            f"{value!r} is not one of {_FORMATS}", param_hint="--output-format"
        )
    return value  # type: ignore[return-value]


OutputOpt = Annotated[
    str,
    typer.Option(
        "--output-format",
        "-O",
        help="table (wrapped to the terminal, never truncated), csv or json",
        callback=check_format,
    ),
]


@dataclass(frozen=True)
class Col:
    """One column: its header, how a value is shown in a table, and whether it is numeric
    (right-aligned, never wrapped) or free text (may wrap)."""

    name: str
    fmt: Callable[[Any], str] = str
    numeric: bool = False
    wrap: bool = False

    def cell(self, value: Any) -> str:
        return "" if value is None else self.fmt(value)


def num(digits: int = 4) -> Callable[[Any], str]:
    """A formatter with ``digits`` decimals (thousands separated)."""
    return lambda v: f"{float(v):,.{digits}f}"


def _width(col: Col, cells: list[str]) -> int:
    w = max([len(col.name), *(len(c) for c in cells)])
    return min(w, _TEXT_WIDTH) if col.wrap else w


def _fit_text(
    widths: list[int], cols: Sequence[Col], cells: list[list[str]], room: int
) -> list[int]:
    """Narrow the wrapping text columns (down to their longest word) until the table fits, if
    it can; numbers keep their width."""
    out = list(widths)
    excess = sum(out) + 3 * len(out) + 1 - room
    for i, c in enumerate(cols):
        if excess <= 0:
            break
        if c.wrap:
            floor = max([_MIN_TEXT, *(len(w) for r in cells for w in r[i].split())])
            cut = max(min(excess, out[i] - floor), 0)
            out[i] -= cut
            excess -= cut
    return out


def _chunks(widths: list[int], keys: int, room: int) -> list[list[int]]:
    """Column indices of each printed table: the key columns plus as many others as fit."""
    base = sum(widths[:keys]) + 3 * keys + 1
    out: list[list[int]] = []
    current: list[int] = []
    used = base
    for i in range(keys, len(widths)):
        if current and used + widths[i] + 3 > room:
            out.append(current)
            current, used = [], base
        current.append(i)
        used += widths[i] + 3
    if current or not out:
        out.append(current)
    return [list(range(keys)) + c for c in out]


def show(
    rows: Sequence[Sequence[Any]],
    cols: Sequence[Col],
    *,
    title: str = "",
    output: str = "table",
    keys: int = 1,
    target: Console | None = None,
) -> None:
    """Print ``rows`` (raw values, one per column) as a table, CSV or JSON.

    Args:
        rows: the values; ``None`` prints as an empty cell.
        cols: the columns.
        title: the table title (tables only).
        output: ``table``, ``csv`` or ``json``.
        keys: the first ``keys`` columns identify a row and repeat when a wide table is cut.
        target: the console (default: stdout).
    """
    if output == "json":
        echo_json([{c.name: v for c, v in zip(cols, row, strict=True)} for row in rows])
        return
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.name for c in cols])
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return
    out = target or console
    cells = [[c.cell(v) for c, v in zip(cols, row, strict=True)] for row in rows]
    widths = [_width(c, [r[i] for r in cells]) for i, c in enumerate(cols)]
    widths = _fit_text(widths, cols, cells, out.width)
    parts = _chunks(widths, min(keys, len(cols)), out.width)
    for n, idx in enumerate(parts, 1):
        label = title if len(parts) == 1 else f"{title} ({n}/{len(parts)})"
        table = Table(title=label or None)
        for i in idx:
            c = cols[i]
            table.add_column(
                c.name,
                justify="right" if c.numeric else "left",
                no_wrap=not c.wrap,
                overflow="fold",
                min_width=widths[i],
                max_width=widths[i] if c.wrap else None,
            )
        for r in cells:
            table.add_row(*(r[i] for i in idx))
        out.print(table)
