"""The ``onnx`` backend: the sentence model exported once to ONNX and run with onnxruntime.

The transformer is exported with ``torch.onnx.export`` into the cache directory the first time a
model is used (``onnx_export``); later runs load the exported file (``onnx_runtime``) and need
neither torch nor sentence-transformers. Tokenisation uses the model's own fast tokenizer (saved
next to the ONNX file) and the model's own pooling is replicated in numpy, so the vectors equal
the ``sentence`` backend's within 1e-4 cosine (the export is checked against the torch model
before it is kept). Optional dynamic int8 quantisation trades a measured bit of quality for
speed; the loss (min and mean cosine against float32 on probe texts) is logged and kept with the
export.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from typing import TYPE_CHECKING

import numpy as np

from scenerec.config import Settings
from scenerec.errors import ConfigError, EncoderError
from scenerec.text.backends.model_files import ModelEncoder
from scenerec.text.backends.onnx_export import ensure_export
from scenerec.text.backends.onnx_runtime import EXPORT_FORMAT, OnnxRunner
from scenerec.text.encoder import EncoderConfig

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class OnnxEncoder(ModelEncoder):
    """onnxruntime encoder for a sentence-transformers model.

    Args:
        config: encoder config (``backend="onnx"``).
        settings: runtime settings (cache directory for the export, threads).
        source: an already loaded sentence model for ``config.model``, used only if the export
            has to be made (saves loading it twice).
    """

    def __init__(
        self,
        config: EncoderConfig | None = None,
        *,
        settings: Settings | None = None,
        source: SentenceTransformer | None = None,
    ) -> None:
        super().__init__(config or EncoderConfig(backend="onnx"), settings)
        self._source = source
        self._runner: OnnxRunner | None = None

    @property
    def runner(self) -> OnnxRunner:
        """The loaded session (exporting the model first if needed)."""
        if self._runner is None:
            threads = self.config.resolved_threads(self.settings)
            export = ensure_export(
                self.ref,
                self.settings,
                quantize=self.config.quantize,
                threads=threads,
                source=self._source,
            )
            self._source = None  # the export exists now; do not keep the torch model alive
            name = "model.int8.onnx" if self.config.quantize else "model.onnx"
            try:
                self._runner = OnnxRunner(
                    export, name, threads=threads, max_tokens=self.config.max_tokens
                )
            except ConfigError:
                raise
            except Exception as exc:
                # A file damaged after its export was checked: export again, once.
                logger.warning("cannot load %s (%s); exporting again", export.path / name, exc)
                shutil.rmtree(export.path, ignore_errors=True)
                export = ensure_export(
                    self.ref, self.settings, quantize=self.config.quantize, threads=threads
                )
                self._runner = OnnxRunner(
                    export, name, threads=threads, max_tokens=self.config.max_tokens
                )
        return self._runner

    @property
    def quantization_report(self) -> dict[str, float] | None:
        """Measured int8 loss (``min_cosine``, ``mean_cosine``, ``n_texts``), or ``None``."""
        if not self.config.quantize:
            return None
        path = self.runner.export.path / "quantization.json"
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
            return data
        return None

    @property
    def dim(self) -> int:
        return self.runner.export.dim

    @property
    def fingerprint(self) -> str:
        return self._fingerprint(
            "onnx",
            self.ref.label,
            {
                "model": self.ref.identity,
                "format": EXPORT_FORMAT,
                "dtype": "int8" if self.config.quantize else "float32",
            },
        )

    def _prepare(self) -> None:
        _ = self.runner

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        try:
            return self.runner.run(texts)
        except Exception as exc:
            raise EncoderError(f"onnx model {self.ref.label!r} failed on a batch: {exc}") from exc
