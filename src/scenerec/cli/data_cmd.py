"""``scenerec data inspect|clean|split``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from scenerec.cli._common import echo_json, err_console, handle_errors
from scenerec.cli._inputs import (
    CatalogMapOpt,
    CatalogOpt,
    FormatOpt,
    Inputs,
    MapOpt,
    SepOpt,
    resolve,
)
from scenerec.cli.output import Col, OutputOpt, num, show
from scenerec.data.dataset import Dataset
from scenerec.data.io import (
    guard_outputs,
    read_catalog,
    scan_events,
    scan_table,
    write_table,
    write_text_atomic,
)
from scenerec.errors import ConfigError

app = typer.Typer(help="Inspect, clean and split behaviour logs.", no_args_is_help=True)

PathArg = Annotated[
    Path,
    typer.Argument(help="events file, a catalog, a folder of events + catalog, or a public folder"),
]


def read_inputs(inputs: Inputs) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """The raw events and the catalog of resolved inputs (a public folder through its adapter)."""
    if inputs.public is not None or inputs.events is None:
        from scenerec.data.public import load_path

        loaded = load_path(inputs.public or inputs.files[0], format=inputs.format)
        return loaded.events.lazy(), loaded.catalog
    lf = scan_events(
        inputs.events, format=inputs.format, mapping=inputs.mapping, separator=inputs.sep
    )
    cat = None
    if inputs.catalog is not None:
        cat = read_catalog(inputs.catalog, mapping=inputs.catalog_mapping)
    return lf, cat


def _span(b: dict[str, Any]) -> str:
    lo, hi = b["time_min"], b["time_max"]
    if lo is None:
        return "-"
    if hi < 10_000_000:  # sequence positions, not epoch seconds
        return f"pos {lo}..{hi}"
    return f"{(hi - lo) / 86400:,.0f} days"


def show_stats(stats: dict[str, Any], output: str = "table") -> None:
    """The per-scenario table of ``Dataset.stats()``."""
    cols = [
        Col("scenario"),
        Col("users", lambda v: f"{v:,}", numeric=True),
        Col("items", lambda v: f"{v:,}", numeric=True),
        Col("events", lambda v: f"{v:,}", numeric=True),
        Col("sparsity", num(4), numeric=True),
        Col("top behaviours", wrap=True),
        Col("span", numeric=True),
    ]
    rows = []
    for name, b in [*stats["scenarios"].items(), ("ALL", stats["overall"])]:
        total = max(b["events"], 1)
        beh = " ".join(f"{k} {v / total:.0%}" for k, v in list(b["behaviors"].items())[:3])
        rows.append([name, b["users"], b["items"], b["events"], b["sparsity"], beh, _span(b)])
    show(rows, cols, title=f"{stats['name']}: per scenario", output=output)


def _catalog_summary(path: Path, inputs: Inputs, output: str) -> None:
    cat = read_catalog(path, format=inputs.format, mapping=inputs.catalog_mapping)
    rows = [[c, cat[c].drop_nulls().len(), cat[c].n_unique()] for c in cat.columns]
    if output == "json":
        echo_json({"catalog": str(path), "items": cat.height, "columns": cat.columns})
        return
    cols = [Col("column"), Col("filled", numeric=True), Col("distinct", numeric=True)]
    show(rows, cols, title=f"catalog {path.name}: {cat.height:,} items", output=output)


@app.command("inspect")
@handle_errors
def inspect_cmd(
    path: PathArg,
    format: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
    catalog: CatalogOpt = None,
    catalog_mapping: CatalogMapOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (= -O json)")] = False,
    output: OutputOpt = "table",
) -> None:
    """Per scenario: users, items, events, behaviours, time span, sparsity; overlap; text.

    A catalog on its own is recognised by its columns and summarised.
    """
    output = "json" if as_json else output
    inputs = resolve(
        path,
        catalog=catalog,
        format=format,
        mapping=mapping,
        catalog_mapping=catalog_mapping,
        sep=sep,
    )
    if inputs.events is None and inputs.public is None and inputs.catalog is not None:
        _catalog_summary(inputs.catalog, inputs, output)
        return
    if inputs.public is not None:
        from scenerec.data.public import load_path

        ds = load_path(inputs.public, format=inputs.format).to_dataset()
    else:
        from scenerec.data.clean import clean_events

        events, cat = read_inputs(inputs)
        result = clean_events(events, catalog=cat, file=inputs.events)
        rep = result.report
        err_console.print(
            f"cleaned with the default rules: {rep.input_rows:,} rows in, {rep.output_rows:,} "
            f"kept ({rep.timestamp_note}); see `scenerec data clean` for the quarantine",
            highlight=False,
            soft_wrap=True,
        )
        ds = Dataset(result.events, cat, name=path.stem)
    stats = ds.stats()
    if output == "json":
        echo_json(stats)
        return
    show_stats(stats, output)
    if output == "table":
        pairs = f"  (pairs: {stats['overlap_pairs']})" if stats["overlap_pairs"] else ""
        typer.echo(f"users in several scenarios: {stats['users_in_several_scenarios']:,}{pairs}")
        typer.echo(
            f"catalog items: {stats['catalog_items']:,}; without text: "
            f"{stats['items_without_text']:,}; without events: {stats['items_without_events']:,}"
        )


def _report_rows(rep: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [[reason, n] for reason, n in rep["rows_per_reason"].items() if n]
    return [*rows, ["kept", rep["output_rows"]], ["input", rep["input_rows"]]]


@app.command("clean")
@handle_errors
def clean_cmd(
    src: PathArg,
    out: Annotated[Path, typer.Argument(help="cleaned events (.parquet, .csv or .jsonl)")],
    quarantine: Annotated[
        Path | None, typer.Option("--quarantine", "-q", help="where rejected rows go")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="stop at the first bad row (naming the fix)")
    ] = False,
    format: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
    catalog: CatalogOpt = None,
    catalog_mapping: CatalogMapOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="CleaningConfig YAML")] = None,
    report_json: Annotated[
        Path | None, typer.Option("--report", help="write the report JSON")
    ] = None,
    output: OutputOpt = "table",
) -> None:
    """Validate and clean events (or a catalog); every row ends in OUT or in the quarantine with
    a reason. Inputs are never overwritten; outputs are written whole or not at all."""
    from scenerec.data.clean import CleaningConfig, clean_catalog, clean_events

    cfg = CleaningConfig.from_file(config) if config else CleaningConfig()
    if strict:
        cfg = cfg.model_copy(update={"strict": True})
    inputs = resolve(
        src,
        catalog=catalog,
        format=format,
        mapping=mapping,
        catalog_mapping=catalog_mapping,
        sep=sep,
    )
    q = quarantine or out.with_name(out.stem + ".quarantine.parquet")
    guard_outputs([*inputs.files, config], [out, q, report_json])
    if inputs.events is None and inputs.public is None and inputs.catalog is not None:
        table = scan_table(inputs.catalog, format=inputs.format, separator=inputs.sep)
        res = clean_catalog(table, file=inputs.catalog)
        kept, rejected, rep = res.catalog, res.quarantine, res.report
        what = f"catalog {inputs.catalog.name}"
    else:
        events, cat = read_inputs(inputs)
        result = clean_events(events, config=cfg, catalog=cat, file=inputs.events or src)
        kept, rejected, rep = result.events, result.quarantine, result.report.to_dict()
        what = f"events {(inputs.events or src).name}"
    write_table(kept, out)
    write_table(rejected, q)
    if report_json:
        write_text_atomic(report_json, json.dumps(rep, indent=2, default=str))
    if output == "json":
        echo_json(rep)
        return
    cols = [Col("rule"), Col("rows", lambda v: f"{v:,}", numeric=True)]
    show(_report_rows(rep), cols, title=f"cleaning {what}", output=output)
    if output == "table":
        if rep.get("timestamp_note"):
            typer.echo(f"timestamps: {rep['timestamp_note']}")
        flagged = (rep.get("bots") or {}).get("flagged_users") or []
        if flagged:
            typer.echo(f"bots: {len(flagged):,} users flagged, e.g. {', '.join(flagged[:3])}")
        typer.echo(f"cleaned -> {out}\nquarantine -> {q}")


def _read_split_input(src: Path) -> pl.DataFrame:
    from scenerec.data.io import detect_format, input_errors

    if detect_format(src) == "parquet":
        if not src.exists():
            scan_table(src)  # the one-line "file not found"
        with input_errors(src):
            return pl.read_parquet(src)
    with input_errors(src):
        return scan_events(src).collect()


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
    parts_out = [out_dir / f"{name}.parquet" for name in ("train", "valid", "test")]
    guard_outputs([src], parts_out)
    res = spec.apply(_read_split_input(src))
    parts = {"train": res.train, "valid": res.valid, "test": res.test}
    for name, frame in parts.items():
        if frame is not None:
            write_table(frame, out_dir / f"{name}.parquet")
            typer.echo(f"{name}: {frame.height:,} events -> {out_dir / (name + '.parquet')}")
