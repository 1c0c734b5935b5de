"""The replay: static vs online vs adaptive on one time-ordered stream, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from scenerec.cli.main import app
from scenerec.errors import ConfigError
from scenerec.online.replay import Launch, ReplaySettings, prepare
from scenerec.schema import C

CONFIG = """
name: tiny replay
data:
  source: synthetic
  synthetic: {seed: 2, n_users: 300, n_items: 200, n_events: 9000, n_topics: 12, drift: 0.9}
encoder: {backend: hashing, hashing: {dim: 64}}
model:
  name: fusion
  params: {base: {factors: 16, iterations: 6}, text_cache: false, train: {epochs: 2}}
replay:
  train_fraction: 0.6
  windows: 4
  launch: {scenario: search, at: 0.8}
  online:
    fine_tune: {background: false, every_events: 1500, min_events: 500, holdout_events: 100,
                new_scenario_events: 200, train: {epochs: 1}}
    exploration: {enabled: true, max_share: 0.2}
"""


def test_replay_compares_the_strategies_and_writes_json_and_png(tmp_path: Path) -> None:
    cfg = tmp_path / "replay.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["replay", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "replay.json").read_text())
    assert (out / "replay.png").stat().st_size > 10_000
    strategies = data["strategies"]
    assert set(strategies) == {"static", "online", "adaptive"}
    scored = {s["scored"] for s in strategies.values()}
    assert len(scored) == 1 and scored.pop() > 500  # the same events scored for everyone
    for s in strategies.values():
        assert 0 < s["hit@10"] <= 1 and 0 < s["ndcg@10"] <= s["hit@10"]
        assert len(s["windows"]) == 4
    # the launched scenario: the static model never saw it; the online ones serve it
    assert data["launch"]["scenario"] == "search"
    search = {name: s["scenarios"]["search"] for name, s in strategies.items()}
    assert search["online"]["hit@10"] > search["static"]["hit@10"]
    assert strategies["online"]["hit@10"] > strategies["static"]["hit@10"]
    ada = data["adaptive"]
    assert ada["fine_tunes"] and ada["exploration"]["exploration_share"] <= 0.2
    assert any(t["swapped"] for t in ada["fine_tunes"])


def test_a_launched_scenario_has_no_events_before_its_launch() -> None:
    ts = list(range(100))
    events = pl.DataFrame(
        {
            C.USER_ID: ["u"] * 100,
            C.ITEM_ID: [f"i{t}" for t in ts],
            C.SCENARIO: ["new" if t % 2 else "old" for t in ts],
            C.BEHAVIOR: ["click"] * 100,
            C.TIMESTAMP: ts,
        }
    )
    train, stream = prepare(
        events, ReplaySettings(train_fraction=0.5, launch=Launch(scenario="new", at=0.8))
    )
    assert "new" not in train[C.SCENARIO].to_list()
    first = stream.filter(pl.col(C.SCENARIO) == "new")[C.TIMESTAMP].min()
    assert first is not None and int(first) >= 80  # type: ignore[arg-type]
    assert train[C.TIMESTAMP].max() <= stream[C.TIMESTAMP].min()  # type: ignore[operator]
    with pytest.raises(ConfigError, match="launch"):
        prepare(events, ReplaySettings(launch=Launch(scenario="nope", at=0.5)))
