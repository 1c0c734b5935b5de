"""train / recommend / experiment from the command line, on a small sample platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenerec.cli.main import app
from tests.cli.helpers import tiny_config

runner = CliRunner()

CONFIG = tiny_config("  - {name: popularity, label: Pop, params: {scope: scenario}}")


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    f = tmp_path / "exp.yaml"
    f.write_text(CONFIG)
    return f


def test_experiment_writes_results(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["experiment", str(config), "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    data = json.loads((out / "results.json").read_text())
    pop = data["models"]["Pop"]
    assert set(pop["full"]) >= {"app", "web"}
    assert 0.0 <= pop["full"]["app"]["ndcg@10"] <= 1.0
    assert "sampled" in pop
    assert data["split"]["test"] > 0 and data["split"]["train"] > data["split"]["test"]


def test_train_then_recommend(config: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    res = runner.invoke(app, ["train", str(config), "--out", str(run_dir)])
    assert res.exit_code == 0, res.stderr
    assert (run_dir / "manifest.json").exists()
    user = json.loads((run_dir / "vocabularies.json").read_text())["users"][0]
    res = runner.invoke(
        app, ["recommend", str(run_dir), "-u", user, "-s", "web", "-k", "5", "--json"]
    )
    assert res.exit_code == 0, res.stderr
    items = json.loads(res.stdout)["items"]
    assert len(items) == 5 and len(set(items)) == 5
    res = runner.invoke(app, ["recommend", str(run_dir), "--user", "nobody", "-s", "web"])
    assert res.exit_code == 1 and "unknown user 'nobody'" in res.stderr
    res = runner.invoke(
        app, ["recommend", str(run_dir), "--user", "nobody", "--fallback", "--json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["fallback"] is True
    res = runner.invoke(
        app, ["recommend", str(run_dir), "-s", "web", "--history", f"{items[0]}@web"]
    )
    assert res.exit_code == 0, res.stderr


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nmodels:\n  - {name: nosuchmodel}\n")
    res = runner.invoke(app, ["experiment", str(f), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "unknown model 'nosuchmodel'" in res.stderr
    f.write_text("name: x\nsplit: {methd: ratio}\n")
    res = runner.invoke(app, ["train", str(f)])
    assert res.exit_code == 1 and "split.methd" in res.stderr
    assert "Traceback" not in res.stderr


def test_usage_mistakes_exit_2(config: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["recommend", str(tmp_path)])  # neither --user nor --history
    assert res.exit_code == 2
    res = runner.invoke(app, ["data", "split", str(config), str(tmp_path), "--method", "nope"])
    assert res.exit_code == 2
