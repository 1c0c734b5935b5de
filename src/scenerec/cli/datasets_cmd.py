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


@app.command("sample")
@handle_errors
def sample_cmd(
    dest: Annotated[Path, typer.Argument(help="folder for events.csv and catalog.csv")],
    users: Annotated[
        int | None, typer.Option("--users", min=2, help="users (bots included)")
    ] = None,
    items: Annotated[int | None, typer.Option("--items", min=1, help="catalog size")] = None,
    events: Annotated[int | None, typer.Option("--events", min=1, help="event rows")] = None,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    force: Annotated[bool, typer.Option("--force", help="replace existing files")] = False,
) -> None:
    """Write the built-in sample platform (the data `scenerec demo` runs on) as raw files:
    events.csv (with the malformed rows, duplicates and bots real logs have) and catalog.csv."""
    from scenerec.data.synthetic import SyntheticConfig, generate
    from scenerec.errors import SchemaError

    sizes = {"n_users": users, "n_items": items, "n_events": events}
    data = {"seed": seed, **{k: v for k, v in sizes.items() if v is not None}}
    config = SyntheticConfig.from_dict(data, source="scenerec datasets sample")
    for name in ("events.csv", "catalog.csv"):
        if (dest / name).exists() and not force:
            raise SchemaError("already exists", file=dest / name, fix="pass --force to replace it")
    paths = generate(config).write(dest)
    for name, path in paths.items():
        console.print(f"{name} -> {path}", highlight=False)
