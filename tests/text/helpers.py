"""Helpers shared by the text tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scenerec.schema import FloatMatrix
from scenerec.text.encoder import TextEncoder, TextKind


class CountingEncoder:
    """Wraps an encoder and records every text it is asked to encode."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.seen: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, kind: TextKind = "passage"
    ) -> FloatMatrix:
        self.seen.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size, kind=kind)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))
