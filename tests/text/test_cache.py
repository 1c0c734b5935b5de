"""The embedding cache: hits, misses, partial updates, corruption, concurrent writers."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scenerec.text import CachedEncoder, EmbeddingCache, EncoderConfig, text_keys
from scenerec.text.backends.hashing import HashingEncoder
from scenerec.text.cache import ANNOUNCE_TEXTS
from tests.text.helpers import CountingEncoder

CATALOG = [f"product {i} {word}" for i, word in enumerate(["tea", "knife", "pan", "mug"] * 50)]


def _cached(counting: CountingEncoder, root: Path, **kw: int) -> CachedEncoder:
    return CachedEncoder(counting, EmbeddingCache(root, **kw))


def test_miss_then_hit_returns_identical_vectors(counting: CountingEncoder, tmp_path: Path) -> None:
    enc = _cached(counting, tmp_path)
    first = enc.encode(CATALOG)
    assert (enc.last_hits, enc.last_misses) == (0, len(CATALOG))
    counting.seen.clear()

    # A new process would start with an empty memory: use a fresh cache object on the folder.
    again = _cached(counting, tmp_path)
    second = again.encode(CATALOG)
    assert counting.seen == []
    assert (again.last_hits, again.last_misses) == (len(CATALOG), 0)
    assert np.array_equal(first, second)


def test_one_percent_changed_encodes_only_that(counting: CountingEncoder, tmp_path: Path) -> None:
    _cached(counting, tmp_path).encode(CATALOG)
    counting.seen.clear()
    changed = list(CATALOG)
    changed[7] = "a completely new description"
    changed[150] = "another edited title"

    out = _cached(counting, tmp_path).encode(changed)
    assert sorted(counting.seen) == sorted([changed[7], changed[150]])
    assert np.allclose(out, counting.inner.encode(changed), atol=1e-6)


def test_duplicate_texts_are_encoded_once(counting: CountingEncoder, tmp_path: Path) -> None:
    out = _cached(counting, tmp_path).encode(["tea", "knife", "tea", "tea"])
    assert sorted(counting.seen) == ["knife", "tea"]
    assert np.array_equal(out[0], out[2]) and np.array_equal(out[0], out[3])


def test_query_and_passage_are_cached_apart(tmp_path: Path) -> None:
    inner = HashingEncoder(EncoderConfig(backend="hashing", query_prefix="q "))
    enc = CachedEncoder(CountingEncoder(inner), EmbeddingCache(tmp_path))
    passage = enc.encode(["green tea"])
    query = enc.encode(["green tea"], kind="query")
    assert not np.allclose(passage, query)
    assert text_keys(["x"], "query")[0] != text_keys(["x"], "passage")[0]


def test_fingerprints_do_not_share_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    a = CachedEncoder(HashingEncoder(EncoderConfig(backend="hashing")), cache)
    b_inner = CountingEncoder(
        HashingEncoder(EncoderConfig(backend="hashing", passage_prefix="doc: "))
    )
    a.encode(["tea"])
    CachedEncoder(b_inner, cache).encode(["tea"])
    assert b_inner.seen == ["tea"]


def _shards(root: Path) -> list[Path]:
    return sorted(root.glob("*/shard-*.npz"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_shard_is_detected_and_rebuilt(
    damage: str, counting: CountingEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = _cached(counting, tmp_path).encode(CATALOG)
    (shard,) = _shards(tmp_path)
    data = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a flipped byte inside the vectors: the zip still opens
        pos = len(data) // 2
        shard.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    else:
        shard.write_bytes(b"not a zip file at all")
    counting.seen.clear()

    with caplog.at_level(logging.WARNING, logger="scenerec.text.cache"):
        out = _cached(counting, tmp_path).encode(CATALOG)
    assert "corrupt" in caplog.text
    assert np.allclose(out, expected, atol=1e-6)
    assert len(counting.seen) == len(CATALOG)  # everything re-encoded...
    counting.seen.clear()
    _cached(counting, tmp_path).encode(CATALOG)
    assert counting.seen == []  # ...and cached again


def test_shards_are_merged_when_they_pile_up(counting: CountingEncoder, tmp_path: Path) -> None:
    enc = _cached(counting, tmp_path, max_shards=3)
    for i in range(0, 40, 5):
        enc.encode(CATALOG[i : i + 5])
    assert len(_shards(tmp_path)) <= 3
    counting.seen.clear()
    _cached(counting, tmp_path).encode(CATALOG[:40])
    assert counting.seen == []


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from scenerec.text import CachedEncoder, EmbeddingCache, EncoderConfig
    from scenerec.text.backends.hashing import HashingEncoder

    root, start = sys.argv[1], int(sys.argv[2])
    enc = CachedEncoder(HashingEncoder(EncoderConfig(backend="hashing")),
                        EmbeddingCache(root, max_shards=4))
    texts = [f"text number {i}" for i in range(300)]
    while not (Path(root) / "go").exists():  # start writing together with the other process
        time.sleep(0.01)
    # Overlapping, interleaved small writes from both processes, with merges in between.
    for i in range(start, start + 200, 10):
        enc.encode(texts[i : i + 10])
    """
)


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 100)
    ]
    (tmp_path / "go").touch()
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "corrupt" not in err
    assert not list(tmp_path.glob("*/.tmp-*"))

    # Process one wrote texts 0-199, process two 100-299: the union must all be there.
    texts = [f"text number {i}" for i in range(300)]
    counting = CountingEncoder(HashingEncoder(EncoderConfig(backend="hashing")))
    out = CachedEncoder(counting, EmbeddingCache(tmp_path)).encode(texts)
    assert counting.seen == []
    assert np.allclose(out, counting.inner.encode(texts), atol=1e-6)


def test_a_long_encode_is_announced_and_an_online_one_is_not(
    counting: CountingEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A replay or a server encodes a search query or two per update: one INFO line each
    would flood the output; a catalog-sized encode is worth a line."""
    enc = _cached(counting, tmp_path)
    few = [f"query {i}" for i in range(3)]
    many = [f"item text {i}" for i in range(ANNOUNCE_TEXTS)]
    with caplog.at_level(logging.INFO, logger="scenerec.text.cache"):
        enc.encode(few, kind="query", store=False)
        assert "encoding" not in caplog.text
        enc.encode(many)
    assert f"encoding {ANNOUNCE_TEXTS} texts" in caplog.text
