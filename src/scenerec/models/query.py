"""What a caller asks a model (``RecQuery``, ``HistoryEvent``) and what it gets back
(``Ranked``), plus the runtime options of a fit (``FitOptions``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from scenerec.config import FrozenConfig, Settings

UnknownUserPolicy = Literal["raise", "fallback"]


@dataclass(frozen=True)
class HistoryEvent:
    """One event of an ad-hoc history (a user the model was not trained on)."""

    item_id: str
    scenario: str | None = None
    behavior: str = "click"
    timestamp: int = 0


@dataclass(frozen=True)
class RecQuery:
    """What to recommend.

    Attributes:
        user_id: a user known from training, or ``None`` with ``history``.
        history: an ad-hoc history; used instead of (not added to) a known user's history.
        scenario: the target scenario; ``None`` ranks all items.
        candidates: rank only these item ids.
        exclude: never return these item ids.
        exclude_seen: drop items the user already interacted with (in any scenario).
        unknown_user: ``raise`` UnknownEntityError, or ``fallback`` to popularity in the scenario.
    """

    user_id: str | None = None
    history: Sequence[HistoryEvent] | None = None
    scenario: str | None = None
    candidates: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    exclude_seen: bool = True
    unknown_user: UnknownUserPolicy = "raise"


@dataclass(frozen=True)
class Ranked:
    """An immutable ranking: item ids and float32 scores, best first.

    ``fallback`` is True when the model had no signal for the user (no history, or none the
    model can read) and the fallback policy (popularity in the target scenario) ranked instead.
    """

    item_ids: tuple[str, ...]
    scores: np.ndarray
    fallback: bool = False

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float32)
        scores.setflags(write=False)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.item_ids)


class FitOptions(FrozenConfig):
    """How a fit runs (not what it learns): passed to ``fit(..., options=)``.

    Models never read the environment themselves; the command line and experiments build this
    from ``SCENEREC_*`` settings (``FitOptions.from_env``).

    Attributes:
        threads: torch / BLAS / ALS threads; 0 means one per core.
        seed: overrides the model config's ``seed`` for this fit (e.g. repeated benchmark runs);
            the seed used is recorded in ``fit_info``.
        progress: show per-epoch progress of neural models on stderr.
        device: where torch models train and score. Only ``cpu`` is supported in this version.
    """

    threads: int = Field(default=0, ge=0)
    seed: int | None = None
    progress: bool = False
    device: Literal["cpu"] = "cpu"

    @classmethod
    def from_env(cls, **overrides: object) -> FitOptions:
        """Options with ``threads`` from ``SCENEREC_THREADS`` (see ``Settings``)."""
        data: dict[str, object] = {"threads": Settings.from_env().threads, **overrides}
        return cls.from_dict(data, source="fit options")

    def resolved_threads(self) -> int:
        """The thread count to use (``threads``, or the number of cores for 0)."""
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)


__all__ = ["FitOptions", "HistoryEvent", "Ranked", "RecQuery", "UnknownUserPolicy"]
