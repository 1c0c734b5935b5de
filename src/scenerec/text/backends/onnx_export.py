"""Exporting a sentence model to ONNX (and int8), checked against torch, cached on disk.

The transformer is exported with ``torch.onnx.export`` (TorchScript exporter) into the cache
directory the first time a model is used; the export is kept only if it reproduces the torch
vectors on probe texts. Tokenisation uses the model's own fast tokenizer, saved next to the ONNX
file. Optional dynamic int8 quantisation trades a measured bit of quality for speed; the loss
(min and mean cosine against float32 on probe texts) is logged and kept with the export.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenerec.config import Settings
from scenerec.errors import EncoderError
from scenerec.text.backends.base import make_fingerprint
from scenerec.text.backends.model_files import ModelRef, load_sentence_model
from scenerec.text.backends.onnx_runtime import (
    EXPORT_FORMAT,
    SUPPORTED_POOLING,
    OnnxExport,
    OnnxRunner,
)
from scenerec.text.encoder import l2_normalize

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

OPSET = 17
PARITY_MIN_COSINE = 1.0 - 1e-5  # the export must match torch this closely on the probe texts

# Probe texts for the export check and the int8 loss report: short titles, queries, long text.
PROBE_TEXTS: tuple[str, ...] = (
    "Japanese green tea matcha powder, 100 g",
    "stainless steel chef knife 8 inch",
    "organic dark chocolate bar 85% cocoa",
    "non-stick frying pan with glass lid",
    "cast iron skillet pre-seasoned 12 inch",
    "coffee beans",
    "decaf",
    "how do I descale an espresso machine",
    "gluten free pasta for kids",
    "Toy Story (1995) Animation|Children's|Comedy",
    "Heat (1995) Action|Crime|Thriller",
    "a quiet romantic drama set in post-war Paris",
    "wireless noise cancelling headphones",
    "vanilla extract pure madagascar bourbon 4 fl oz bottle for baking",
    "x",
    "The quick brown fox jumps over the lazy dog. " * 12,
    "Silicone baking mat set of 3, reusable, BPA free, fits half sheet pans; oven safe to 480F. "
    "Category: Kitchen & Dining > Bakeware. Brand: Kitchenaid. Great for cookies, macarons and "
    "pastry; easy to clean in the dishwasher.",
    "query: cheap running shoes for flat feet",
    "passage: lightweight trail running shoe with wide toe box",
    "Bücher über Kochkunst und Ernährung",
)


def export_dir(ref: ModelRef, settings: Settings) -> Path:
    """Where the ONNX export of a model lives in the cache."""
    key = make_fingerprint("onnx", ref.label, {"model": ref.identity, "format": EXPORT_FORMAT})
    return settings.cache_dir / "onnx" / key


def _pipeline_spec(st: SentenceTransformer, label: str) -> tuple[tuple[str, ...], int, int]:
    """Pooling modes, max sequence length and max positions of a Transformer+Pooling(+Normalize)
    model; anything else cannot be replicated outside torch."""
    modules: list[Any] = list(st)
    kinds = [type(m).__name__ for m in modules]
    if not kinds or kinds[0] != "Transformer":
        raise EncoderError(f"model {label!r}: first module is {kinds[:1]}, expected Transformer")
    pooling: tuple[str, ...] = ("mean",)
    rest = kinds[1:]
    if rest and rest[0] == "Pooling":
        mode = modules[1].pooling_mode
        pooling = (mode,) if isinstance(mode, str) else tuple(mode)
        rest = rest[1:]
    if rest not in ([], ["Normalize"]):
        raise EncoderError(
            f"model {label!r} has modules {kinds}; the onnx backend replicates "
            "Transformer + Pooling (+ Normalize) only. Fix: use backend 'sentence' for this model"
        )
    bad = [m for m in pooling if m not in SUPPORTED_POOLING]
    if bad:
        raise EncoderError(f"model {label!r}: pooling {bad} is not supported by the onnx backend")
    cfg: Any = modules[0].auto_model.config
    max_pos = int(getattr(cfg, "max_position_embeddings", 0) or 0)
    max_len = int(st.max_seq_length or max_pos or 512)
    return pooling, max_len, max_pos or max_len


def export_model(st: SentenceTransformer, out: Path, *, label: str) -> OnnxExport:
    """Export a loaded sentence-transformers model into the folder ``out`` and check it.

    Raises:
        EncoderError: the model's pipeline cannot be replicated, or the exported graph does not
            reproduce the torch vectors on the probe texts.
    """
    import torch

    pooling, max_len, max_pos = _pipeline_spec(st, label)
    transformer: Any = st[0]
    hf: Any = transformer.auto_model
    tokenizer: Any = transformer.tokenizer
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise EncoderError(f"model {label!r} has no fast tokenizer; use backend 'sentence'")
    import inspect

    accepted = set(inspect.signature(hf.forward).parameters)
    names = tuple(
        n
        for n in ("input_ids", "attention_mask", "token_type_ids")
        if n in accepted and n in tokenizer.model_input_names
    )

    class _LastHidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(names, inputs, strict=True))
            return self.model(**kwargs, return_dict=True).last_hidden_state

    out.mkdir(parents=True, exist_ok=True)
    # Two texts of different lengths so that the traced graph sees padding.
    sample = tokenizer(list(PROBE_TEXTS[:2]), padding=True, return_tensors="pt")
    dynamic = {n: {0: "batch", 1: "seq"} for n in (*names, "last_hidden_state")}
    wrapper = _LastHidden(hf).eval()
    try:
        with torch.inference_mode(), _quiet():
            torch.onnx.export(
                wrapper,
                tuple(sample[n] for n in names),
                str(out / "model.onnx"),
                input_names=list(names),
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:
        raise EncoderError(f"ONNX export of {label!r} failed: {exc}") from exc
    # The backend tokenizer carries the lower-casing sentence-transformers may have added.
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    dim = int(st.get_embedding_dimension() or 0)
    meta = {
        "format": EXPORT_FORMAT,
        "model": label,
        "input_names": list(names),
        "pooling": list(pooling),
        "max_seq_length": max_len,
        "max_positions": max_pos,
        "pad_token": tokenizer.pad_token,
        "pad_id": tokenizer.pad_token_id,
        "dim": dim,
        "torch": torch.__version__,
        "opset": OPSET,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    export = OnnxExport.read(out)
    runner = OnnxRunner(export, "model.onnx", threads=torch.get_num_threads(), max_tokens=None)
    got = l2_normalize(runner.run(list(PROBE_TEXTS)))
    ref = st.encode(list(PROBE_TEXTS), convert_to_numpy=True, show_progress_bar=False)
    ref = l2_normalize(np.asarray(ref))
    cos = (got * ref).sum(axis=1)
    if float(cos.min()) < PARITY_MIN_COSINE:
        raise EncoderError(
            f"ONNX export of {label!r} does not reproduce the torch model (min cosine "
            f"{cos.min():.6f} on probe texts); use backend 'sentence'"
        )
    logger.info("exported %s to ONNX at %s (min cosine vs torch %.7f)", label, out, cos.min())
    return export


def quantize_export(export: OnnxExport, *, threads: int) -> dict[str, float]:
    """Write ``model.int8.onnx`` (dynamic int8 weights) and measure its loss against float32.

    Returns:
        ``{"min_cosine", "mean_cosine", "n_texts"}`` on the probe texts; also saved as
        ``quantization.json``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = export.path / f".tmp-{uuid.uuid4().hex}.onnx"
    try:
        # Per-channel int8 weights of the MatMuls only (embeddings stay float): the best
        # quality/speed point measured here (mean cosine ~0.99 vs ~0.96 per-tensor).
        with _quiet():
            quantize_dynamic(
                str(export.path / "model.onnx"),
                str(tmp),
                per_channel=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
            )
        texts = list(PROBE_TEXTS)
        full = l2_normalize(
            OnnxRunner(export, "model.onnx", threads=threads, max_tokens=None).run(texts)
        )
        q = l2_normalize(OnnxRunner(export, tmp.name, threads=threads, max_tokens=None).run(texts))
        cos = (full * q).sum(axis=1)
        report = {
            "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()),
            "n_texts": float(len(texts)),
        }
        _atomic_write_text(export.path / "quantization.json", json.dumps(report, indent=2))
        os.replace(tmp, export.path / "model.int8.onnx")
    finally:
        tmp.unlink(missing_ok=True)
    return report


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantizer's root-logger chatter (both are
    about internals the parity check already covers)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def ensure_export(
    ref: ModelRef,
    settings: Settings,
    *,
    quantize: bool,
    threads: int,
    source: SentenceTransformer | None = None,
) -> OnnxExport:
    """The model's export from the cache, exporting it first when missing or broken.

    Safe when two processes export at once: each builds in a private temporary folder and the
    first to rename it into place wins; the other discards its copy.

    Args:
        ref: the resolved model.
        settings: runtime settings (cache directory).
        quantize: also make sure the int8 model exists.
        threads: onnxruntime threads for the checks.
        source: the already loaded sentence model (avoids a second load).
    """
    target = export_dir(ref, settings)
    export: OnnxExport | None = None
    if target.exists():
        try:
            export = OnnxExport.read(target)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ONNX export at %s is unusable (%s); exporting again", target, exc)
            shutil.rmtree(target, ignore_errors=True)
    if export is None:
        st = source if source is not None else load_sentence_model(ref)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
        try:
            export_model(st, tmp, label=ref.label)
            try:
                os.replace(tmp, target)
            except OSError:
                # Another process finished first (target now exists and is not empty): use it.
                logger.info("another process exported %s first; using its copy", ref.label)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        export = OnnxExport.read(target)
    if quantize and not (export.path / "model.int8.onnx").is_file():
        report = quantize_export(export, threads=threads)
        logger.info(
            "int8 quantisation of %s: cosine vs float32 min %.4f, mean %.4f on %d probe texts",
            ref.label,
            report["min_cosine"],
            report["mean_cosine"],
            int(report["n_texts"]),
        )
    return export
