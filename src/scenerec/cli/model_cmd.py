"""``scenerec demo|experiment|train|recommend``: the modelling commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scenerec.cli._common import console, echo_json, handle_errors


def _titles(run_dir: Path, item_ids: tuple[str, ...]) -> dict[str, str]:
    """Titles from the run's catalog copy, when it has one."""
    f = run_dir / "catalog.parquet"
    if not f.exists() or not item_ids:
        return {}
    import polars as pl

    cat = pl.read_parquet(f)
    if "title" not in cat.columns:
        return {}
    sel = cat.filter(pl.col("item_id").is_in(list(item_ids)))
    return {r[0]: r[1] or "" for r in sel.select("item_id", "title").iter_rows()}


def results_table(result: dict[str, Any], *, protocol: str = "full") -> Table:
    """One row per (model, scenario) with the accuracy metrics at every k."""
    ks = result["config"]["eval"]["ks"]
    t = Table(title=f"{result['config']['name']}: {protocol} ranking, test users")
    t.add_column("model")
    t.add_column("scenario")
    t.add_column("users", justify="right")
    for k in ks:
        t.add_column(f"Recall@{k}", justify="right")
        t.add_column(f"NDCG@{k}", justify="right")
        t.add_column(f"HR@{k}", justify="right")
    t.add_column("fit s", justify="right")
    for label, entry in result["models"].items():
        summary = entry.get(protocol)
        if summary is None:
            continue
        first = True
        for scen, m in summary.items():
            cells = [label if first else "", scen, f"{int(m['users']):,}"]
            for k in ks:
                cells += [
                    f"{m[f'recall@{k}']:.4f}",
                    f"{m[f'ndcg@{k}']:.4f}",
                    f"{m[f'hit@{k}']:.4f}",
                ]
            cells.append(f"{entry['fit_seconds']:.2f}" if first else "")
            t.add_row(*cells)
            first = False
        t.add_section()
    return t


def _run(cfg_path: Path | None, out: Path | None, demo: bool) -> None:
    from scenerec.cli.data_cmd import stats_table
    from scenerec.eval.report import write_report
    from scenerec.experiment import ExperimentConfig, demo_config, run_experiment

    cfg = demo_config() if demo else ExperimentConfig.from_file(cfg_path)  # type: ignore[arg-type]
    with console.status("starting") as status:
        res = run_experiment(cfg, progress=lambda m: status.update(m), out_dir=out)
    data = res.to_dict()
    if res.cleaning:
        c = res.cleaning
        dropped = ", ".join(f"{k} {v:,}" for k, v in c["rows_per_reason"].items() if v)
        console.print(
            f"cleaning: {c['input_rows']:,} rows in, {c['output_rows']:,} kept"
            + (f"; quarantined: {dropped}" if dropped else "")
        )
    console.print(stats_table(res.stats))
    console.print("split: " + ", ".join(f"{k} {v:,} events" for k, v in res.split_sizes.items()))
    for proto in cfg.eval.protocols:
        console.print(results_table(data, protocol=proto))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        report = write_report(data, out)
        console.print(f"results -> {out / 'results.json'}\nreport  -> {report}")


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo_cmd(
        out: Annotated[
            Path, typer.Option("--out", help="where results.json and report.md go")
        ] = Path("out/demo"),
    ) -> None:
        """Run the main job on the built-in sample platform; print results and write a report."""
        _run(None, out, demo=True)

    @app.command("train")
    @handle_errors
    def train_cmd(
        config: Annotated[Path, typer.Argument(help="experiment YAML (data, cleaning, models)")],
        out: Annotated[Path, typer.Option("--out", help="run directory")] = Path("runs/latest"),
        holdout: Annotated[
            bool, typer.Option("--holdout", help="fit on the split's train part only")
        ] = False,
    ) -> None:
        """Fit the configured model(s) on all cleaned data (or the train part) and save runs."""
        from scenerec.experiment import ExperimentConfig, train_models

        cfg = ExperimentConfig.from_file(config)
        with console.status("training") as status:
            paths = train_models(cfg, out, holdout=holdout, progress=status.update)
        for label, path in paths.items():
            console.print(f"{label} -> {path}")

    @app.command("recommend")
    @handle_errors
    def recommend_cmd(
        run_dir: Annotated[Path, typer.Argument(help="a run directory from `scenerec train`")],
        user: Annotated[str | None, typer.Option("--user", "-u", help="a known user id")] = None,
        scenario: Annotated[
            str | None, typer.Option("--scenario", "-s", help="target scenario")
        ] = None,
        k: Annotated[int, typer.Option("-k", help="how many items")] = 10,
        history: Annotated[
            str | None,
            typer.Option(
                "--history",
                help="ad-hoc history: comma-separated item ids, each optionally item@scenario",
            ),
        ] = None,
        fallback: Annotated[
            bool, typer.Option("--fallback", help="popular items for unknown users")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Top-k items for a user (or an ad-hoc history) in a target scenario."""
        from scenerec.models import HistoryEvent, RecQuery, load_run

        if (user is None) == (history is None):
            raise typer.BadParameter("give exactly one of --user and --history")
        events = None
        if history is not None:
            events = []
            for pos, token in enumerate(x.strip() for x in history.split(",") if x.strip()):
                item, _, scen = token.partition("@")
                events.append(HistoryEvent(item, scen or scenario, "click", pos))
        model = load_run(run_dir)
        ranked = model.recommend(
            RecQuery(
                user_id=user,
                history=events,
                scenario=scenario,
                unknown_user="fallback" if fallback else "raise",
            ),
            k=k,
        )
        titles = _titles(run_dir, ranked.item_ids)
        if as_json:
            echo_json(
                {
                    "items": list(ranked.item_ids),
                    "scores": [float(x) for x in ranked.scores],
                    "fallback": ranked.fallback,
                }
            )
            return
        t = Table(
            title=f"{model.name}: top {k} for {user or 'ad-hoc history'} in {scenario or 'all'}"
        )
        t.add_column("#", justify="right")
        t.add_column("item")
        t.add_column("title")
        t.add_column("score", justify="right")
        for i, (item, score) in enumerate(zip(ranked.item_ids, ranked.scores, strict=True), 1):
            t.add_row(str(i), item, titles.get(item, ""), f"{score:.4f}")
        console.print(t)
        if ranked.fallback:
            console.print("(popularity fallback: no history for this user)")

    @app.command("experiment")
    @handle_errors
    def experiment_cmd(
        config: Annotated[Path, typer.Argument(help="experiment YAML")],
        out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("out"),
    ) -> None:
        """Dataset + cleaning + split + models + metrics from one YAML file."""
        _run(config, out, demo=False)
