"""Text encoders: the ``TextEncoder`` protocol, ``EncoderConfig`` and the backend registry.

A text encoder turns strings into L2-normalised float32 vectors. Three backends ship with
scenerec: ``sentence`` (sentence-transformers, the reference), ``onnx`` (the same model exported
once and run with onnxruntime: no torch needed at inference and a 6 s shorter start, about the
same float32 throughput on 2 CPU cores, 1.6x with opt-in int8; see BENCHMARKS.md) and
``hashing`` (hashed word and character n-grams; no language model at all, the fast fallback). A
config names the backend and the model; ``make_encoder`` builds the encoder and, by default,
wraps it in the on-disk embedding cache so that texts already encoded with the same fingerprint
are never encoded again.

The backends live in ``scenerec.text.backends`` and import this module, never the reverse: the
registry names each built-in backend by a ``"module:Class"`` string that is imported on first
use, so importing this module loads neither torch nor onnxruntime.

Encoders hold no global state and are callable per batch, so they can be mapped over a Ray
Data dataset later.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field, model_validator

from scenerec.config import FrozenConfig, Settings
from scenerec.errors import ConfigError, EncoderError, SchemaError
from scenerec.schema import FloatMatrix

logger = logging.getLogger(__name__)

TextKind = Literal["passage", "query"]
"""What a text is: an item or profile text (``passage``) or a search query (``query``).
Models trained with asymmetric prefixes (e5, bge) need to know."""

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 vectors; deterministic for a fingerprint."""

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    @property
    def fingerprint(self) -> str:
        """Identifies everything that determines the vectors (backend, model and its weights,
        revision, prefixes, token limit, dtype). Safe to use as a file name."""
        ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, kind: TextKind = "passage"
    ) -> FloatMatrix:
        """Encode texts.

        Args:
            texts: ``n`` strings.
            batch_size: texts per forward pass; the config's value when omitted.
            kind: ``passage`` for item or profile text, ``query`` for search queries (selects
                the configured prefix).

        Returns:
            float32 array of shape ``(n, dim)``, each row of unit L2 norm (all-zero only for a
            text that has no feature at all under the ``hashing`` backend).
        """
        ...


class HashingOptions(FrozenConfig):
    """Options of the ``hashing`` backend (ignored by the others).

    Attributes:
        dim: output dimension. Without SVD, the number of hash buckets.
        word_ngrams: smallest and largest word n-gram, e.g. ``(1, 2)``.
        char_ngrams: smallest and largest character n-gram taken inside each word (padded
            with spaces); ``None`` turns character n-grams off.
        svd: hash into ``n_features`` buckets and reduce to ``dim`` with a truncated SVD fit on
            a corpus (``HashingEncoder.fit``); slower to fit, denser and smoother vectors.
        n_features: hash buckets before the SVD (only with ``svd``).
        seed: seed of the randomised SVD.
    """

    dim: int = Field(default=512, gt=0)
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (3, 5)
    svd: bool = False
    n_features: int = Field(default=2**16, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _check_ranges(self) -> HashingOptions:
        for name, rng in (("word_ngrams", self.word_ngrams), ("char_ngrams", self.char_ngrams)):
            if rng is not None and not 1 <= rng[0] <= rng[1]:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max, got {rng}")
        if self.svd and self.dim >= self.n_features:
            raise ValueError(f"with svd, dim ({self.dim}) must be < n_features ({self.n_features})")
        return self


class EncoderConfig(FrozenConfig):
    """Which encoder to build and how it runs.

    Attributes:
        backend: a registered backend name: ``sentence``, ``onnx`` or ``hashing``.
        model: a Hugging Face model name or a local directory (sentence-transformers layout or
            a plain transformer); ``None`` means the bundled all-MiniLM-L6-v2 (offline).
        revision: Hugging Face revision (branch, tag or commit) of a named model.
        batch_size: texts per forward pass.
        max_tokens: truncate each text to this many model tokens (words for ``hashing``);
            ``None`` keeps the model's own limit.
        query_prefix: prepended to ``query`` texts (``"query: "`` for e5, the instruction for
            bge queries).
        passage_prefix: prepended to ``passage`` texts (``"passage: "`` for e5).
        threads: CPU threads for torch / onnxruntime; 0 takes ``Settings.threads``.
        quantize: ``onnx`` only: dynamic int8 weights (faster, slightly less exact; the loss
            is measured at export and logged).
        device: torch device of the ``sentence`` backend.
        progress: show a progress bar; ``None`` shows it on a terminal for large inputs.
        hashing: options of the ``hashing`` backend.
    """

    backend: str = "sentence"
    model: str | None = None
    revision: str | None = None
    batch_size: int = Field(default=64, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    query_prefix: str = ""
    passage_prefix: str = ""
    threads: int = Field(default=0, ge=0)
    quantize: bool = False
    device: str = "cpu"
    progress: bool | None = None
    hashing: HashingOptions = HashingOptions()

    @model_validator(mode="after")
    def _check_backend_options(self) -> EncoderConfig:
        if self.quantize and self.backend != "onnx":
            raise ValueError(
                f"quantize applies to the onnx backend only (backend={self.backend!r})"
            )
        if self.backend == "hashing" and self.model is not None:
            raise ValueError("the hashing backend uses no model: leave model unset")
        return self

    def prefix(self, kind: TextKind) -> str:
        """The prefix configured for this kind of text."""
        return self.query_prefix if kind == "query" else self.passage_prefix

    def resolved_threads(self, settings: Settings | None = None) -> int:
        """Thread count to use: the config's, else the runtime settings' (0 = all cores)."""
        if self.threads > 0:
            return self.threads
        return (settings or Settings.from_env()).resolved_threads()


# --------------------------------------------------------------------------- registry
EncoderFactory = Callable[[EncoderConfig, Settings], TextEncoder]
"""Builds an encoder from its config and the runtime settings."""

#: Built-in backends: ``"module:Class"``, imported on first use; ``Class(config, settings=...)``.
BUILTIN_BACKENDS: dict[str, str] = {
    "sentence": "scenerec.text.backends.sentence:SentenceEncoder",
    "onnx": "scenerec.text.backends.onnx:OnnxEncoder",
    "hashing": "scenerec.text.backends.hashing:HashingEncoder",
}
_REGISTRY: dict[str, EncoderFactory | str] = dict(BUILTIN_BACKENDS)


def register_backend(name: str, factory: EncoderFactory | str) -> None:
    """Make ``EncoderConfig(backend=name)`` build encoders with ``factory``.

    Args:
        name: backend name (lower-case letters, digits, ``-`` or ``_``).
        factory: a callable ``factory(config, settings)``, or a ``"module:attr"`` string naming
            a class or function called as ``attr(config, settings=settings)``, imported only
            when the backend is first built.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ConfigError(f"backend name {name!r} must be lower-case letters, digits, - or _")
    if isinstance(factory, str) and not re.fullmatch(r"[\w.]+:\w+", factory):
        raise ConfigError(
            f"backend {name!r}: factory {factory!r} must be 'package.module:attr' or a callable"
        )
    _REGISTRY[name] = factory


def available_backends() -> list[str]:
    """Names of the registered backends (nothing is imported)."""
    return sorted(_REGISTRY)


def _resolve(name: str) -> EncoderFactory:
    """The factory of a registered backend, importing its module if it is named by a string."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"unknown encoder backend {name!r}; choose one of {sorted(_REGISTRY)}")
    if not isinstance(entry, str):
        return entry
    module_name, _, attr = entry.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"encoder backend {name!r}: cannot import {entry!r} ({exc}); fix the registered "
            "name or install the package that provides it"
        ) from exc

    def factory(config: EncoderConfig, settings: Settings) -> TextEncoder:
        encoder: TextEncoder = target(config, settings=settings)
        return encoder

    return factory


def make_encoder(
    config: EncoderConfig | None = None,
    *,
    settings: Settings | None = None,
    cache: bool = True,
) -> TextEncoder:
    """Build the encoder a config names.

    Models load lazily (on the first text that is not cached), so building is cheap.

    Args:
        config: the encoder config; the default is ``sentence`` with all-MiniLM-L6-v2.
        settings: runtime settings (cache directory, threads); from ``SCENEREC_*`` env vars
            when omitted.
        cache: wrap the encoder in the on-disk embedding cache under
            ``settings.cache_dir / "embeddings"``.

    Raises:
        ConfigError: the backend is not registered or its module cannot be imported.
    """
    config = config or EncoderConfig()
    settings = settings or Settings.from_env()
    encoder = _resolve(config.backend)(config, settings)
    if not cache:
        return encoder
    from scenerec.text.cache import CachedEncoder, EmbeddingCache

    return CachedEncoder(encoder, EmbeddingCache(settings.cache_dir / "embeddings"))


# --------------------------------------------------------------------------- shared helpers
def check_texts(texts: Sequence[str], *, where: str = "texts") -> list[str]:
    """A list copy of ``texts``; raises SchemaError naming the first non-string entry."""
    if isinstance(texts, str):
        raise SchemaError(
            f"{where}: expected a sequence of strings, got one string",
            fix="wrap a single text in a list",
        )
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise SchemaError(
                f"{where}[{i}] is not a string",
                value=t,
                fix="replace missing text by filtering it out (items without text are flagged by "
                "render_items, not encoded)",
            )
    return out


def l2_normalize(x: np.ndarray) -> FloatMatrix:
    """Rows scaled to unit L2 norm (all-zero rows stay zero). Returns float32 ``(n, d)``."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatMatrix = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def check_fingerprint(now: str, fitted: str | None) -> None:
    """Raise unless text vectors made now (fingerprint ``now``) match those a model was fitted
    with (``fitted``; ``None``: nothing to match)."""
    if fitted is not None and now != fitted:
        raise EncoderError(
            f"the text encoder now has fingerprint {now!r} but the model was fitted with "
            f"{fitted!r}; its vectors would not match. Fix: make the same model files available "
            "(config.encoder) or refit"
        )
