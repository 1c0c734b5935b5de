"""SyntheticConfig and SyntheticData: validation, YAML round trip, writing files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.config import FrozenConfig
from scenerec.data.io import read_catalog, scan_events
from scenerec.data.synthetic import TOPIC_NAMES, SyntheticConfig, tiny
from scenerec.errors import ConfigError
from scenerec.schema import C
from tests.data.synthetic.helpers import tiny_data


def test_write_then_read_back_is_identical(tmp_path: Path) -> None:
    data = tiny_data()
    paths = data.write(tmp_path / "shop")
    assert set(paths) == {"events", "catalog"}
    back = scan_events(paths["events"]).collect()
    assert back.drop(C.ROW).equals(data.events)
    bad_rows = [r for r, k in data.truth["malformed_rows"].items() if k == "missing_user"]
    assert back.filter(pl.col(C.ROW).is_in(bad_rows))[C.USER_ID].null_count() == len(bad_rows)
    cat = read_catalog(paths["catalog"])
    assert cat.equals(data.catalog)


@pytest.mark.parametrize(
    "bad",
    [
        {"n_topics": len(TOPIC_NAMES) + 1},
        {"scenarios": ["app", "app"]},
        {"scenarios": []},
        {"scenario_weights": [1.0]},
        {"n_items": 3, "n_topics": 5},
        {"noise": 1.5},
        {"colour": "blue"},
    ],
)
def test_bad_configs_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SyntheticConfig.from_dict(bad)


def test_config_round_trips_yaml() -> None:
    cfg = tiny(3)
    assert isinstance(cfg, FrozenConfig)
    assert SyntheticConfig.from_yaml(cfg.to_yaml()) == cfg
