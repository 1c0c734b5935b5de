"""Root of the ``scenerec`` command: registers every sub-command (each lives in its own module)."""

from __future__ import annotations

from typing import Annotated

import typer

from scenerec import __version__
from scenerec.cli import (
    data_cmd,
    datasets_cmd,
    model_cmd,
    recommend_cmd,
    replay_cmd,
    serve_cmd,
    tune_cmd,
)
from scenerec.cli._common import configure_logging, quiet_third_party, set_debug

app = typer.Typer(
    name="scenerec",
    help="Cross-scenario recommendation enhanced by pretrained language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(datasets_cmd.app, name="datasets")
model_cmd.register(app)
recommend_cmd.register(app)
tune_cmd.register(app)
replay_cmd.register(app)
serve_cmd.register(app)

try:  # the text commands (encode, similar-items)
    from scenerec.cli import text_cmd

    app.command("encode")(text_cmd.encode_cmd)
    app.command("similar-items")(text_cmd.similar_items_cmd)
except ImportError:  # pragma: no cover - only while the text package is absent
    pass


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scenerec {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option("--debug", help="show tracebacks and other libraries' progress and warnings"),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """scenerec: clean behaviour logs, read item text with a language model, recommend across
    scenarios, evaluate honestly."""
    set_debug(debug)
    quiet_third_party(debug)
    configure_logging(verbose)


if __name__ == "__main__":  # pragma: no cover
    app()
