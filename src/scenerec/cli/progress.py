"""Progress of long commands on stderr: a spinner on a terminal, one log line per stage or epoch
otherwise (piped, redirected, CI), so that a long step is never silent.

The training loop (``scenerec.models.nn.trainer``) logs one INFO line per epoch with the epoch,
the loss, the validation metric and the epoch's seconds; while a ``Progress`` is open those
lines are shown here with an estimate of the time left (epochs to go x mean epoch time; a time
budget may stop training sooner). The embedding cache (``scenerec.text.cache``) logs how many
texts the language model is about to encode, the longest silent step otherwise.
"""

from __future__ import annotations

import logging
import re
import time
from types import TracebackType
from typing import Final

from rich.console import Console
from rich.status import Status

from scenerec.cli._common import err_console

# The loop's line: "<model>: epoch 2/20 loss 0.6931 metric 0.1234 (3.2s)".
_EPOCH: Final = re.compile(
    r"^(?P<name>.+?): epoch (?P<epoch>\d+)/(?P<epochs>\d+) loss (?P<loss>\S+)"
    r"(?: metric(?:\[(?P<mname>[^\]]+)\])? (?P<metric>\S+))?.*\((?P<seconds>[\d.]+)s\)"
)
_CACHE: Final = re.compile(r"^embedding cache \S+: (?P<hits>\d+) hits, encoding (?P<n>\d+) texts")
_TRAINER_LOGGER: Final = "scenerec.models.nn.trainer"
_CACHE_LOGGER: Final = "scenerec.text.cache"
_LOGGERS: Final = (_TRAINER_LOGGER, _CACHE_LOGGER)


def _clock(seconds: float) -> str:
    s = max(round(seconds), 0)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def describe_epoch(message: str, seen: dict[str, list[float]]) -> str:
    """The loop's epoch line as shown to a person: epoch, loss, validation NDCG@10, time left.
    ``seen`` keeps each model's epoch times (for the estimate). Unknown lines pass through."""
    m = _EPOCH.match(message)
    if m is None:
        return message
    epoch, epochs = int(m["epoch"]), int(m["epochs"])
    times = seen.setdefault(m["name"], [])
    times.append(float(m["seconds"]))
    left = (epochs - epoch) * sum(times) / len(times)
    parts = [f"{m['name']}: epoch {epoch}/{epochs}", f"loss {m['loss']}"]
    if m["metric"] is not None:
        parts.append(f"valid {m['mname'] or 'NDCG@10'} {m['metric']}")
    parts.append(f"{float(m['seconds']):.1f}s/epoch")
    parts.append(f"~{_clock(left)} left" if epoch < epochs else "done")
    return ", ".join(parts)


def describe_encoding(message: str) -> str:
    """The embedding cache's line as shown to a person."""
    m = _CACHE.match(message)
    if m is None:
        return message
    return f"language model: encoding {int(m['n']):,} texts ({int(m['hits']):,} from the cache)"


class _Handler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.seen: dict[str, list[float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == _CACHE_LOGGER:
            self.progress.line(describe_encoding(message))
        else:
            self.progress.line(describe_epoch(message, self.seen))


class Progress:
    """A context manager; call it with a stage message (``progress("fitting EASE")``).

    Args:
        start: the first message.
        target: where to write (default: stderr).
    """

    def __init__(self, start: str, *, target: Console | None = None) -> None:
        self.console = target or err_console
        self.first = start
        self.status: Status | None = None
        self.t0 = time.perf_counter()
        self._handler = _Handler(self)
        self._levels: dict[str, int] = {}

    def __enter__(self) -> Progress:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.addHandler(self._handler)
        if self.console.is_terminal:
            self.status = self.console.status(self.first)
            self.status.start()
        else:
            self.line(self.first)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.setLevel(level)
        if self.status is not None:
            self.status.stop()

    def __call__(self, message: str) -> None:
        """A new stage: the spinner's text on a terminal, a log line otherwise."""
        if self.status is not None:
            self.status.update(message)
        else:
            self.line(message)

    def line(self, message: str) -> None:
        """A line that stays (elapsed time first)."""
        self.console.print(
            f"[{_clock(time.perf_counter() - self.t0):>6}] {message}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
