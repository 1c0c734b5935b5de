"""``scenerec data inspect|clean|split``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from scenerec.cli._common import (
    console,
    echo_json,
    handle_errors,
    parse_mapping,
    unescape_sep,
)
from scenerec.data.dataset import Dataset
from scenerec.data.io import read_catalog, scan_events, write_table
from scenerec.errors import ConfigError

app = typer.Typer(help="Inspect, clean and split behaviour logs.", no_args_is_help=True)

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="csv, tsv, parquet, jsonl, or a public format: movielens, recbole, amazon, "
        "llmcdsr, urllm (default: detected)",
    ),
]
MapOpt = Annotated[
    list[str] | None, typer.Option("--map", help="rename a column: THEIRS=OURS (repeatable)")
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="CSV field separator (\\t for tab)")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="item catalog file")]


def load_any(
    path: Path,
    *,
    format: str | None,
    mapping: dict[str, str],
    sep: str | None,
    catalog: Path | None,
) -> Dataset:
    """A Dataset from an events file (cleaned with default rules) or a public dataset folder."""
    if path.is_dir() or (format is not None and format not in ("csv", "tsv", "parquet", "jsonl")):
        from scenerec.data.public import load_path

        return load_path(path, format=format).to_dataset()
    from scenerec.data.clean import clean_events

    lf = scan_events(path, format=format, mapping=mapping, separator=sep)
    cat = read_catalog(catalog) if catalog else None
    result = clean_events(lf, catalog=cat, file=path)
    return Dataset(result.events, cat, name=path.stem)


def _span(b: dict[str, Any]) -> str:
    lo, hi = b["time_min"], b["time_max"]
    if lo is None:
        return "-"
    if hi < 10_000_000:  # sequence positions, not epoch seconds
        return f"pos {lo}..{hi}"
    return f"{(hi - lo) / 86400:,.0f} days"


def stats_table(stats: dict[str, Any]) -> Table:
    t = Table(title=f"{stats['name']}: per scenario")
    t.add_column("scenario")
    for col in ("users", "items", "events", "sparsity"):
        t.add_column(col, justify="right")
    t.add_column("top behaviours")
    t.add_column("span", justify="right")
    rows = [*stats["scenarios"].items(), ("ALL", stats["overall"])]
    for name, b in rows:
        total = max(b["events"], 1)
        beh = " ".join(f"{k} {v / total:.0%}" for k, v in list(b["behaviors"].items())[:3])
        sparsity = "-" if b["sparsity"] is None else f"{b['sparsity']:.4f}"
        t.add_row(
            name, f"{b['users']:,}", f"{b['items']:,}", f"{b['events']:,}", sparsity, beh, _span(b)
        )
    return t


@app.command("inspect")
@handle_errors
def inspect_cmd(
    path: Annotated[Path, typer.Argument(help="events file, or a public dataset folder")],
    format: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
    catalog: CatalogOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Per scenario: users, items, events, behaviours, time span, sparsity; overlap; text."""
    ds = load_any(
        path,
        format=format,
        mapping=parse_mapping(mapping, "--map"),
        sep=unescape_sep(sep),
        catalog=catalog,
    )
    stats = ds.stats()
    if as_json:
        echo_json(stats)
        return
    console.print(stats_table(stats))
    console.print(
        f"users in several scenarios: [bold]{stats['users_in_several_scenarios']:,}[/]"
        + (f"  (pairs: {stats['overlap_pairs']})" if stats["overlap_pairs"] else "")
    )
    console.print(
        f"catalog items: {stats['catalog_items']:,}; without text: "
        f"{stats['items_without_text']:,}; without events: {stats['items_without_events']:,}"
    )


@app.command("clean")
@handle_errors
def clean_cmd(
    src: Annotated[Path, typer.Argument(help="raw events (csv/tsv/parquet/jsonl)")],
    out: Annotated[Path, typer.Argument(help="cleaned events (.parquet, .csv or .jsonl)")],
    quarantine: Annotated[
        Path | None, typer.Option("--quarantine", "-q", help="where rejected rows go")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first bad row")] = False,
    format: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
    catalog: CatalogOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="CleaningConfig YAML")] = None,
    report_json: Annotated[
        Path | None, typer.Option("--report", help="write the report JSON")
    ] = None,
) -> None:
    """Validate and clean events; every row ends in OUT or in the quarantine with a reason."""
    import json

    from scenerec.data.clean import CleaningConfig, clean_events, write_quarantine

    cfg = CleaningConfig.from_file(config) if config else CleaningConfig()
    if strict:
        cfg = cfg.model_copy(update={"strict": True})
    lf = scan_events(
        src, format=format, mapping=parse_mapping(mapping, "--map"), separator=unescape_sep(sep)
    )
    cat = read_catalog(catalog) if catalog else None
    with console.status("cleaning..."):
        result = clean_events(lf, config=cfg, catalog=cat, file=src)
    write_table(result.events, out)
    q = quarantine or out.with_name(out.stem + ".quarantine.parquet")
    write_quarantine(result, q)
    rep = result.report.to_dict()
    t = Table(title=f"cleaning {src.name}")
    t.add_column("rule")
    t.add_column("rows", justify="right")
    for reason, n in rep["rows_per_reason"].items():
        t.add_row(reason, f"{n:,}")
    t.add_row("[bold]kept", f"[bold]{rep['output_rows']:,}")
    t.add_row("[bold]input", f"[bold]{rep['input_rows']:,}")
    console.print(t)
    console.print(f"cleaned -> {out}\nquarantine -> {q}")
    if report_json:
        report_json.write_text(json.dumps(rep, indent=2, default=str), encoding="utf-8")


@app.command("split")
@handle_errors
def split_cmd(
    src: Annotated[Path, typer.Argument(help="cleaned events")],
    out_dir: Annotated[Path, typer.Argument(help="folder for train/valid/test parquet files")],
    method: Annotated[
        str,
        typer.Option("--method", "-m", help="leave-last-out, temporal, ratio, cold-in-scenario"),
    ] = "leave-last-out",
    scenario: Annotated[
        str | None, typer.Option("--scenario", "-s", help="target scenario")
    ] = None,
    cutoff: Annotated[
        int | None,
        typer.Option("--cutoff", help="temporal: cut-off (s); default: 90th percentile of time"),
    ] = None,
    ratios: Annotated[
        str, typer.Option("--ratios", help="ratio: e.g. 0.8,0.1,0.1")
    ] = "0.8,0.1,0.1",
    order: Annotated[str, typer.Option("--order", help="ratio: random or time")] = "random",
    fraction: Annotated[float, typer.Option("--fraction", help="cold: users held out")] = 0.2,
    valid: Annotated[
        bool, typer.Option("--valid", help="leave-last-out: also a valid event")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 2020,
) -> None:
    """Split cleaned events for honest evaluation (no future or test events in train).

    The options are the fields of an experiment config's ``split:`` block (``SplitSpec``),
    with the same defaults, so both make the same split.
    """
    from scenerec.data.split import SplitSpec

    methods = ("leave-last-out", "temporal", "ratio", "cold-in-scenario")
    if method not in methods:
        raise typer.BadParameter(f"{method!r} is not one of {methods}", param_hint="--method")
    try:
        r = tuple(float(x) for x in ratios.split(","))
    except ValueError:
        raise typer.BadParameter(f"not numbers: {ratios!r}", param_hint="--ratios") from None
    fields = {
        "method": method,
        "scenario": scenario,
        "valid": valid,
        "cutoff": cutoff,
        "ratios": r,
        "order": order,
        "fraction": fraction,
        "seed": seed,
    }
    try:
        spec = SplitSpec.from_dict(fields, source="scenerec data split")
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    events = (
        pl.read_parquet(src) if src.suffix in (".parquet", ".pq") else scan_events(src).collect()
    )
    res = spec.apply(events)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = {"train": res.train, "valid": res.valid, "test": res.test}
    for name, frame in parts.items():
        if frame is not None:
            write_table(frame, out_dir / f"{name}.parquet")
            console.print(f"{name}: {frame.height:,} events -> {out_dir / (name + '.parquet')}")
