"""Shared fixtures of the text tests.

The real language model is loaded once per session (``sentence_encoder``) and exported to ONNX
once (``onnx_encoder``), into a temporary cache: tests never touch the user's ~/.cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from scenerec.config import Settings
from scenerec.data.dataset import Dataset
from scenerec.schema import C
from scenerec.text.backends.hashing import HashingEncoder
from scenerec.text.encoder import EncoderConfig
from tests.text.helpers import CountingEncoder


@pytest.fixture
def hashing() -> HashingEncoder:
    return HashingEncoder(EncoderConfig(backend="hashing"))


@pytest.fixture
def counting(hashing: HashingEncoder) -> CountingEncoder:
    return CountingEncoder(hashing)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", threads=1)


@pytest.fixture
def shop() -> Dataset:
    """Three users, two scenarios (web shop and search), a catalog with one text-less item."""
    events = pl.DataFrame(
        {
            C.USER_ID: ["u1", "u1", "u1", "u2", "u2", "u3", "u3"],
            C.ITEM_ID: ["tea", "knife", "pan", "tea", "matcha", "nothing", "knife"],
            C.SCENARIO: ["web", "web", "search", "web", "search", "web", "search"],
            C.BEHAVIOR: ["view", "purchase", "search", "view", "search", "view", "search"],
            C.TIMESTAMP: [100, 200, 300, 100, 5_000, 10, 20],
            C.QUERY: [None, None, "frying pan", None, "green tea powder", None, "sharp knife"],
        }
    )
    catalog = pl.DataFrame(
        {
            C.ITEM_ID: ["tea", "knife", "pan", "matcha", "nothing"],
            C.TITLE: [
                "Sencha green tea",
                "Chef knife 8 inch",
                "Cast iron frying pan",
                "Matcha tea powder",
                None,
            ],
            C.CATEGORY: [
                "Grocery > Tea",
                "Kitchen > Knives",
                "Kitchen > Cookware",
                "Grocery > Tea",
                None,
            ],
        }
    )
    return Dataset(events, catalog, name="shop")


# --------------------------------------------------------------------------- real model
@pytest.fixture(scope="session")
def lm_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(cache_dir=tmp_path_factory.mktemp("lm-cache"), threads=2)


@pytest.fixture(scope="session")
def sentence_encoder(lm_settings: Settings) -> Iterator[object]:
    """The default model, loaded once per session."""
    from scenerec.text.backends.sentence import SentenceEncoder

    enc = SentenceEncoder(EncoderConfig(backend="sentence"), settings=lm_settings)
    _ = enc.model
    yield enc


@pytest.fixture(scope="session")
def onnx_encoder(lm_settings: Settings, sentence_encoder: object) -> object:
    """The default model exported to ONNX once (from the already loaded model)."""
    from scenerec.text.backends.onnx import OnnxEncoder
    from scenerec.text.backends.sentence import SentenceEncoder

    assert isinstance(sentence_encoder, SentenceEncoder)
    enc = OnnxEncoder(
        EncoderConfig(backend="onnx"), settings=lm_settings, source=sentence_encoder.model
    )
    _ = enc.runner
    return enc
