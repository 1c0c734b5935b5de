"""User interest vectors (decay, behaviour weights, scenarios, queries) and profile texts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.errors import ConfigError, SchemaError
from scenerec.schema import C
from scenerec.text import (
    ALL_SCENARIOS,
    ProfileTextConfig,
    encode_items,
    encode_queries,
    render_profiles,
    user_interest_vectors,
    user_profile_vectors,
)
from scenerec.text.backends.hashing import HashingEncoder

DAY = 86_400


def _two_items(events: dict[str, Sequence[object]]) -> Dataset:
    catalog = pl.DataFrame({C.ITEM_ID: ["x", "y"], C.TITLE: ["x", "y"]})
    return Dataset(pl.DataFrame(events), catalog)


def _axes(ds: Dataset) -> np.ndarray:
    """Item x on axis 0, item y on axis 1 (hand-made embeddings)."""
    emb = np.zeros((ds.n_items, 2), np.float32)
    emb[ds.item_vocab.index("x"), 0] = 1.0
    emb[ds.item_vocab.index("y"), 1] = 1.0
    return emb


def _events(items: list[str], ts: list[int], behaviors: list[str]) -> dict[str, Sequence[object]]:
    n = len(items)
    return {
        C.USER_ID: ["u"] * n,
        C.ITEM_ID: items,
        C.SCENARIO: ["web"] * n,
        C.BEHAVIOR: behaviors,
        C.TIMESTAMP: ts,
    }


def test_recent_events_weigh_more_by_half_life() -> None:
    ds = _two_items(_events(["x", "y"], [0, 10 * DAY], ["view", "view"]))
    v = user_interest_vectors(ds, _axes(ds), half_life_s=10 * DAY)["web"][0]
    # x is one half-life older than y: weight ratio 1/2.
    assert v[1] / v[0] == pytest.approx(2.0, rel=1e-4)
    flat = user_interest_vectors(ds, _axes(ds), half_life_s=math.inf)["web"][0]
    assert flat[1] / flat[0] == pytest.approx(1.0)


def test_stronger_behaviours_weigh_more() -> None:
    ds = _two_items(_events(["x", "y"], [0, 0], ["purchase", "view"]))
    v = user_interest_vectors(ds, _axes(ds), half_life_s=math.inf)["web"][0]
    assert v[0] / v[1] == pytest.approx(
        ds.behavior_weights["purchase"] / ds.behavior_weights["view"]
    )


def test_common_now_decays_all_users_alike() -> None:
    ds = _two_items(_events(["x"], [0], ["view"]))
    v = user_interest_vectors(ds, _axes(ds), half_life_s=DAY, now=5 * DAY)["web"][0]
    assert np.allclose(v, [1.0, 0.0])  # normalised: decay scales but does not turn it


def test_per_scenario_vectors_and_missing_evidence(shop: Dataset) -> None:
    enc = HashingEncoder()
    items = encode_items(shop, enc)
    out = user_interest_vectors(shop, items.vectors, half_life_s=30 * DAY)
    assert set(out) == {"web", "search"}
    web, search = out["web"], out["search"]
    assert web.shape == (shop.n_users, enc.dim) and web.dtype == np.float32
    u3 = shop.user_vocab.index("u3")
    assert not web[u3].any()  # u3's only web item has no text: no evidence, zero vector
    assert np.linalg.norm(search[u3]) == pytest.approx(1.0, abs=1e-5)
    both = user_interest_vectors(shop, items.vectors, half_life_s=30 * DAY, per_scenario=False)
    assert set(both) == {ALL_SCENARIOS}


def test_searches_pull_the_vector_toward_the_query(shop: Dataset) -> None:
    enc = HashingEncoder()
    items = encode_items(shop, enc)
    queries = encode_queries(shop, enc)
    u2 = shop.user_vocab.index("u2")
    without = user_interest_vectors(shop, items.vectors, half_life_s=math.inf)["search"][u2]
    with_q = user_interest_vectors(
        shop, items.vectors, half_life_s=math.inf, query_emb=queries, query_weight=3.0
    )["search"][u2]
    q = queries.vectors[queries.queries.index("green tea powder")]
    assert with_q @ q > without @ q


def test_misaligned_item_matrix_is_rejected(shop: Dataset) -> None:
    with pytest.raises(SchemaError, match="aligned"):
        user_interest_vectors(shop, np.zeros((2, 4), np.float32), half_life_s=DAY)
    with pytest.raises(ConfigError, match="half_life_s"):
        user_interest_vectors(shop, np.zeros((shop.n_items, 4), np.float32), half_life_s=0)


def test_profile_text_lists_recent_items_and_queries(shop: Dataset) -> None:
    texts, has_profile = render_profiles(shop)
    u1 = texts[shop.user_vocab.index("u1")]
    assert u1.startswith("Recently: Cast iron frying pan, in Kitchen > Cookware; Chef knife")
    assert u1.endswith("Searched: frying pan")
    assert has_profile.all()

    web_only, _ = render_profiles(shop, scenario="web")
    assert web_only[shop.user_vocab.index("u3")] == ""  # only a text-less item there
    short, _ = render_profiles(shop, ProfileTextConfig(max_items=1, max_queries=0))
    assert (
        short[shop.user_vocab.index("u1")]
        == "Recently: Cast iron frying pan, in Kitchen > Cookware"
    )


def test_profile_vectors_are_zero_without_profile(shop: Dataset) -> None:
    vectors, mask = user_profile_vectors(shop, HashingEncoder(), scenario="web")
    u3 = shop.user_vocab.index("u3")
    assert not mask[u3] and not vectors[u3].any()
    assert np.allclose(np.linalg.norm(vectors[mask], axis=1), 1.0, atol=1e-5)
