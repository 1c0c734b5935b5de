"""BPRMF: the model contract, scenario scoping, early stopping."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenerec.models import FitOptions, HistoryEvent, RecQuery
from scenerec.models.bpr import BPRMF, BPRConfig
from scenerec.models.nn import TrainConfig
from scenerec.testing.contract import check_model
from scenerec.testing.oracle import make_oracle

# Small and short: the oracle has 160 users and 80 items.
_TRAIN = TrainConfig(epochs=10, batch_size=256, lr=0.01)


# Tiny models gain nothing from threads, and on a busy 2-core machine spinning threads make
# each step many times slower.
ONE = FitOptions(threads=1)


def test_contract(tmp_path: Path) -> None:
    check_model(lambda: BPRMF(BPRConfig(reg=1e-2, train=_TRAIN)), tmp_path=tmp_path, options=ONE)


def test_scenario_scope_ignores_other_scenarios_events() -> None:
    oracle = make_oracle()
    m = BPRMF(BPRConfig(reg=1e-2, scenario=oracle.source, train=_TRAIN)).fit(
        oracle.train, options=ONE
    )
    source = [
        HistoryEvent(i, oracle.source, "click", t) for t, i in enumerate(oracle.items("a", 0)[:4])
    ]
    noise = [
        HistoryEvent(i, oracle.target, "click", 10 + t)
        for t, i in enumerate(oracle.items("b", 2)[:4])
    ]
    q = RecQuery(history=source, scenario=oracle.source, exclude_seen=False)
    q_noise = RecQuery(history=source + noise, scenario=oracle.source, exclude_seen=False)
    a, b = m.recommend(q, k=10), m.recommend(q_noise, k=10)
    assert a.item_ids == b.item_ids and np.allclose(a.scores, b.scores)
    assert set(a.item_ids[:5]) <= set(oracle.items("a", 0))  # and it still finds the cluster


def test_early_stopping_on_held_out_users_is_recorded() -> None:
    oracle = make_oracle()
    train = TrainConfig(epochs=30, batch_size=256, lr=0.05, patience=2, valid_users=40)
    cfg = BPRConfig(reg=1e-2, train=train)
    m = BPRMF(cfg).fit(oracle.train, options=ONE)
    info = m.fit_info["train"]
    assert info["best_metric"] is not None and 0.0 <= info["best_metric"] <= 1.0
    assert all("metric" in row for row in info["history"])
    assert info["stopped"] in ("early_stopping", "max_epochs")
    if info["stopped"] == "early_stopping":
        assert info["epochs_run"] == info["best_epoch"] + 2
