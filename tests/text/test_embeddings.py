"""Item and query embeddings: text-less items flagged, Parquet round trip, queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import SchemaError
from scenerec.schema import C
from scenerec.text import ItemEmbeddings, encode_items, encode_queries
from scenerec.text.backends.hashing import HashingEncoder
from tests.text.helpers import CountingEncoder


def test_items_follow_item_idx_and_textless_items_are_zero(
    shop: Dataset, counting: CountingEncoder
) -> None:
    emb = encode_items(shop, counting)
    assert emb.item_ids == shop.item_vocab.to_list()
    nothing = shop.item_vocab.index("nothing")
    assert not emb.has_text[nothing] and not emb.vectors[nothing].any()
    assert emb.has_text.sum() == shop.n_items - 1
    assert len(counting.seen) == shop.n_items - 1  # no placeholder text was encoded
    assert np.allclose(np.linalg.norm(emb.vectors[emb.has_text], axis=1), 1.0, atol=1e-5)
    assert emb.fingerprint.startswith(counting.fingerprint + "+tpl-")


def test_same_topic_items_are_close(shop: Dataset, hashing: HashingEncoder) -> None:
    emb = encode_items(shop, hashing)
    v = {iid: emb.vectors[i] for i, iid in enumerate(emb.item_ids)}
    assert v["tea"] @ v["matcha"] > v["tea"] @ v["knife"]


def test_parquet_round_trip(shop: Dataset, hashing: HashingEncoder, tmp_path: Path) -> None:
    emb = encode_items(shop, hashing)
    path = emb.save(tmp_path / "out" / "items.parquet")
    back = ItemEmbeddings.load(path)
    assert back.item_ids == emb.item_ids
    assert np.array_equal(back.vectors, emb.vectors)
    assert np.array_equal(back.has_text, emb.has_text)
    assert back.fingerprint == emb.fingerprint
    assert not list(path.parent.glob(".tmp-*"))


def test_loading_a_foreign_parquet_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame({C.ITEM_ID: ["a"]}).write_parquet(path)
    with pytest.raises(SchemaError, match="has_text"):
        ItemEmbeddings.load(path)


def test_aligned_reorders_and_fills_unknown_ids(shop: Dataset, hashing: HashingEncoder) -> None:
    emb = encode_items(shop, hashing)
    vectors, has_text = emb.aligned(["matcha", "unknown", "tea"])
    assert np.array_equal(vectors[0], emb.vectors[emb.item_ids.index("matcha")])
    assert not has_text[1] and not vectors[1].any()
    assert has_text[2]


def test_catalog_table_works_without_a_dataset(hashing: HashingEncoder) -> None:
    cat = pl.DataFrame({C.ITEM_ID: ["x", "y"], C.TITLE: ["kettle", None]})
    emb = encode_items(cat, hashing)
    assert emb.item_ids == ["x", "y"] and emb.has_text.tolist() == [True, False]


def test_queries_are_distinct_normalised_and_encoded_as_queries(shop: Dataset) -> None:
    from scenerec.text import EncoderConfig

    enc = CountingEncoder(HashingEncoder(EncoderConfig(backend="hashing", query_prefix="q: ")))
    q = encode_queries(shop, enc)
    assert q.queries == ["frying pan", "green tea powder", "sharp knife"]
    assert q.vectors.shape == (3, enc.dim)
    direct = HashingEncoder(EncoderConfig(backend="hashing")).encode(["q: frying pan"])
    assert np.allclose(q.vectors[0], direct[0])
    assert q.indices(["  frying   pan ", None, "unknown", ""]).tolist() == [0, -1, -1, -1]
