"""The ``hashing`` backend: hashed word and character n-grams with TF-IDF weighting.

No language model: words, word n-grams and character n-grams (inside word boundaries) are
hashed into buckets with a signed CRC32 (stable across processes and Python versions), weighted
by sublinear term frequency and, once fitted on a corpus, by inverse document frequency, and
optionally reduced to ``dim`` by a randomised truncated SVD. It is the fast fallback when no
model can be loaded and it keeps tests independent of model loading. It matches surface forms,
not meaning: never present it as a language model.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import scipy.sparse as sp

from scenerec.config import Settings
from scenerec.errors import ConfigError, NotFittedError, SchemaError
from scenerec.text.backends.base import BatchedEncoder
from scenerec.text.encoder import EncoderConfig, check_texts

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
_MEMO_LIMIT = 2_000_000  # forget memoised hashes beyond this many entries (bounded memory)
_STATE_VERSION = 1


class HashingEncoder(BatchedEncoder):
    """Hashed n-gram TF-IDF encoder.

    Unfitted, it weighs buckets by term frequency only (IDF = 1) and needs no corpus; ``fit``
    learns IDF weights (and the SVD when ``hashing.svd`` is set) and changes the fingerprint.

    Args:
        config: encoder config (``backend="hashing"``; see ``HashingOptions``).
        settings: accepted so that every backend is built the same way; unused (no model,
            no threads).
    """

    def __init__(
        self, config: EncoderConfig | None = None, *, settings: Settings | None = None
    ) -> None:
        super().__init__(config or EncoderConfig(backend="hashing"))
        self.options = self.config.hashing
        self._n_buckets = self.options.n_features if self.options.svd else self.options.dim
        self.idf: np.ndarray | None = None  # (n_buckets,) float32
        self.components: np.ndarray | None = None  # (n_buckets, dim) float32, with svd
        self._word_memo: dict[str, list[int]] = {}
        self._gram_memo: dict[str, int] = {}

    # ------------------------------------------------------------------ protocol
    @property
    def dim(self) -> int:
        return self.options.dim

    @property
    def fitted(self) -> bool:
        return self.idf is not None

    @property
    def fingerprint(self) -> str:
        parts = {"options": self.options.to_dict(), "state": self._state_digest()}
        return self._fingerprint("hashing", "ngrams", parts)

    def _state_digest(self) -> str | None:
        if self.idf is None:
            return None
        h = hashlib.sha256(np.ascontiguousarray(self.idf).tobytes())
        if self.components is not None:
            h.update(np.ascontiguousarray(self.components).tobytes())
        return h.hexdigest()[:16]

    def _prepare(self) -> None:
        if self.options.svd and self.components is None:
            raise NotFittedError(
                "the hashing encoder has svd=True and must be fitted on a corpus first: "
                "call HashingEncoder.fit(texts) (or set hashing.svd=false)"
            )

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        x = self._weighted(texts)
        if self.components is not None:
            return np.asarray(x @ self.components, dtype=np.float32)
        return np.asarray(x.toarray(), dtype=np.float32)

    # ------------------------------------------------------------------ features
    def _word_hashes(self, word: str) -> list[int]:
        hashes = self._word_memo.get(word)
        if hashes is None:
            hashes = []
            lo_w = self.options.word_ngrams[0]
            if lo_w == 1:
                hashes.append(zlib.crc32(b"w\x1f" + word.encode()))
            if self.options.char_ngrams is not None:
                lo, hi = self.options.char_ngrams
                padded = f" {word} "
                for n in range(lo, hi + 1):
                    for i in range(len(padded) - n + 1):
                        hashes.append(zlib.crc32(b"c\x1f" + padded[i : i + n].encode()))
            if len(self._word_memo) > _MEMO_LIMIT:
                self._word_memo.clear()
            self._word_memo[word] = hashes
        return hashes

    def _gram_hash(self, gram: str) -> int:
        h = self._gram_memo.get(gram)
        if h is None:
            h = zlib.crc32(b"g\x1f" + gram.encode())
            if len(self._gram_memo) > _MEMO_LIMIT:
                self._gram_memo.clear()
            self._gram_memo[gram] = h
        return h

    def _counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Signed, sublinear term-frequency matrix ``(n, n_buckets)`` float32 CSR."""
        lo, hi = self.options.word_ngrams
        limit = self.config.max_tokens
        indptr = [0]
        keys: list[int] = []
        counts: list[int] = []
        for text in texts:
            words = _WORD.findall(text.lower())
            if limit is not None:
                words = words[:limit]
            feats: list[int] = []
            for w in words:
                feats.extend(self._word_hashes(w))
            for n in range(max(lo, 2), hi + 1):
                for i in range(len(words) - n + 1):
                    feats.append(self._gram_hash(" ".join(words[i : i + n])))
            c = Counter(feats)
            keys.extend(c.keys())
            counts.extend(c.values())
            indptr.append(len(keys))
        h = np.asarray(keys, dtype=np.uint32)
        # Low bits pick the bucket, the top bit the sign: collisions then cancel on average
        # instead of always adding up.
        cols = (h % np.uint32(self._n_buckets)).astype(np.int32)
        sign = np.where(h >> np.uint32(31), -1.0, 1.0).astype(np.float32)
        tf = 1.0 + np.log(np.asarray(counts, dtype=np.float32))
        x = sp.csr_matrix(
            (sign * tf, cols, np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), self._n_buckets),
        )
        x.sum_duplicates()
        return x

    def _weighted(self, texts: Sequence[str]) -> sp.csr_matrix:
        x = self._counts(texts)
        if self.idf is not None:
            x = sp.csr_matrix(x.multiply(self.idf[None, :]))
        return x

    # ------------------------------------------------------------------ fitting and state
    def fit(self, texts: Sequence[str]) -> Self:
        """Learn IDF weights (and the SVD with ``hashing.svd``) from a corpus.

        Args:
            texts: the corpus, e.g. every item text of the catalog.

        Returns:
            ``self``, fitted; its fingerprint now includes the learned state.
        """
        items = check_texts(texts, where="fit texts")
        if not items:
            raise SchemaError("cannot fit the hashing encoder on an empty corpus")
        x = self._counts(items)
        df = np.bincount(x.indices, minlength=self._n_buckets).astype(np.float64)
        n = len(items)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        self.components = None
        if self.options.svd:
            xw = sp.csr_matrix(x.multiply(self.idf[None, :]))
            self.components = _randomized_svd_components(xw, self.options.dim, self.options.seed)
        logger.info("fitted hashing encoder on %d texts (svd=%s)", n, self.options.svd)
        return self

    def save(self, path: str | Path) -> Path:
        """Write the fitted state (IDF, SVD) as ``.npz`` (plain arrays; loading runs no code)."""
        if self.idf is None:
            raise NotFittedError("nothing to save: the hashing encoder is not fitted")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"version": np.array(_STATE_VERSION), "idf": self.idf}
        if self.components is not None:
            arrays["components"] = self.components
        with p.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        return p

    def load_state(self, path: str | Path) -> Self:
        """Restore a state written by ``save`` (same config required)."""
        with np.load(Path(path), allow_pickle=False) as data:
            if int(data["version"]) != _STATE_VERSION:
                raise ConfigError(f"{path}: hashing state version {int(data['version'])} unknown")
            idf = np.asarray(data["idf"], dtype=np.float32)
            comps = (
                np.asarray(data["components"], dtype=np.float32)
                if "components" in data.files
                else None
            )
        if idf.shape != (self._n_buckets,) or (
            comps is not None and comps.shape != (self._n_buckets, self.dim)
        ):
            raise ConfigError(
                f"{path}: saved hashing state has shape {idf.shape} which does not match this "
                f"config ({self._n_buckets} buckets, dim {self.dim}); use the config it was fit "
                "with"
            )
        if self.options.svd != (comps is not None):
            raise ConfigError(f"{path}: saved state and config disagree on svd={self.options.svd}")
        self.idf, self.components = idf, comps
        return self


def _randomized_svd_components(
    x: sp.csr_matrix, k: int, seed: int, *, oversample: int = 10, n_iter: int = 4
) -> np.ndarray:
    """Top-``k`` right singular vectors of ``x`` (Halko et al., 2011), float32
    ``(n_features, k)``; deterministic for a seed."""
    n, m = x.shape
    if k >= min(n, m):
        raise SchemaError(
            f"cannot reduce to dim={k} with only {n} texts",
            fix="fit on more texts or lower hashing.dim",
        )
    rng = np.random.default_rng(seed)
    xt = x.T.tocsr()
    q = rng.standard_normal((m, k + oversample)).astype(np.float32)
    y = np.asarray(x @ q)
    for _ in range(n_iter):  # power iterations sharpen the spectrum of a sparse, flat matrix
        y, _r = np.linalg.qr(y)
        z, _r = np.linalg.qr(np.asarray(xt @ y))
        y = np.asarray(x @ z)
    qy, _r = np.linalg.qr(y)
    b = np.asarray(xt @ qy).T  # (k + p, m)
    _u, _s, vt = np.linalg.svd(b, full_matrices=False)
    comps = vt[:k].T.astype(np.float32)
    # Fix the sign of each component so that the result does not depend on LAPACK internals.
    flip = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(k)])
    return comps * np.where(flip == 0, 1.0, flip).astype(np.float32)
