"""EncoderConfig validation, the backend registry and the contract helpers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

from scenerec.config import Settings
from scenerec.errors import ConfigError
from scenerec.schema import FloatMatrix
from scenerec.text import CachedEncoder, EncoderConfig, make_encoder, register_backend
from scenerec.text.backends.hashing import HashingEncoder
from scenerec.text.encoder import TextEncoder, TextKind, available_backends, l2_normalize


def test_config_round_trips_through_yaml() -> None:
    cfg = EncoderConfig(
        backend="onnx",
        model="intfloat/e5-small-v2",
        query_prefix="query: ",
        passage_prefix="passage: ",
        quantize=True,
        max_tokens=128,
    )
    assert EncoderConfig.from_yaml(cfg.to_yaml()) == cfg


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"backend": "sentence", "quantize": True}, "quantize"),
        ({"backend": "hashing", "model": "bert-base-uncased"}, "model"),
        ({"batch_size": 0}, "batch_size"),
        ({"hashing": {"word_ngrams": [2, 1]}}, "word_ngrams"),
        ({"hashing": {"svd": True, "dim": 64, "n_features": 32}}, "n_features"),
        ({"modle": "typo"}, "modle"),
    ],
)
def test_invalid_config_is_rejected_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        EncoderConfig.from_dict(data, source="encoder.yaml")


def test_unknown_backend_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="hashing"):
        make_encoder(EncoderConfig(backend="word2vec"), settings=settings)


def test_builtin_backends_are_registered() -> None:
    assert {"sentence", "onnx", "hashing"} <= set(available_backends())


class _Constant:
    """A toy backend: every text maps to the same unit vector."""

    dim = 3
    fingerprint = "constant-toy-0"

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, kind: TextKind = "passage"
    ) -> FloatMatrix:
        return np.tile(np.array([1.0, 0.0, 0.0], np.float32), (len(texts), 1))


def test_registered_backend_is_built_and_cached(settings: Settings) -> None:
    register_backend("constant-toy", lambda cfg, s: _Constant())
    enc = make_encoder(EncoderConfig(backend="constant-toy"), settings=settings)
    assert isinstance(enc, CachedEncoder) and isinstance(enc, TextEncoder)
    out = enc.encode(["a", "b"])
    assert out.shape == (2, 3)
    assert (settings.cache_dir / "embeddings" / "constant-toy-0").is_dir()


def test_importing_the_registry_loads_no_backend() -> None:
    # The registry names its backends by module path: importing it (or the text package)
    # imports neither a backend module nor torch / onnxruntime.
    code = (
        "import sys, scenerec.text, scenerec.text.encoder\n"
        "heavy = ('torch', 'onnxruntime', 'sentence_transformers', 'scenerec.text.backends')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("backend", "cls_name"),
    [("sentence", "SentenceEncoder"), ("onnx", "OnnxEncoder"), ("hashing", "HashingEncoder")],
)
def test_builtin_backends_are_imported_when_built(
    backend: str, cls_name: str, settings: Settings
) -> None:
    enc = make_encoder(EncoderConfig(backend=backend), settings=settings, cache=False)
    assert type(enc).__name__ == cls_name
    assert type(enc).__module__ == f"scenerec.text.backends.{backend}"


def test_backend_registered_by_module_path(settings: Settings) -> None:
    register_backend("hashing-by-path", "scenerec.text.backends.hashing:HashingEncoder")
    enc = make_encoder(EncoderConfig(backend="hashing-by-path"), settings=settings, cache=False)
    assert isinstance(enc, HashingEncoder)
    register_backend("missing-toy", "scenerec.text.backends.nowhere:Encoder")
    with pytest.raises(ConfigError, match="cannot import"):
        make_encoder(EncoderConfig(backend="missing-toy"), settings=settings)
    with pytest.raises(ConfigError, match="module:attr"):
        register_backend("bad-toy", "no colon here")


def test_make_encoder_without_cache_returns_the_backend(settings: Settings) -> None:
    enc = make_encoder(EncoderConfig(backend="hashing"), settings=settings, cache=False)
    assert isinstance(enc, HashingEncoder)


def test_l2_normalize_keeps_zero_rows_zero() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = l2_normalize(x)
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32
