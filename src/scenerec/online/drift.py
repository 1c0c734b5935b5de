"""Drift detection on each scenario's hit rate of served recommendations.

Every served list whose user acts next in the same scenario yields an outcome: 1 when the item
acted on was in the list (a click on a recommendation, hit@k), else 0. Each scenario feeds its
outcomes to a detector from ``river`` (ADWIN by default, Page-Hinkley optionally); a detected
change is logged, kept in ``events`` and reported to the caller, which starts a fine-tune.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from scenerec.online.config import DriftConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    """One detected change.

    Attributes:
        scenario: where.
        at_event: the online layer's event counter when it was detected.
        timestamp: the event time (seconds) of the outcome that revealed it.
        outcomes: outcomes the scenario had seen so far.
        rate_before: the scenario's hit rate over all outcomes before the change.
        rate_now: the detector's estimate of the current rate (ADWIN: the mean of the window
            it kept), or the recent hit rate for Page-Hinkley.
    """

    scenario: str
    at_event: int
    timestamp: int
    outcomes: int
    rate_before: float
    rate_now: float


class DriftMonitor:
    """One detector per scenario (see the module docstring)."""

    def __init__(self, config: DriftConfig) -> None:
        self.config = config
        self._detectors: dict[str, Any] = {}
        self._n: dict[str, int] = {}
        self._hits: dict[str, float] = {}
        self._recent: dict[str, float] = {}
        self._last: dict[str, int] = {}
        self.events: list[Drift] = []

    def _detector(self) -> Any:
        from river import drift  # here, not at import: river.drift loads scikit-learn (1.6 s)

        if self.config.detector == "adwin":
            return drift.ADWIN(delta=self.config.delta)  # type: ignore[no-untyped-call]
        return drift.PageHinkley(threshold=self.config.threshold, mode="down")

    def update(self, scenario: str, hit: bool, *, at_event: int, timestamp: int) -> Drift | None:
        """Feed one outcome; returns the drift it revealed, if any (after ``min_samples``
        outcomes and outside the cooldown)."""
        if not self.config.enabled:
            return None
        det = self._detectors.get(scenario)
        if det is None:
            det = self._detectors[scenario] = self._detector()
        x = 1.0 if hit else 0.0
        before = self._hits.get(scenario, 0.0) / max(self._n.get(scenario, 0), 1)
        self._n[scenario] = n = self._n.get(scenario, 0) + 1
        self._hits[scenario] = self._hits.get(scenario, 0.0) + x
        self._recent[scenario] = 0.98 * self._recent.get(scenario, x) + 0.02 * x
        det.update(x)
        if not det.drift_detected or n < self.config.min_samples:
            return None
        last = self._last.get(scenario)
        if last is not None and at_event - last < self.config.cooldown_events:
            return None
        self._last[scenario] = at_event
        now = float(getattr(det, "estimation", self._recent[scenario]))
        found = Drift(scenario, at_event, timestamp, n, round(before, 4), round(now, 4))
        self.events.append(found)
        log.info(
            "drift in scenario %r after %d outcomes: hit rate %.3f -> %.3f",
            scenario,
            n,
            before,
            now,
        )
        return found

    def report(self) -> dict[str, Any]:
        """Outcomes and hit rate per scenario, and every drift detected."""
        return {
            "detector": self.config.detector,
            "scenarios": {
                s: {"outcomes": n, "hit_rate": round(self._hits[s] / n, 4)}
                for s, n in self._n.items()
            },
            "drifts": [asdict(d) for d in self.events],
        }


__all__ = ["Drift", "DriftMonitor"]
