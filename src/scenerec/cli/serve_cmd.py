"""``scenerec serve RUN_DIR``: the HTTP recommendation service over a trained run
(``scenerec.serving``; the API is described in docs/serving.md and at ``/openapi.json``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scenerec.cli._common import err_console, handle_errors

if TYPE_CHECKING:
    from scenerec.serving.engine import Engine


def _announce(host: str, port: int) -> Callable[[Engine], None]:
    def ready(engine: Engine) -> None:
        rep = engine.items.index.report
        index = (
            f"{rep.kind} index"
            if rep.kind == "exact"
            else f"{rep.kind} index, recall@10 {rep.recall_at_10:.3f} vs exact"
        )
        err_console.print(
            f"serving {engine.model.name} (run {engine.run_id[:12]}) on http://{host}:{port}: "
            f"{engine.counts['replayed']:,} stored events replayed, {rep.size:,} items in the "
            f"{index}; store {engine.store.display}",
            highlight=False,
            soft_wrap=True,
        )

    return ready


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @handle_errors
    def serve_cmd(
        run_dir: Annotated[Path, typer.Argument(help="a run directory from `scenerec train`")],
        host: Annotated[str, typer.Option("--host", help="interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                help="event store: sqlite:///FILE (default RUN_DIR/.events.sqlite) or "
                "postgresql://HOST:PORT/DB; ?table=NAME picks the table prefix",
            ),
        ] = None,
        consume: Annotated[
            str | None,
            typer.Option("--consume", help="also consume events from nats://HOST:PORT/SUBJECT"),
        ] = None,
        api_key_file: Annotated[
            Path | None,
            typer.Option(
                "--api-key-file", help="file holding the API key (default: $SCENEREC_API_KEY)"
            ),
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="serving YAML (limits, retrieval, online)")
        ] = None,
    ) -> None:
        """Serve recommendations, events, search and forgetting over HTTP (FastAPI + uvicorn),
        with a durable event store; the state is rebuilt from the run plus the stored events."""
        from scenerec.serving.auth import ApiKey
        from scenerec.serving.config import ServingConfig
        from scenerec.serving.server import serve

        key = ApiKey.load(api_key_file)
        cfg = ServingConfig.from_file(config) if config else ServingConfig()
        code = serve(
            run_dir,
            host=host,
            port=port,
            store=store,
            consume=consume,
            api_key=key,
            config=cfg,
            on_ready=_announce(host, port),
        )
        if code:
            raise typer.Exit(code)
