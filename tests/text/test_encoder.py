"""EncoderConfig validation, the backend registry and the shared encode behaviour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from scenerec.config import Settings
from scenerec.errors import ConfigError, SchemaError
from scenerec.schema import FloatMatrix
from scenerec.text import CachedEncoder, EncoderConfig, make_encoder, register_backend
from scenerec.text.encoder import (
    TextEncoder,
    TextKind,
    available_backends,
    l2_normalize,
    make_fingerprint,
)
from scenerec.text.hashing import HashingEncoder


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


def test_make_encoder_without_cache_returns_the_backend(settings: Settings) -> None:
    enc = make_encoder(EncoderConfig(backend="hashing"), settings=settings, cache=False)
    assert isinstance(enc, HashingEncoder)


def test_fingerprint_is_file_name_safe_and_sensitive_to_parts() -> None:
    a = make_fingerprint("sentence", "org/model name:v1", {"max_tokens": 128})
    b = make_fingerprint("sentence", "org/model name:v1", {"max_tokens": 256})
    assert a != b
    assert all(ch.isalnum() or ch in "-_." for ch in a)
    assert a == make_fingerprint("sentence", "org/model name:v1", {"max_tokens": 128})


def test_encode_rejects_a_bare_string_and_non_strings(hashing: HashingEncoder) -> None:
    with pytest.raises(SchemaError, match="one string"):
        hashing.encode("just one")
    with pytest.raises(SchemaError, match=r"texts\[1\]"):
        hashing.encode(["ok", None])  # type: ignore[list-item]


def test_empty_input_gives_an_empty_matrix(hashing: HashingEncoder) -> None:
    assert hashing.encode([]).shape == (0, hashing.dim)


def test_prefix_is_applied_by_kind() -> None:
    plain = HashingEncoder(EncoderConfig(backend="hashing"))
    prefixed = HashingEncoder(
        EncoderConfig(backend="hashing", query_prefix="query: ", passage_prefix="passage: ")
    )
    text = ["green tea"]
    assert np.allclose(prefixed.encode(text, kind="query"), plain.encode(["query: green tea"]))
    assert np.allclose(prefixed.encode(text), plain.encode(["passage: green tea"]))
    assert prefixed.fingerprint != plain.fingerprint


def test_output_order_does_not_depend_on_length_sorting(hashing: HashingEncoder) -> None:
    texts = ["a much longer text about kitchen knives", "tea", "medium length text"]
    together = hashing.encode(texts, batch_size=2)
    one_by_one = np.vstack([hashing.encode([t]) for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-6)


def test_l2_normalize_keeps_zero_rows_zero() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = l2_normalize(x)
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32
