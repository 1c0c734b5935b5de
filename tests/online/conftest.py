"""Shared data for the online tests: the tiny sample platform (without the mess a cleaner
handles: these tests are about learning online) and a ScenarioFusion fitted on its older 80%."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.data.synthetic import SyntheticConfig, SyntheticData, generate
from scenerec.models.fusion import ScenarioFusion, ScenarioFusionConfig
from scenerec.models.nn import TrainConfig
from scenerec.schema import C
from tests.models.test_fusion import _config


def fusion_config(**kw: object) -> ScenarioFusionConfig:
    """The fusion tests' small config (hashing encoder), two epochs."""
    kw.setdefault("train", TrainConfig(epochs=2, batch_size=128, lr=0.01, grad_clip=None))
    return _config(**kw)


@pytest.fixture(scope="session")
def platform() -> SyntheticData:
    cfg = SyntheticConfig(
        seed=5,
        n_users=300,
        n_items=240,
        n_events=9_000,
        n_topics=12,
        bot_fraction=0.0,
        malformed_fraction=0.0,
        duplicate_fraction=0.0,
        iso_timestamp_fraction=0.0,
        missing_text_fraction=0.0,
    )
    return generate(cfg)


@pytest.fixture(scope="session")
def events(platform: SyntheticData) -> pl.DataFrame:
    """Typed events in time order."""
    return platform.events.with_columns(
        pl.col(C.TIMESTAMP).cast(pl.Int64), pl.col(C.VALUE).cast(pl.Float64)
    ).sort(C.TIMESTAMP, maintain_order=True)


@pytest.fixture(scope="session")
def split(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The older 80% (fit) and the newest 20% (the stream)."""
    cut = events.height * 4 // 5
    return events.head(cut), events.tail(events.height - cut)


@pytest.fixture(scope="session")
def fusion_run(
    split: tuple[pl.DataFrame, pl.DataFrame],
    platform: SyntheticData,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A fitted ScenarioFusion's run directory (load a fresh copy per test)."""
    model = ScenarioFusion(fusion_config()).fit(Dataset(split[0], platform.catalog))
    path = model.save(tmp_path_factory.mktemp("runs") / "fusion")
    platform.catalog.write_parquet(path / "catalog.parquet")
    return path
