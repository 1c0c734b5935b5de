"""``scenerec tune``: the same trial budget per model, validation only, a runnable tuned config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scenerec.cli.main import app
from scenerec.experiment import ExperimentConfig
from scenerec.tune import DEFAULT_SPACES, Space, space_of
from tests.cli.helpers import tiny_config

runner = CliRunner()


def test_tune_searches_each_model_with_the_same_budget_and_writes_a_tuned_config(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        tiny_config(
            "  - {name: itemknn, label: ItemKNN}\n  - {name: ease, label: EASE}\n",
        ),
        encoding="utf-8",
    )
    out = tmp_path / "tuned"
    r = runner.invoke(app, ["tune", str(cfg), "--trials", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    trials = json.loads((out / "tune.json").read_text())
    assert [t["label"] for t in trials] == ["ItemKNN", "EASE"]
    for t in trials:
        assert len(t["trials"]) == 3  # the same budget for every model
        assert t["best_value"] == max(x["value"] for x in t["trials"])
        searched = {k.split(".")[0] for k in DEFAULT_SPACES[t["label"].lower()]}
        assert searched <= set(t["best_params"])
    tuned = ExperimentConfig.from_file(out / "tuned.yaml")  # runnable as it is
    chosen = {m.display: m.params for m in tuned.models}
    assert chosen["EASE"]["reg"] == trials[1]["best_params"]["reg"]
    raw = yaml.safe_load((out / "tuned.yaml").read_text())
    assert "tune" not in raw


def test_tune_needs_validation_events_and_says_which_split_gives_them(tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        tiny_config("  - {name: itemknn}\n").replace(
            "split: {method: leave-last-out}", "split: {method: ratio, ratios: [0.8, 0.2]}"
        ),
        encoding="utf-8",
    )
    r = runner.invoke(app, ["tune", str(cfg), "--trials", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert "no validation events" in r.output


def test_a_config_space_replaces_the_default_and_bad_spaces_name_the_fix() -> None:
    from scenerec.errors import ConfigError
    from scenerec.models.registry import ModelSpec

    own = {"ItemKNN": {"k": Space(type="int", low=5, high=6)}}
    assert space_of(ModelSpec(name="itemknn", label="ItemKNN"), own) == own["ItemKNN"]
    with pytest.raises(ConfigError, match="low <= high"):
        Space.from_dict({"type": "float", "low": 2.0, "high": 1.0})
    with pytest.raises(ConfigError, match=r"tune\.spaces"):
        space_of(ModelSpec(name="nope-model", label="X"), {})
