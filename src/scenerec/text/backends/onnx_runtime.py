"""Running an ONNX export: the export folder, the tokenizer + onnxruntime session, pooling.

Needs onnxruntime and tokenizers only (no torch). The model's own pooling is replicated in numpy
(``pool``), so the vectors equal sentence-transformers' for the same model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenerec.errors import ConfigError, EncoderError

EXPORT_FORMAT = 1  # bump when the export layout or procedure changes (new cache folder)
SUPPORTED_POOLING = ("mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


@dataclass(frozen=True)
class OnnxExport:
    """An exported model folder and what is needed to run it.

    Attributes:
        path: the folder (``model.onnx``, ``tokenizer.json``, ``meta.json``, maybe
            ``model.int8.onnx`` and ``quantization.json``).
        input_names: ONNX inputs, a subset of ``input_ids``, ``attention_mask``,
            ``token_type_ids``.
        pooling: pooling modes, concatenated in this order.
        max_seq_length: the model's token limit as sentence-transformers applies it.
        max_positions: position embeddings of the transformer (hard limit for ``max_tokens``).
        dim: output dimension after pooling.
    """

    path: Path
    input_names: tuple[str, ...]
    pooling: tuple[str, ...]
    max_seq_length: int
    max_positions: int
    dim: int

    @classmethod
    def read(cls, path: Path) -> OnnxExport:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != EXPORT_FORMAT:
            raise ValueError(f"export format {meta.get('format')} != {EXPORT_FORMAT}")
        for name in ("model.onnx", "tokenizer.json"):
            if not (path / name).is_file():
                raise ValueError(f"{name} is missing")
        return cls(
            path=path,
            input_names=tuple(meta["input_names"]),
            pooling=tuple(meta["pooling"]),
            max_seq_length=int(meta["max_seq_length"]),
            max_positions=int(meta["max_positions"]),
            dim=int(meta["dim"]),
        )


class OnnxRunner:
    """Tokenizer + onnxruntime session + numpy pooling for one exported model file.

    Args:
        export: the exported model folder.
        filename: the model file in it (``model.onnx`` or ``model.int8.onnx``).
        threads: onnxruntime intra-op threads.
        max_tokens: truncate each text to this many tokens; the model's limit when ``None``.

    Raises:
        ConfigError: ``max_tokens`` exceeds the model's position embeddings.
    """

    def __init__(self, export: OnnxExport, filename: str, *, threads: int, max_tokens: int | None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((export.path / "meta.json").read_text(encoding="utf-8"))
        limit = max_tokens if max_tokens is not None else export.max_seq_length
        if limit > export.max_positions:
            raise ConfigError(
                f"max_tokens={limit} exceeds the model's {export.max_positions} positions; "
                f"set max_tokens <= {export.max_positions}"
            )
        self.export = export
        self.tokenizer = Tokenizer.from_file(str(export.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=limit)
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # onnxruntime warns about unused initializers otherwise
        self.session = ort.InferenceSession(
            str(export.path / filename), opts, providers=["CPUExecutionProvider"]
        )

    def run(self, texts: list[str]) -> np.ndarray:
        """Pooled (not normalised) vectors ``(len(texts), dim)`` float32."""
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.export.input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        feeds = {k: v for k, v in feeds.items() if k in self.export.input_names}
        hidden = np.asarray(self.session.run(["last_hidden_state"], feeds)[0], dtype=np.float32)
        return pool(hidden, mask, self.export.pooling)


def pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """sentence-transformers' pooling in numpy, for right-padded batches.

    Args:
        hidden: token vectors ``(b, t, d)`` float32.
        mask: attention mask ``(b, t)`` int64 (1 for real tokens).
        modes: pooling modes, concatenated in order.
    """
    m = mask[..., None].astype(np.float32)
    n_tok = np.clip(m.sum(axis=1), 1e-9, None)
    out: list[np.ndarray] = []
    for mode in modes:
        if mode == "mean":
            out.append((hidden * m).sum(axis=1) / n_tok)
        elif mode == "mean_sqrt_len_tokens":
            out.append((hidden * m).sum(axis=1) / np.sqrt(n_tok))
        elif mode == "cls":
            out.append(hidden[np.arange(len(hidden)), mask.argmax(axis=1)])
        elif mode == "max":
            out.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
        elif mode == "weightedmean":
            w = m * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
            out.append((hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            out.append(hidden[np.arange(len(hidden)), last])
        else:  # pragma: no cover - rejected at export
            raise EncoderError(f"unsupported pooling mode {mode!r}")
    return np.concatenate(out, axis=1).astype(np.float32)
