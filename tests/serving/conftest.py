"""Small, fast runs (the tiny sample platform; popularity, itemknn, als, and bpr for a model
that does not learn online) and an in-process service over them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from scenerec.data.dataset import Dataset
from scenerec.data.synthetic import SyntheticConfig, SyntheticData, generate
from scenerec.models.registry import ModelSpec, build_model
from scenerec.models.runs import save_catalog
from scenerec.schema import C
from scenerec.serving.app import ServiceState, build_app
from scenerec.serving.auth import ApiKey
from scenerec.serving.config import ServingConfig
from scenerec.serving.engine import Engine
from scenerec.serving.store import open_store

API_KEY = "test-key-0123456789abcdef"
AUTH = {"X-API-Key": API_KEY}
PARAMS: dict[str, dict[str, object]] = {
    "als": {"factors": 16, "iterations": 5},
    "bpr": {"factors": 8, "train": {"epochs": 1}},
}


@pytest.fixture(scope="session")
def platform() -> SyntheticData:
    cfg = SyntheticConfig(
        seed=11,
        n_users=200,
        n_items=150,
        n_events=5_000,
        n_topics=8,
        bot_fraction=0.0,
        malformed_fraction=0.0,
        duplicate_fraction=0.0,
        iso_timestamp_fraction=0.0,
        late_fraction=0.0,
        missing_text_fraction=0.05,
    )
    return generate(cfg)


@pytest.fixture(scope="session")
def train_events(platform: SyntheticData) -> pl.DataFrame:
    return platform.events.with_columns(
        pl.col(C.TIMESTAMP).cast(pl.Int64), pl.col(C.VALUE).cast(pl.Float64)
    ).sort(C.TIMESTAMP, maintain_order=True)


@pytest.fixture(scope="session")
def make_run(
    platform: SyntheticData, train_events: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """A saved run (with its catalog) of a model, fitted once per session."""
    runs: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in runs:
            model = build_model(ModelSpec(name=name, params=PARAMS.get(name, {})))
            model.fit(Dataset(train_events, platform.catalog))
            path = model.save(tmp_path_factory.mktemp("runs") / name)
            runs[name] = save_catalog(path, platform.catalog)
        return runs[name]

    return make


def open_engine(run: Path, store_url: str, config: ServingConfig | None = None) -> Engine:
    return Engine.open(run, open_store(store_url), config or ServingConfig())


def client_for(engine: Engine, config: ServingConfig | None = None) -> TestClient:
    state = ServiceState(engine=engine)
    app = build_app(state, ApiKey(API_KEY), config or ServingConfig())
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def serve(
    make_run: Callable[[str], Path], tmp_path: Path
) -> Iterator[Callable[..., tuple[TestClient, Engine]]]:
    """``serve(model, store=None, config=None)`` -> an in-process client and its engine."""
    engines: list[Engine] = []

    def start(
        name: str, store: str | None = None, config: ServingConfig | None = None
    ) -> tuple[TestClient, Engine]:
        url = store or f"sqlite://{tmp_path / f'{name}-{len(engines)}.db'}"
        engine = open_engine(make_run(name), url, config)
        engines.append(engine)
        return client_for(engine, config), engine

    yield start
    for e in engines:
        e.close()


def user_with_history(events: pl.DataFrame, scenario: str) -> str:
    """A user with several events in ``scenario``."""
    counts = events.filter(pl.col(C.SCENARIO) == scenario).group_by(C.USER_ID).len()
    return str(counts.sort(["len", C.USER_ID], descending=[True, False])[C.USER_ID][0])


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Embedding caches of these tests (and of the servers they start) in a temporary folder."""
    old = os.environ.get("SCENEREC_CACHE_DIR")
    os.environ["SCENEREC_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SCENEREC_CACHE_DIR", None)
    else:
        os.environ["SCENEREC_CACHE_DIR"] = old
