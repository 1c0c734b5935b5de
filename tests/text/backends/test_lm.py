"""The real language model (all-MiniLM-L6-v2): determinism, ONNX parity, topical closeness.

Marked ``lm``: the model is loaded once per session (see conftest) into a temporary cache.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from scenerec.config import Settings
from scenerec.text import CachedEncoder, EmbeddingCache, EncoderConfig, TextKind
from scenerec.text.backends.onnx import OnnxEncoder
from scenerec.text.backends.onnx_export import export_dir
from scenerec.text.backends.sentence import SentenceEncoder
from tests.text.helpers import cosine_rows

pytestmark = pytest.mark.lm

ITEMS = [
    "Stainless steel chef knife, 8 inch, German steel",
    "Organic matcha green tea powder, ceremonial grade",
    "Pre-seasoned cast iron skillet, 12 inch",
    "Espresso coffee beans, dark roast, 1 kg",
    "Non-slip yoga mat with carrying strap",
    "Children's picture book about dinosaurs",
]
QUERIES = [
    "sharp knife for cutting vegetables",
    "japanese tea",
    "pan to sear a steak",
    "strong coffee for my espresso machine",
    "exercise mat for pilates",
    "bedtime story for kids",
]
MIXED = [
    *ITEMS,
    *QUERIES,
    "x",
    "Ünïcödé façade naïve café",
    "a long text " + "about many different kitchen tools and food " * 60,  # > 256 tokens
]


def test_encoding_is_deterministic(sentence_encoder: SentenceEncoder) -> None:
    a = sentence_encoder.encode(MIXED)
    b = sentence_encoder.encode(MIXED)
    assert a.dtype == np.float32 and a.shape == (len(MIXED), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
    # A text's vector does not depend on the other texts of its batch (beyond float noise).
    alone = np.vstack([sentence_encoder.encode([t]) for t in MIXED[:4]])
    assert cosine_rows(a[:4], alone).min() > 1 - 1e-5


def test_onnx_equals_sentence(sentence_encoder: SentenceEncoder, onnx_encoder: OnnxEncoder) -> None:
    ref = sentence_encoder.encode(MIXED, batch_size=4)
    got = onnx_encoder.encode(MIXED, batch_size=5)
    assert cosine_rows(ref, got).min() > 1 - 1e-4
    assert onnx_encoder.fingerprint != sentence_encoder.fingerprint
    assert onnx_encoder.dim == sentence_encoder.dim


def test_onnx_equals_sentence_with_prefix_and_token_limit(
    sentence_encoder: SentenceEncoder, onnx_encoder: OnnxEncoder, lm_settings: Settings
) -> None:
    cfg = {"max_tokens": 16, "query_prefix": "query: ", "passage_prefix": "passage: "}
    sent = sentence_encoder.derive(EncoderConfig(backend="sentence", **cfg))
    onnx = OnnxEncoder(EncoderConfig(backend="onnx", **cfg), settings=lm_settings)
    long = MIXED[-1:]
    kinds: tuple[TextKind, ...] = ("query", "passage")
    for kind in kinds:
        ref = sent.encode(MIXED, kind=kind)
        assert cosine_rows(ref, onnx.encode(MIXED, kind=kind)).min() > 1 - 1e-4
    # The 16-token limit really cut the long text.
    assert cosine_rows(sent.encode(long), sentence_encoder.encode(long))[0] < 0.999


@pytest.mark.parametrize("backend", ["sentence", "onnx"])
def test_item_and_query_on_one_topic_are_closest(
    backend: str, sentence_encoder: SentenceEncoder, onnx_encoder: OnnxEncoder
) -> None:
    enc = sentence_encoder if backend == "sentence" else onnx_encoder
    items = enc.encode(ITEMS)
    queries = enc.encode(QUERIES, kind="query")
    sim = queries @ items.T
    assert sim.argmax(axis=1).tolist() == list(range(len(QUERIES)))
    diagonal = np.diag(sim)
    off = np.where(np.eye(len(QUERIES), dtype=bool), -np.inf, sim).max(axis=1)
    assert (diagonal > off + 0.1).all()


def test_int8_quantisation_reports_its_loss(
    sentence_encoder: SentenceEncoder, onnx_encoder: OnnxEncoder, lm_settings: Settings
) -> None:
    q = OnnxEncoder(EncoderConfig(backend="onnx", quantize=True), settings=lm_settings)
    report = q.quantization_report
    assert report is not None and 0.9 < report["min_cosine"] <= report["mean_cosine"] <= 1.0
    full, quant = onnx_encoder.encode(MIXED), q.encode(MIXED)
    cos = cosine_rows(full, quant)
    assert cos.mean() > 0.97
    assert q.fingerprint != onnx_encoder.fingerprint


def test_warm_cache_does_not_load_the_model(
    sentence_encoder: SentenceEncoder, lm_settings: Settings
) -> None:
    cache_root = lm_settings.cache_dir / "warm-test"
    expected = CachedEncoder(sentence_encoder, EmbeddingCache(cache_root)).encode(ITEMS)
    fresh = SentenceEncoder(EncoderConfig(backend="sentence"), settings=lm_settings)
    got = CachedEncoder(fresh, EmbeddingCache(cache_root)).encode(ITEMS)
    assert np.array_equal(got, expected)
    assert fresh._model is None


def test_broken_export_is_rebuilt(
    sentence_encoder: SentenceEncoder,
    onnx_encoder: OnnxEncoder,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(cache_dir=tmp_path_factory.mktemp("broken-export"), threads=2)
    target = export_dir(onnx_encoder.ref, settings)
    shutil.copytree(onnx_encoder.runner.export.path, target)
    (target / "meta.json").write_text("{ not json", encoding="utf-8")
    enc = OnnxEncoder(
        EncoderConfig(backend="onnx"), settings=settings, source=sentence_encoder.model
    )
    out = enc.encode(ITEMS)
    assert cosine_rows(out, sentence_encoder.encode(ITEMS)).min() > 1 - 1e-4
    assert '"format"' in (target / "meta.json").read_text(encoding="utf-8")
