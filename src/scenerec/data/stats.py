"""Dataset statistics for ``scenerec data inspect`` and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from scenerec.schema import CATALOG_TEXT_COLUMNS, C

if TYPE_CHECKING:
    from scenerec.data.dataset import Dataset


def _block(ev: pl.DataFrame, n_items_scope: int | None = None) -> dict[str, Any]:
    users = ev[C.USER_ID].n_unique()
    items = ev[C.ITEM_ID].n_unique()
    pairs = ev.select(C.USER_ID, C.ITEM_ID).unique().height
    denom = users * (n_items_scope or items)
    behaviors = dict(ev.group_by(C.BEHAVIOR).len().sort("len", descending=True).iter_rows())
    ts = ev[C.TIMESTAMP]
    return {
        "users": users,
        "items": items,
        "events": ev.height,
        "user_item_pairs": pairs,
        "behaviors": behaviors,
        "time_min": None if ev.is_empty() else int(ts.min()),  # type: ignore[arg-type]
        "time_max": None if ev.is_empty() else int(ts.max()),  # type: ignore[arg-type]
        "sparsity": (1.0 - pairs / denom) if denom else None,
        "mean_events_per_user": (ev.height / users) if users else 0.0,
    }


def dataset_stats(ds: Dataset) -> dict[str, Any]:
    """Overall and per-scenario figures, cross-scenario overlap and catalog text coverage."""
    ev = ds.events
    per = {s: _block(ev.filter(pl.col(C.SCENARIO) == s)) for s in ds.scenarios}
    user_scen = ev.group_by(C.USER_ID).agg(pl.col(C.SCENARIO).n_unique().alias("n"))
    n_multi = int((user_scen["n"] >= 2).sum())
    pairwise: dict[str, int] = {}
    scen = ds.scenarios
    if len(scen) >= 2:
        sets = {
            s: set(ev.filter(pl.col(C.SCENARIO) == s)[C.USER_ID].unique().to_list()) for s in scen
        }
        for i, a in enumerate(scen):
            for b in scen[i + 1 :]:
                pairwise[f"{a}&{b}"] = len(sets[a] & sets[b])
    text_cols = [c for c in CATALOG_TEXT_COLUMNS if c in ds.catalog.columns]
    if text_cols:
        has_text = pl.any_horizontal(
            [
                pl.col(c).is_not_null() & (pl.col(c).cast(pl.String).str.strip_chars() != "")
                for c in text_cols
            ]
        )
        n_without = int(ds.catalog.filter(~has_text).height)
    else:
        n_without = ds.n_items
    return {
        "name": ds.name,
        "overall": _block(ev),
        "scenarios": per,
        "users_in_several_scenarios": n_multi,
        "overlap_pairs": pairwise,
        "catalog_items": ds.n_items,
        "items_without_text": n_without,
        "items_without_events": ds.n_items - ev[C.ITEM_ID].n_unique(),
    }
