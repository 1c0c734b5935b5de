"""Shared CLI plumbing: one-line errors, exit codes, the console, option parsing."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from typer.exceptions import TyperException

from scenerec.errors import SceneRecError

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

_state = {"debug": False}


def set_debug(value: bool) -> None:
    _state["debug"] = value


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn scenerec errors (and bad files) into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException, click.ClickException, KeyboardInterrupt):
            raise  # usage errors keep click's exit code 2
        except (SceneRecError, OSError) as exc:
            if _state["debug"]:
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # a bug, not a user mistake: still one line unless --debug
            if _state["debug"]:
                raise
            err_console.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                "(rerun with --debug for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def parse_mapping(pairs: list[str] | None, option: str) -> dict[str, str]:
    """``["theirs=ours", ...]`` -> ``{"theirs": "ours"}``; bad syntax is a usage error (exit 2)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"expected THEIRS=OURS, got {pair!r}", param_hint=option)
        theirs, ours = pair.split("=", 1)
        out[theirs.strip()] = ours.strip()
    return out


def unescape_sep(sep: str | None) -> str | None:
    if sep is None:
        return None
    return {"\\t": "\t", "tab": "\t"}.get(sep, sep)


def echo_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
