"""What the built-in backends share: fingerprints, progress bars and ``BatchedEncoder``.

``BatchedEncoder`` does, once for every backend, what the ``TextEncoder`` contract asks beyond
the model itself: input validation, the query/passage prefix, length-sorted batches, a progress
bar, the output shape check and L2 normalisation. A backend implements ``_prepare`` (load the
model) and ``_encode_batch`` (raw vectors for one batch of prefixed texts).
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np

from scenerec.errors import ConfigError, EncoderError
from scenerec.schema import FloatMatrix
from scenerec.text.encoder import EncoderConfig, TextKind, check_texts, l2_normalize

# Show a progress bar by default only for inputs this large (small calls stay quiet).
PROGRESS_MIN_TEXTS = 10_000


def make_fingerprint(backend: str, label: str, parts: Mapping[str, object]) -> str:
    """``<backend>-<label>-<16 hex>``: readable, file-name safe, and a hash of ``parts``.

    Args:
        backend: backend name.
        label: short human label (the model name); sanitised.
        parts: everything that determines the vectors, JSON-serialisable.
    """
    payload = json.dumps({"backend": backend, **parts}, sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", label).strip("_")[-48:] or "model"
    return f"{backend}-{slug}-{digest}"


@contextmanager
def progress_bar(
    total: int, *, enabled: bool | None, label: str
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over ``total`` texts; yields ``advance(n)``.

    ``enabled=None`` shows it only on a terminal and for at least ``PROGRESS_MIN_TEXTS`` texts.
    """
    from rich.console import Console

    console = Console(stderr=True)
    show = enabled if enabled is not None else (total >= PROGRESS_MIN_TEXTS and console.is_terminal)
    if not show:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


class BatchedEncoder(ABC):
    """Base of the built-in backends: validation, prefixes, length-sorted batches, progress,
    normalisation. Subclasses implement ``_encode_batch`` on prefixed texts."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

    def _fingerprint(self, backend: str, label: str, parts: Mapping[str, object]) -> str:
        """``make_fingerprint`` of ``parts`` plus what every backend's vectors depend on: the
        token limit and the prefixes."""
        common = {
            "max_tokens": self.config.max_tokens,
            "query_prefix": self.config.query_prefix,
            "passage_prefix": self.config.passage_prefix,
        }
        return make_fingerprint(backend, label, {**common, **parts})

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Raw (not necessarily normalised) vectors ``(len(texts), dim)`` for one batch."""

    @abstractmethod
    def _prepare(self) -> None:
        """Load what the backend needs before the first batch (model, session)."""

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, kind: TextKind = "passage"
    ) -> FloatMatrix:
        """See ``TextEncoder.encode``."""
        items = check_texts(texts)
        bs = batch_size if batch_size is not None else self.config.batch_size
        if bs <= 0:
            raise ConfigError(f"batch_size must be positive (got {bs})")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._prepare()
        prefix = self.config.prefix(kind)
        if prefix:
            items = [prefix + t for t in items]
        # Longest first, so that each batch pads to similar lengths (less wasted compute) and
        # the slowest batches come first (the time estimate is pessimistic, not optimistic).
        order = np.argsort([-len(t) for t in items], kind="stable")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with progress_bar(len(items), enabled=self.config.progress, label="encoding") as advance:
            for start in range(0, len(items), bs):
                idx = order[start : start + bs]
                vecs = self._encode_batch([items[i] for i in idx])
                if vecs.shape != (len(idx), self.dim):
                    raise EncoderError(
                        f"{type(self).__name__} returned shape {vecs.shape} for a batch of "
                        f"{len(idx)} texts (expected ({len(idx)}, {self.dim}))"
                    )
                out[idx] = l2_normalize(vecs)
                advance(len(idx))
        return out
