"""``CachedEncoder.encode(store=False)``: online encodes are held in memory, not written as
shards (a shard write rebuilds the cache's index: O(cache size) per call)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenerec.text.cache import CachedEncoder, EmbeddingCache
from scenerec.text.encoder import EncoderConfig, HashingOptions, make_encoder


def test_store_false_keeps_vectors_in_memory_and_reads_the_disk_cache(tmp_path: Path) -> None:
    inner = make_encoder(
        EncoderConfig(backend="hashing", hashing=HashingOptions(dim=32)), cache=False
    )
    cache = EmbeddingCache(tmp_path)
    enc = CachedEncoder(inner, cache)
    enc.encode(["stored title"])  # a normal encode writes a shard
    shards = sorted(p.name for p in tmp_path.rglob("shard-*.npz"))
    a = enc.encode(["stored title", "new query"], kind="passage", store=False)
    assert enc.last_hits == 1 and enc.last_misses == 1
    assert sorted(p.name for p in tmp_path.rglob("shard-*.npz")) == shards  # nothing written
    b = enc.encode(["new query"], store=False)
    assert enc.last_misses == 0  # held in memory
    np.testing.assert_array_equal(a, inner.encode(["stored title", "new query"]))
    np.testing.assert_array_equal(b[0], a[1])
