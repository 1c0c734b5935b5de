"""One error hierarchy for scenerec.

Messages name the file, row, column or argument, the bad value, and the fix. The CLI turns
these into one line and exit code 1; the HTTP layer maps them to status codes in one handler.
"""

from __future__ import annotations

from pathlib import Path


class SceneRecError(Exception):
    """Base class of every error scenerec raises on purpose."""


def _where(file: str | Path | None, row: int | None, column: str | None) -> str:
    parts: list[str] = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


class SchemaError(SceneRecError, ValueError):
    """Input data does not match the schema.

    Args:
        problem: what is wrong, e.g. ``"timestamp is not a number"``.
        file: the file the data came from, if any.
        row: 1-based data row number (header excluded) in that file.
        column: the column at fault.
        value: the offending value.
        fix: one sentence telling the user how to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.value = value
        self.fix = fix
        where = _where(file, row, column)
        msg = f"{where}: {problem}" if where else problem
        if value is not None:
            msg += f" (got {value!r})"
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)


class UnknownEntityError(SceneRecError, KeyError):
    """A user, item or scenario id that the model or dataset does not know."""

    def __init__(self, kind: str, value: object, fix: str | None = None) -> None:
        self.kind = kind
        self.value = value
        msg = f"unknown {kind} {value!r}"
        if fix:
            msg += f". Fix: {fix}"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain sentence
        return self.message


class NotFittedError(SceneRecError, RuntimeError):
    """A model was used before ``fit`` (or ``load``)."""


class ConfigError(SceneRecError, ValueError):
    """A configuration value is invalid or inconsistent."""


class EncoderError(SceneRecError, RuntimeError):
    """A text encoder could not be loaded or failed to encode."""


class TrainingDivergedError(SceneRecError, FloatingPointError):
    """The loss or the gradient norm became NaN or infinite during training."""


class DataWarning(UserWarning):
    """Something in the data looks wrong but the run can continue."""
