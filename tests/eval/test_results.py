"""Result containers: group means, bootstrap intervals and strict-JSON plain data."""

from __future__ import annotations

import json

import pytest

from scenerec.errors import ConfigError
from scenerec.eval.protocol import evaluate
from tests.eval.conftest import Grouped


def test_group_means_are_means_over_members(grouped: Grouped) -> None:
    m, ds, test = grouped
    res = evaluate(m, test, train=ds, ks=(1, 2))
    app = res.scenarios["app"]
    for g, mask in app.groups.items():
        if mask.any():
            want = app.per_user["ndcg@2"][mask].mean()
            assert res.group_summary()["app"][g]["ndcg@2"] == pytest.approx(want)
    with pytest.raises(ConfigError, match="group"):
        app.mean("cold")


def test_intervals_bracket_the_means(grouped: Grouped) -> None:
    m, ds, test = grouped
    res = evaluate(m, test, train=ds, ks=(1, 2))
    iv = res.intervals(n_boot=200)
    summary = res.summary()
    assert set(iv) == {"app", "web", "all"}
    for scen, groups in iv.items():
        for name, ci in groups["all"].items():
            assert ci["mean"] == pytest.approx(summary[scen][name])
            assert ci["lo"] - 1e-12 <= ci["mean"] <= ci["hi"] + 1e-12
    assert "cold_in_target" in iv["app"] and "cold_in_target" not in iv["web"]  # empty left out
    d = res.to_dict(n_boot=50)
    assert d["summary"] == summary and d["n_boot"] == 50 and "intervals" in d
    # the empty web cold-in-target group has no mean: null, not NaN, in strict JSON
    assert d["groups"]["web"]["cold_in_target"]["ndcg@2"] is None
    json.dumps(d, allow_nan=False)
