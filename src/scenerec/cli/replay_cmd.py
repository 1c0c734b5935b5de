"""``scenerec replay CONFIG.yaml --out DIR``: train on the first part of a time-ordered data set,
replay the rest, compare static / online / adaptive serving (``scenerec.online.replay``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scenerec.cli._common import err_console, handle_errors

if TYPE_CHECKING:
    from scenerec.online.replay import ReplaySettings


def _table(result: dict[str, Any], settings: ReplaySettings) -> None:
    from rich.table import Table

    from scenerec.cli._common import console

    k = settings.k
    t = Table(title=f"replay: {result['data']}")
    for col in ("strategy", "scored", f"hit@{k}", f"NDCG@{k}", "ms / rec"):
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for name, s in result["strategies"].items():
        t.add_row(
            name,
            f"{s['scored']:,}",
            f"{s[f'hit@{k}']:.4f}",
            f"{s[f'ndcg@{k}']:.4f}",
            f"{s['recommend_ms']:.2f}",
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    @app.command("replay")
    @handle_errors
    def replay_cmd(
        config: Annotated[Path, typer.Argument(help="replay YAML (data, model, replay)")],
        out: Annotated[
            Path, typer.Option("--out", help="where replay.json and replay.png go")
        ] = Path("out/replay"),
        max_events: Annotated[
            int | None, typer.Option("--max-events", help="replay at most this many events")
        ] = None,
    ) -> None:
        """Train on the first part of a time-ordered data set, replay the rest in time order
        (recommend before each event, score it, feed it back) and compare static, online and
        adaptive (online + fine-tuning + exploration) serving."""
        from scenerec.cli.progress import Progress
        from scenerec.cli.replay_config import ReplayConfig
        from scenerec.errors import SchemaError
        from scenerec.experiment import load_data
        from scenerec.models.query import FitOptions
        from scenerec.online.replay import replay
        from scenerec.online.replay_plot import plot_replay

        if out.exists() and not out.is_dir():
            raise SchemaError("is a file, expected a folder", file=out, fix="pass another --out")
        cfg = ReplayConfig.from_file(config)
        settings = cfg.replay
        if max_events is not None:
            settings = settings.model_copy(update={"max_events": max_events})
        with Progress(f"replay {cfg.name!r}") as progress:
            progress("loading and cleaning data")
            ds, _, _ = load_data(cfg.data, cfg.cleaning)
            result = replay(
                ds,
                cfg.model,
                settings,
                encoder=cfg.encoder,
                options=FitOptions.from_env(),
                progress=progress.line,
            )
        result = {"name": cfg.name, **result}
        _table(result, settings)
        out.mkdir(parents=True, exist_ok=True)
        (out / "replay.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        png = plot_replay(result, out / "replay.png", title=cfg.name)
        err_console.print(f"results -> {out / 'replay.json'}\nfigure  -> {png}", highlight=False)
