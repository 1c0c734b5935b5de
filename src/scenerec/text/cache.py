"""On-disk embedding cache, keyed by encoder fingerprint and a hash of each text.

Layout: ``<root>/<fingerprint>/shard-*.npz``. Each shard holds text keys (16-byte BLAKE2b of
the text kind and the text), their float32 vectors and a SHA-256 of both. Shards are written
to a temporary file and renamed into place, and are never modified afterwards, so two
processes can write at once without a lock: each adds its own shards. A shard that fails to
load or whose checksum does not match is logged, deleted and treated as missing, so its texts
are encoded again and written to a new shard: a corrupt cache costs time, never the run. When
shards pile up they are merged into one (the merged-in files are deleted only after the merged
shard is in place).

Re-encoding a catalog where 1% of the texts changed therefore encodes only that 1%.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scenerec.errors import EncoderError
from scenerec.schema import FloatMatrix
from scenerec.text.encoder import TextEncoder, TextKind, check_texts

logger = logging.getLogger(__name__)

KEY_BYTES = 16
KeyArray = npt.NDArray[np.bytes_]
_SHARD_PREFIX = "shard-"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 3600.0  # temporary files older than this were left by a crashed writer
ANNOUNCE_TEXTS = 64  # texts to encode from which the cache logs at INFO (a step worth seeing)
_MAX_HELD = 100_000  # vectors kept in memory by ``CachedEncoder.encode(store=False)``


def text_keys(texts: Sequence[str], kind: TextKind = "passage") -> KeyArray:
    """Cache keys of texts: 16-byte BLAKE2b of ``kind`` and the text.

    Returns:
        Array ``(n,)`` of dtype ``S16``.
    """
    tag = kind.encode() + b"\x1f"
    out = np.empty(len(texts), dtype=f"S{KEY_BYTES}")
    for i, t in enumerate(texts):
        out[i] = hashlib.blake2b(tag + t.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return out


def _checksum(keys: KeyArray, vectors: FloatMatrix) -> npt.NDArray[np.uint8]:
    h = hashlib.sha256()
    h.update(np.asarray(vectors.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(keys).tobytes())
    h.update(np.ascontiguousarray(vectors).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def _empty_index() -> tuple[KeyArray, FloatMatrix]:
    return np.empty(0, dtype=f"S{KEY_BYTES}"), np.zeros((0, 0), dtype=np.float32)


@dataclass
class _Entries:
    """What is loaded in memory for one fingerprint."""

    shards: dict[str, tuple[KeyArray, FloatMatrix]] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)
    # Sorted unique keys and their vectors, rebuilt when the shards change.
    index: tuple[KeyArray, FloatMatrix] = field(default_factory=lambda: _empty_index())


class EmbeddingCache:
    """Vectors on disk under ``root``, one folder per encoder fingerprint.

    Args:
        root: cache folder, e.g. ``Settings().cache_dir / "embeddings"``.
        max_shards: merge a fingerprint's shards into one when there are more than this.
    """

    def __init__(self, root: str | Path, *, max_shards: int = 16) -> None:
        self.root = Path(root).expanduser()
        self.max_shards = max_shards
        self._mem: dict[str, _Entries] = {}

    def folder(self, fingerprint: str) -> Path:
        """The folder of one fingerprint's shards."""
        if not fingerprint or "/" in fingerprint or fingerprint.startswith("."):
            raise EncoderError(f"fingerprint {fingerprint!r} cannot name a cache folder")
        return self.root / fingerprint

    # ------------------------------------------------------------------ reading
    def _refresh(self, fingerprint: str) -> _Entries:
        """Load shards that appeared since the last call; forget those that vanished."""
        entries = self._mem.setdefault(fingerprint, _Entries())
        folder = self.folder(fingerprint)
        try:
            names = {
                e.name
                for e in os.scandir(folder)
                if e.name.startswith(_SHARD_PREFIX) and e.name.endswith(".npz")
            }
        except FileNotFoundError:
            names = set()
        changed = False
        for gone in set(entries.shards) - names:
            del entries.shards[gone]
            changed = True
        for name in sorted(names - entries.shards.keys() - entries.bad):
            loaded = self._load_shard(folder / name)
            if loaded is not None:
                entries.shards[name] = loaded
                changed = True
            elif (folder / name).exists():
                entries.bad.add(name)  # could not delete it: at least do not warn again
        if changed:
            entries.index = self._build_index(entries)
        return entries

    def _load_shard(self, path: Path) -> tuple[KeyArray, FloatMatrix] | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = np.asarray(data["keys"])
                vectors = np.asarray(data["vectors"])
                digest = np.asarray(data["checksum"])
            problem = None
            if keys.dtype != np.dtype(f"S{KEY_BYTES}") or keys.ndim != 1:
                problem = f"keys have dtype {keys.dtype} and shape {keys.shape}"
            elif vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != len(keys):
                problem = f"vectors have dtype {vectors.dtype} and shape {vectors.shape}"
            elif not np.array_equal(digest, _checksum(keys, vectors)):
                problem = "checksum mismatch"
        except FileNotFoundError:
            return None  # merged away by another process between listing and loading
        except Exception as exc:  # truncated zip, bad header, missing array...
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            logger.warning(
                "embedding cache shard %s is corrupt (%s); deleting it, its texts will be "
                "encoded again",
                path,
                problem,
            )
            path.unlink(missing_ok=True)
            return None
        return keys, vectors

    @staticmethod
    def _build_index(entries: _Entries) -> tuple[KeyArray, FloatMatrix]:
        if not entries.shards:
            return _empty_index()
        dims = {v.shape[1] for _k, v in entries.shards.values()}
        if len(dims) > 1:
            # Two shards of one fingerprint with different sizes: keep the newest size only.
            newest = entries.shards[max(entries.shards)][1].shape[1]
            logger.warning("cache shards disagree on dimension %s; keeping %d", dims, newest)
            entries.shards = {n: s for n, s in entries.shards.items() if s[1].shape[1] == newest}
        keys = np.concatenate([k for k, _v in entries.shards.values()])
        vectors = np.concatenate([v for _k, v in entries.shards.values()])
        uniq, first = np.unique(keys, return_index=True)
        return uniq, vectors[first]

    def lookup(self, fingerprint: str, keys: KeyArray) -> tuple[FloatMatrix, npt.NDArray[np.bool_]]:
        """Cached vectors for ``keys``.

        Args:
            fingerprint: encoder fingerprint.
            keys: ``(n,)`` ``S16`` keys from ``text_keys``.

        Returns:
            ``(vectors, found)``: float32 ``(n, dim)`` with zero rows where ``found`` is False
            (``(n, 0)`` when nothing is cached), and a bool ``(n,)`` mask.
        """
        entries = self._refresh(fingerprint)
        cached_keys, cached_vecs = entries.index
        n = len(keys)
        if len(cached_keys) == 0:
            return np.zeros((n, 0), dtype=np.float32), np.zeros(n, dtype=bool)
        pos = np.searchsorted(cached_keys, keys)
        pos_clipped = np.minimum(pos, len(cached_keys) - 1)
        found = cached_keys[pos_clipped] == keys
        out = np.zeros((n, cached_vecs.shape[1]), dtype=np.float32)
        out[found] = cached_vecs[pos_clipped[found]]
        return out, found

    def dim(self, fingerprint: str) -> int | None:
        """Vector size stored for a fingerprint, or ``None`` when nothing is cached."""
        entries = self._refresh(fingerprint)
        return int(entries.index[1].shape[1]) if len(entries.index[0]) else None

    def count(self, fingerprint: str) -> int:
        """Number of distinct texts cached for a fingerprint."""
        entries = self._refresh(fingerprint)
        return len(entries.index[0])

    # ------------------------------------------------------------------ writing
    def store(self, fingerprint: str, keys: KeyArray, vectors: FloatMatrix) -> None:
        """Add vectors for keys (one new shard, written atomically)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        keys = np.ascontiguousarray(keys, dtype=f"S{KEY_BYTES}")
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise EncoderError(
                f"cannot cache {len(keys)} keys with vectors of shape {vectors.shape}"
            )
        if len(keys) == 0:
            return
        entries = self._refresh(fingerprint)
        if len(entries.index[0]) and entries.index[1].shape[1] != vectors.shape[1]:
            raise EncoderError(
                f"cache {self.folder(fingerprint)} holds {entries.index[1].shape[1]}-d vectors "
                f"but the encoder produced {vectors.shape[1]}-d ones for the same fingerprint; "
                "delete that folder"
            )
        name = self._write_shard(self.folder(fingerprint), keys, vectors)
        entries.shards[name] = (keys, vectors)
        entries.index = self._build_index(entries)
        if len(entries.shards) > self.max_shards:
            self._compact(fingerprint, entries)

    def _write_shard(self, folder: Path, keys: KeyArray, vectors: FloatMatrix) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        name = f"{_SHARD_PREFIX}{time.time_ns():020d}-{os.getpid()}-{token}.npz"
        tmp = folder / f"{_TMP_PREFIX}{token}.npz"
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, keys=keys, vectors=vectors, checksum=_checksum(keys, vectors))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / name)  # atomic: readers see all of it or nothing
        finally:
            tmp.unlink(missing_ok=True)
        return name

    def _compact(self, fingerprint: str, entries: _Entries) -> None:
        folder = self.folder(fingerprint)
        merged = list(entries.shards)
        keys, vectors = entries.index
        name = self._write_shard(folder, keys, vectors)
        for old in merged:
            (folder / old).unlink(missing_ok=True)
        entries.shards = {name: (keys, vectors)}
        now = time.time()
        for e in os.scandir(folder):
            if e.name.startswith(_TMP_PREFIX):
                try:
                    if now - e.stat().st_mtime > _STALE_TMP_S:
                        os.unlink(e.path)
                except FileNotFoundError:
                    pass
        logger.info("merged %d cache shards of %s", len(merged), fingerprint)

    def clear(self, fingerprint: str | None = None) -> None:
        """Delete one fingerprint's vectors, or the whole cache."""
        if fingerprint is None:
            shutil.rmtree(self.root, ignore_errors=True)
            self._mem.clear()
        else:
            shutil.rmtree(self.folder(fingerprint), ignore_errors=True)
            self._mem.pop(fingerprint, None)


class CachedEncoder:
    """Any ``TextEncoder`` behind an ``EmbeddingCache``: only texts not cached are encoded.

    Texts repeated within one call are encoded once. The inner encoder (and its model) is
    touched only when some text is missing, so a fully cached catalog loads no model.

    Attributes:
        inner: the wrapped encoder.
        cache: the cache.
        hits, misses: distinct texts found / encoded, summed over calls.
        last_hits, last_misses: the same for the latest call.
    """

    def __init__(self, encoder: TextEncoder, cache: EmbeddingCache) -> None:
        self.inner = encoder
        self.cache = cache
        self.hits = 0
        self.misses = 0
        self.last_hits = 0
        self.last_misses = 0
        self._held: dict[bytes, FloatMatrix] = {}  # encoded with store=False

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dim(self) -> int:
        cached = self.cache.dim(self.fingerprint)
        return cached if cached is not None else self.inner.dim

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        kind: TextKind = "passage",
        store: bool = True,
    ) -> FloatMatrix:
        """See ``TextEncoder.encode``; vectors come from the cache where possible.

        With ``store=False`` (a few texts at a time, e.g. online updates) the texts it encodes
        are kept in this process's memory instead of a new shard: writing a shard rebuilds the
        cache's index, which costs O(cache size) per call.
        """
        items = check_texts(texts)
        fp = self.fingerprint
        keys = text_keys(items, kind)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        vecs, found = self.cache.lookup(fp, uniq)
        held = [
            self._held.get(bytes(k)) if not f else None for k, f in zip(uniq, found, strict=True)
        ]
        if any(v is not None for v in held):
            if vecs.shape[1] == 0:
                dim = next(len(v) for v in held if v is not None)
                vecs = np.zeros((len(uniq), dim), dtype=np.float32)
            for i, v in enumerate(held):
                if v is not None:
                    vecs[i], found[i] = v, True
        missing = np.flatnonzero(~found)
        self.last_hits, self.last_misses = int(found.sum()), len(missing)
        self.hits += self.last_hits
        self.misses += self.last_misses
        if len(missing):
            # a long step is announced; the few texts an online update encodes are not (a
            # replay or a server would print one line per search query)
            logger.log(
                logging.INFO if len(missing) >= ANNOUNCE_TEXTS else logging.DEBUG,
                "embedding cache %s: %d hits, encoding %d texts",
                fp,
                self.last_hits,
                len(missing),
            )
            new = self.inner.encode(
                [items[first[i]] for i in missing], batch_size=batch_size, kind=kind
            )
            if store:
                self.cache.store(fp, uniq[missing], new)
            else:
                if len(self._held) > _MAX_HELD:
                    self._held.clear()
                self._held.update((bytes(uniq[i]), v) for i, v in zip(missing, new, strict=True))
            if vecs.shape[1] != new.shape[1]:
                vecs = np.zeros((len(uniq), new.shape[1]), dtype=np.float32)
            vecs[missing] = new
        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(vecs[inverse.reshape(-1)])
