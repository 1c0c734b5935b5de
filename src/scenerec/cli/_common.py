"""Shared CLI plumbing: one-line errors, the exit-code convention, logging, option parsing.

Exit codes, the same for every command:

* 0: done.
* 1: bad input or a failure: a file, a run directory, an id or a config the command cannot use
  (one line on stderr naming the file, row, column or field and the fix; ``--debug`` shows the
  traceback).
* 2: a usage mistake on the command line itself: an unknown option, a missing argument, an
  option value out of range (click's message and the usage line).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

import click
import polars as pl
import typer
from rich.console import Console
from typer.exceptions import TyperException

from scenerec.errors import DataWarning, SceneRecError

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_INPUT: Final = 1
EXIT_USAGE: Final = 2

_state = {"debug": False}
_THIRD_PARTY: Final = (
    r"(torch|transformers|sentence_transformers|huggingface_hub|tokenizers|onnx|onnxruntime"
    r"|implicit|threadpoolctl|sklearn|matplotlib)(\..*)?"
)


def set_debug(value: bool) -> None:
    _state["debug"] = value


def _fail(message: str) -> typer.Exit:
    err_console.print(message, highlight=False, soft_wrap=True, markup=False)
    return typer.Exit(EXIT_INPUT)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn scenerec errors (and unreadable files) into one line on stderr and exit code 1;
    usage errors keep click's exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException, click.ClickException, KeyboardInterrupt):
            raise
        except (SceneRecError, OSError) as exc:
            if _state["debug"]:
                raise
            raise _fail(f"error: {exc}") from None
        except (pl.exceptions.PolarsError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            # A reader the library does not wrap yet: still the input's fault, not a bug.
            if _state["debug"]:
                raise
            text = " ".join(str(exc).split())[:300]
            raise _fail(f"error: cannot read the input ({type(exc).__name__}: {text})") from None
        except Exception as exc:  # a bug, not a user mistake: still one line unless --debug
            if _state["debug"]:
                raise
            raise _fail(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                "traceback)"
            ) from None

    return wrapper


def configure_logging(verbose: bool) -> None:
    """One stderr handler on the root logger: INFO with ``--verbose``, else WARNING. Loggers
    that progress displays raise to INFO (the training loop) then reach only those displays."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_scenerec", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._scenerec = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    level = logging.INFO if verbose else logging.WARNING
    handler.setLevel(level)
    root.setLevel(level)


def quiet_third_party(debug: bool) -> None:
    """Silence other libraries' progress bars and warnings (transformers' "Loading weights",
    deprecation notices) unless ``--debug``."""
    if debug:
        return
    for key, value in (
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(key, value)
    if "transformers" in sys.modules:  # imported before the variables were set
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.utils as hub_utils

        hub_utils.disable_progress_bars()  # type: ignore[attr-defined]
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=_THIRD_PARTY)
    warnings.showwarning = _show_data_warning


_default_showwarning = warnings.showwarning


def _show_data_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """scenerec's own data warnings as one line ("warning: ..."), without a source path."""
    if issubclass(category, DataWarning):
        print(f"warning: {message}", file=sys.stderr)
        return
    _default_showwarning(message, category, filename, lineno, file, line)


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
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
