"""What every built-in backend shares (``backends.base``): fingerprints and batched encoding."""

from __future__ import annotations

import numpy as np
import pytest

from scenerec.errors import SchemaError
from scenerec.text.backends.base import make_fingerprint
from scenerec.text.backends.hashing import HashingEncoder
from scenerec.text.encoder import EncoderConfig


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
