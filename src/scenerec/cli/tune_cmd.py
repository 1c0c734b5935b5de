"""``scenerec tune``: hyper-parameter search on the validation split, the same budget per model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scenerec.cli._common import console, handle_errors
from scenerec.cli.progress import Progress


def register(app: typer.Typer) -> None:
    @app.command("tune")
    @handle_errors
    def tune_cmd(
        config: Annotated[Path, typer.Argument(help="experiment YAML (data, split, models)")],
        trials: Annotated[
            int | None,
            typer.Option("--trials", "-n", min=1, help="trials per model (default: tune.trials)"),
        ] = None,
        out: Annotated[
            Path, typer.Option("--out", help="where tune.json and tuned.yaml go")
        ] = Path("out/tune"),
    ) -> None:
        """Search every model's parameters with Optuna on the validation split (never test);
        write every trial and a tuned config ready for `scenerec experiment`."""
        import yaml

        from scenerec.experiment import ExperimentConfig, run_tuning
        from scenerec.tune import write_results

        cfg = ExperimentConfig.from_file(config)
        with Progress(f"tuning {cfg.name!r}") as progress:
            results = run_tuning(cfg, trials=trials, progress=progress)
        raw = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        path = write_results(results, raw, out)
        for r in results:
            console.print(
                f"{r.label}: best NDCG@{cfg.tune.k} {r.best_value:.4f} on valid "
                f"({len(r.trials)} trials, {r.seconds:.0f} s)"
            )
        console.print(f"trials -> {out / 'tune.json'}\ntuned config -> {path}")
