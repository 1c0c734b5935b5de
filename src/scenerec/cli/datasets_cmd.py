"""``scenerec datasets list|fetch``: public datasets, verified and cached."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scenerec.cli._common import console, handle_errors

app = typer.Typer(help="List and fetch public datasets.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_cmd() -> None:
    """The datasets scenerec knows, and whether each is in the cache."""
    from scenerec.data.public import is_fetched, list_datasets

    t = Table(title="datasets")
    for col in ("name", "description", "cached"):
        t.add_column(col)
    for spec in list_datasets():
        t.add_row(spec.name, spec.description, "yes" if is_fetched(spec.name) else "")
    console.print(t)


@app.command("fetch")
@handle_errors
def fetch_cmd(
    name: Annotated[str, typer.Argument(help="dataset name (see `scenerec datasets list`)")],
    dest: Annotated[Path | None, typer.Option("--dest", help="target folder")] = None,
    from_path: Annotated[
        Path | None, typer.Option("--from", help="use a local copy instead of downloading")
    ] = None,
) -> None:
    """Download a dataset from its official source (checksums verified) into the cache."""
    from scenerec.data.public import fetch

    path = fetch(name, dest=dest, from_path=from_path)
    console.print(f"{name} -> {path}")
