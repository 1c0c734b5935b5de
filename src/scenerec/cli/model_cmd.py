"""``scenerec demo|experiment|train``: the modelling commands (``recommend``: recommend_cmd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from scenerec.cli._common import err_console, handle_errors
from scenerec.cli.output import Col, OutputOpt, num, show
from scenerec.cli.progress import Progress
from scenerec.errors import ConfigError

if TYPE_CHECKING:
    from scenerec.experiment import ExperimentConfig

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override a config value, KEY.PATH=VALUE (YAML), e.g. data.synthetic.n_users=500 "
        "or models.2.params.train.epochs=1 (repeatable)",
    ),
]


def apply_sets(cfg: ExperimentConfig, pairs: list[str] | None) -> ExperimentConfig:
    """``cfg`` with each ``--set KEY.PATH=VALUE`` applied; a bad key or value is a usage error."""
    if not pairs:
        return cfg
    data: Any = cfg.to_dict()
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        parts = key.strip().split(".")
        if not eq or not all(parts):
            raise typer.BadParameter(f"expected KEY.PATH=VALUE, got {pair!r}", param_hint="--set")
        node = data
        try:
            for part in parts[:-1]:
                node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
            node[last] = yaml.safe_load(raw)
        except (ValueError, IndexError, TypeError, yaml.YAMLError):
            raise typer.BadParameter(
                f"{key!r} is not a path in the config", param_hint="--set"
            ) from None
    try:
        return type(cfg).from_dict(data, source="--set")
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from None


def show_results(result: dict[str, Any], *, protocol: str = "full", output: str = "table") -> None:
    """One row per (model, scenario) with the accuracy metrics at every k (Recall and HR as
    one column when they are the same number, as with one held-out item per user)."""
    from scenerec.eval.report_notes import SAME_RECALL_HIT_NOTE, recall_is_hit, table_metrics

    ks = result["config"]["eval"]["ks"]
    summaries = [e[protocol] for e in result["models"].values() if e.get(protocol) is not None]
    metrics = table_metrics(summaries, ks)
    cols = [Col("model"), Col("scenario"), Col("users", lambda v: f"{int(v):,}", numeric=True)]
    cols += [Col(f"{disp}@{k}", num(4), numeric=True) for k in ks for _, disp in metrics]
    cols.append(Col("fit s", num(2), numeric=True))
    rows = []
    for label, entry in result["models"].items():
        for scen, m in (entry.get(protocol) or {}).items():
            row = [label, scen, m["users"]]
            row += [m.get(f"{key}@{k}") for k in ks for key, _ in metrics]
            rows.append([*row, entry["fit_seconds"]])
    title = f"{result['config']['name']}: {protocol} ranking, test users"
    show(rows, cols, title=title, output=output, keys=2)
    if output == "table" and recall_is_hit(summaries, ks):
        typer.echo(SAME_RECALL_HIT_NOTE)


def _check_out_dir(out: Path) -> None:
    """Fail before a long run, not after it, when the output folder cannot be one."""
    from scenerec.errors import SchemaError

    if out.exists() and not out.is_dir():
        raise SchemaError("is a file, expected a folder", file=out, fix="pass another --out")


def _run(cfg: ExperimentConfig, out: Path | None, output: str) -> None:
    from scenerec.cli.data_cmd import show_stats
    from scenerec.data.io import write_text_atomic
    from scenerec.eval.report import write_report
    from scenerec.experiment import run_experiment
    from scenerec.provenance import provenance

    if out is not None:
        _check_out_dir(out)
    with Progress(f"experiment {cfg.name!r}") as progress:
        res = run_experiment(cfg, progress=progress, out_dir=out)
    data = {**res.to_dict(), "provenance": provenance()}
    if output == "table":
        if res.cleaning:
            c = res.cleaning
            dropped = ", ".join(f"{k} {v:,}" for k, v in c["rows_per_reason"].items() if v)
            typer.echo(
                f"cleaning: {c['input_rows']:,} rows in, {c['output_rows']:,} kept"
                + (f"; quarantined: {dropped}" if dropped else "")
            )
        show_stats(res.stats)
        typer.echo("split: " + ", ".join(f"{k} {v:,} events" for k, v in res.split_sizes.items()))
    for proto in cfg.eval.protocols:
        show_results(data, protocol=proto, output=output)
    if out is not None:
        write_text_atomic(out / "results.json", json.dumps(data, indent=2, default=str))
        report = write_report(data, out)
        err_console.print(
            f"results -> {out / 'results.json'}\nreport  -> {report}", highlight=False
        )


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo_cmd(
        out: Annotated[
            Path, typer.Option("--out", help="where results.json, report.md and runs/ go")
        ] = Path("out/demo"),
        sets: SetOpt = None,
        output: OutputOpt = "table",
    ) -> None:
        """Run the main job on the built-in sample platform; print results and write a report."""
        from scenerec.experiment import demo_config

        _run(apply_sets(demo_config(), sets), out, output)

    @app.command("experiment")
    @handle_errors
    def experiment_cmd(
        config: Annotated[Path, typer.Argument(help="experiment YAML")],
        out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("out"),
        sets: SetOpt = None,
        output: OutputOpt = "table",
    ) -> None:
        """Dataset + cleaning + split + models + metrics from one YAML file."""
        from scenerec.data.io import guard_outputs
        from scenerec.experiment import ExperimentConfig

        guard_outputs([config], [out / "results.json", out / "report.md"])
        _run(apply_sets(ExperimentConfig.from_file(config), sets), out, output)

    @app.command("train")
    @handle_errors
    def train_cmd(
        config: Annotated[Path, typer.Argument(help="experiment YAML (data, cleaning, models)")],
        out: Annotated[
            Path, typer.Option("--out", help="run directory (one folder per model if several)")
        ] = Path("runs/latest"),
        holdout: Annotated[
            bool, typer.Option("--holdout", help="fit on the split's train part only")
        ] = False,
        sets: SetOpt = None,
    ) -> None:
        """Fit the configured model(s) on all cleaned data (or the train part) and save runs."""
        from scenerec.experiment import ExperimentConfig, train_models

        cfg = apply_sets(ExperimentConfig.from_file(config), sets)
        _check_out_dir(out)
        with Progress(f"training {cfg.name!r}") as progress:
            paths = train_models(cfg, out, holdout=holdout, progress=progress)
        for label, path in paths.items():
            typer.echo(f"{label} -> {path}")
