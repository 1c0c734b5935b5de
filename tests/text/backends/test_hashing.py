"""The hashing backend: deterministic, normalised, lexical similarity, fit and SVD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenerec.errors import ConfigError, NotFittedError
from scenerec.text import EncoderConfig, HashingOptions
from scenerec.text.backends.hashing import HashingEncoder

CORPUS = [
    "organic green tea bags",
    "green tea matcha powder",
    "black tea english breakfast",
    "stainless steel chef knife",
    "ceramic paring knife set",
    "cast iron skillet 12 inch",
    "non stick frying pan",
    "espresso coffee beans dark roast",
    "decaf coffee ground",
    "bamboo cutting board",
] * 3


def test_vectors_are_unit_float32_and_deterministic(hashing: HashingEncoder) -> None:
    out = hashing.encode(CORPUS[:5])
    assert out.dtype == np.float32 and out.shape == (5, 512)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out, HashingEncoder(EncoderConfig(backend="hashing")).encode(CORPUS[:5]))


def test_hashes_are_stable_across_processes(hashing: HashingEncoder, tmp_path: Path) -> None:
    # Python's own str hash is salted per process; the encoder must not depend on it.
    code = (
        "import numpy as np, sys\n"
        "from scenerec.text import EncoderConfig\n"
        "from scenerec.text.backends.hashing import HashingEncoder\n"
        "v = HashingEncoder(EncoderConfig(backend='hashing')).encode(['green tea matcha'])\n"
        f"np.save({str(tmp_path / 'v.npy')!r}, v)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONHASHSEED": "123"})
    assert np.array_equal(np.load(tmp_path / "v.npy"), hashing.encode(["green tea matcha"]))


def test_shared_words_are_closer_than_unrelated(hashing: HashingEncoder) -> None:
    v = hashing.encode(["green tea bags", "organic green tea", "cast iron skillet"])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_character_ngrams_match_word_variants(hashing: HashingEncoder) -> None:
    v = hashing.encode(["knives", "knife", "coffee"])
    assert v[0] @ v[1] > v[0] @ v[2]


def test_text_without_features_gives_a_zero_vector(hashing: HashingEncoder) -> None:
    out = hashing.encode(["", "!!!"])
    assert not out.any()


def test_max_tokens_truncates_words() -> None:
    enc = HashingEncoder(EncoderConfig(backend="hashing", max_tokens=2))
    a, b = enc.encode(["green tea bags forever", "green tea"])
    assert np.allclose(a, b)


def test_fit_learns_idf_and_changes_the_fingerprint(hashing: HashingEncoder) -> None:
    before = hashing.fingerprint
    raw = hashing.encode(["green tea knife"])
    hashing.fit(CORPUS)
    assert hashing.fingerprint != before
    fitted = hashing.encode(["green tea knife"])
    assert not np.allclose(raw, fitted)
    # "tea" is frequent in the corpus, "knife" rarer: after IDF the text leans to knives.
    docs = hashing.encode(["tea", "knife"])
    assert fitted[0] @ docs[1] > fitted[0] @ docs[0]


def test_svd_needs_fit_then_gives_dense_dim_vectors(tmp_path: Path) -> None:
    cfg = EncoderConfig(backend="hashing", hashing=HashingOptions(svd=True, dim=8, n_features=4096))
    enc = HashingEncoder(cfg)
    with pytest.raises(NotFittedError, match="fit"):
        enc.encode(["green tea"])
    enc.fit(CORPUS)
    out = enc.encode(CORPUS[:10])
    assert out.shape == (10, 8)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[5]  # two teas vs tea and skillet

    path = enc.save(tmp_path / "state.npz")
    again = HashingEncoder(cfg).load_state(path)
    assert again.fingerprint == enc.fingerprint
    assert np.allclose(again.encode(CORPUS[:10]), out)


def test_svd_fit_is_deterministic_for_a_seed() -> None:
    cfg = EncoderConfig(backend="hashing", hashing=HashingOptions(svd=True, dim=4, n_features=1024))
    a = HashingEncoder(cfg).fit(CORPUS).encode(CORPUS[:4])
    b = HashingEncoder(cfg).fit(CORPUS).encode(CORPUS[:4])
    assert np.allclose(a, b, atol=1e-5)


def test_loading_state_of_another_config_fails(tmp_path: Path, hashing: HashingEncoder) -> None:
    path = hashing.fit(CORPUS).save(tmp_path / "state.npz")
    other = HashingEncoder(EncoderConfig(backend="hashing", hashing=HashingOptions(dim=64)))
    with pytest.raises(ConfigError, match="64"):
        other.load_state(path)
