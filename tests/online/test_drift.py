"""Drift detection on a scenario's hit rate (river's ADWIN and Page-Hinkley)."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.online import DriftConfig
from scenerec.online.drift import DriftMonitor


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley"])
def test_a_drop_in_hit_rate_is_detected_once_and_only_after_it(detector: str) -> None:
    mon = DriftMonitor(DriftConfig(detector=detector, min_samples=100, cooldown_events=10_000))
    rng = np.random.default_rng(0)
    found = []
    for n in range(6_000):
        rate = 0.4 if n < 3_000 else 0.05
        d = mon.update("app", bool(rng.random() < rate), at_event=n, timestamp=n)
        if d is not None:
            found.append(d)
    assert len(found) == 1
    assert 3_000 <= found[0].at_event < 3_600
    assert found[0].rate_before > 0.3
    rep = mon.report()
    assert rep["scenarios"]["app"]["outcomes"] == 6_000 and len(rep["drifts"]) == 1


def test_a_steady_rate_raises_no_alarm() -> None:
    mon = DriftMonitor(DriftConfig(min_samples=100))
    rng = np.random.default_rng(1)
    assert not any(
        mon.update("web", bool(rng.random() < 0.3), at_event=n, timestamp=n) for n in range(5_000)
    )


def test_disabled_monitor_reports_nothing() -> None:
    mon = DriftMonitor(DriftConfig(enabled=False, min_samples=1))
    assert all(mon.update("a", n < 50, at_event=n, timestamp=n) is None for n in range(200))
