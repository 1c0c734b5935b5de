"""The item side of ScenarioFusion: factors for every item, also for items the base factor
model has no events for (a ridge map from their text), and text vectors of items that arrive
with new events (their catalog columns)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from scenerec.schema import C, FloatMatrix
from scenerec.text.templates import ItemTextTemplate, render_items

#: fewest items with both text and factors to fit the map from
MIN_MAP_ITEMS = 20


def fit_text_map(
    item_text: FloatMatrix, has_text: np.ndarray, factors: FloatMatrix, seen: np.ndarray
) -> FloatMatrix | None:
    """Ridge map ``W`` (d, f) with ``text @ W ~ factors``, fitted on the items that have both
    (``seen``: the base model had events of them). ``None`` with too few such items."""
    n = len(factors)
    both = seen[:n] & has_text[:n]
    if not item_text.shape[1] or both.sum() < MIN_MAP_ITEMS:
        return None
    e = item_text[:n][both].astype(np.float64)
    gram = e.T @ e + 1.0 * np.eye(e.shape[1])  # the ridge term keeps a small map tame
    out: FloatMatrix = np.linalg.solve(gram, e.T @ factors[both]).astype(np.float32)
    return out


def all_item_factors(
    n_items: int,
    factors: FloatMatrix,
    seen: np.ndarray,
    item_text: FloatMatrix,
    has_text: np.ndarray,
    text_map: FloatMatrix | None,
) -> FloatMatrix:
    """(n_items, f): the base model's factors; an item it saw no events of gets factors mapped
    from its text, or zero without text."""
    out = np.zeros((n_items, factors.shape[1]), np.float32)
    out[: min(n_items, len(factors))] = factors[:n_items]
    known = np.zeros(n_items, bool)
    known[: min(n_items, len(seen))] = seen[:n_items]
    m = min(n_items, len(item_text))
    text_only = np.zeros(n_items, bool)
    text_only[:m] = ~known[:m] & has_text[:m]
    if text_only.any() and text_map is not None:
        out[text_only] = item_text[:m][text_only[:m]] @ text_map
    return out


def log_popularity(pop: np.ndarray, items: np.ndarray, n_fit: int) -> FloatMatrix:
    """log(1 + popularity) of ``items``. An item added after the fit (index >= ``n_fit``) has
    an unknown popularity, not a small one: it gets at least the median of the fitted items
    with events, so that its text, not its few first events, decides where it ranks."""
    out: FloatMatrix = np.log1p(pop[items]).astype(np.float32)
    new = items >= n_fit
    if new.any():
        old = pop[:n_fit]
        prior = float(np.median(np.log1p(old[old > 0]))) if (old > 0).any() else 0.0
        out[new] = np.maximum(out[new], prior)
    return out


def new_item_text(
    events: pl.DataFrame,
    template: ItemTextTemplate,
    encode: Callable[[list[str]], FloatMatrix],
    old_i: int,
    n_items: int,
    dim: int,
) -> tuple[FloatMatrix, np.ndarray]:
    """Text vectors of items ``old_i..n_items-1`` from catalog columns of the events (the
    first non-null value per column), and which of them had text."""
    vecs = np.zeros((max(n_items - old_i, 0), dim), np.float32)
    has = np.zeros(len(vecs), bool)
    cols = [c for c in template.columns if c in events.columns]
    if not cols or n_items <= old_i or dim == 0:
        return vecs, has
    cat = (
        events.filter(pl.col(C.ITEM_IDX) >= old_i)
        .group_by(C.ITEM_IDX, maintain_order=True)
        .agg([pl.col(c).cast(pl.String).drop_nulls().first() for c in cols])
        .with_columns(pl.col(C.ITEM_IDX).cast(pl.String).alias(C.ITEM_ID))
    )
    texts, ok = render_items(cat, template)
    if ok.any():
        pos = cat[C.ITEM_IDX].to_numpy().astype(np.int64)[ok] - old_i
        vecs[pos] = encode([t for t, k in zip(texts, ok, strict=True) if k])
        has[pos] = True
    return vecs, has


__all__ = [
    "MIN_MAP_ITEMS",
    "all_item_factors",
    "fit_text_map",
    "log_popularity",
    "new_item_text",
]
