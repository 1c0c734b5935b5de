"""User interest vectors from text, as features for the models.

Two views of a user in the item text space:

- ``user_interest_vectors``: a behaviour-weighted, time-decayed sum of the vectors of the
  items the user acted on (and of the queries they searched), per scenario or over all
  scenarios, L2-normalised. An event of weight ``w`` (from the dataset's behaviour weights) at
  age ``a`` seconds counts ``w * 0.5 ** (a / half_life_s)``; ages are taken from the user's own
  latest event unless a common ``now`` is given. Because queries and items share one space, the
  ``search`` scenario's vector says what a user looks for in every other scenario.
- ``user_profile_vectors``: the user's recent history rendered as text (titles, categories,
  searched queries) and encoded like an item text.

Users with no usable evidence get a zero vector (and ``False`` in the returned masks).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.data.dataset import Dataset
from scenerec.data.histories import decay
from scenerec.errors import ConfigError, SchemaError
from scenerec.schema import C, FloatMatrix
from scenerec.text.embeddings import QueryEmbeddings, normalize_query
from scenerec.text.encoder import TextEncoder, l2_normalize
from scenerec.text.templates import ItemTextTemplate, TemplateField, render_items

BoolArray = npt.NDArray[np.bool_]

ALL_SCENARIOS: Final = "*"
"""Key of the all-scenario vectors in ``user_interest_vectors(..., per_scenario=False)``."""


def _decayed_weights(
    events: pl.DataFrame, n_users: int, half_life_s: float, now: int | None
) -> npt.NDArray[np.float64]:
    """Behaviour weight times time decay of each event row, float64 ``(n_events,)``."""
    if not half_life_s > 0:
        raise ConfigError(
            f"half_life_s must be > 0 seconds (got {half_life_s}); use math.inf for no decay"
        )
    weights = events[C.WEIGHT].to_numpy().astype(np.float64)
    if math.isinf(half_life_s) or events.is_empty():
        return weights
    users = events[C.USER_IDX].to_numpy()
    ts = events[C.TIMESTAMP].to_numpy().astype(np.float64)
    if now is None:
        ref = np.full(n_users, -np.inf)
        np.maximum.at(ref, users, ts)
        age = ref[users] - ts
    else:
        age = np.maximum(float(now) - ts, 0.0)
    out: npt.NDArray[np.float64] = weights * decay(age, half_life_s)
    return out


def interest_sums(
    rows: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    n_rows: int,
    item_vectors: FloatMatrix,
    *,
    queries: npt.NDArray[np.int64] | None = None,
    query_vectors: FloatMatrix | None = None,
    query_weight: float = 1.0,
) -> npt.NDArray[np.float64]:
    """The decayed interest sum of each row: ``sum_events w * (item vector + query_weight *
    query vector)``, float64 ``(n_rows, dim)``; its direction is a user's interest vector.

    This is the one definition of a decayed interest vector: ``user_interest_vectors`` returns
    these sums normalised, and ``ScenarioFusion`` keeps them un-normalised so that a new event
    updates them in O(dim).

    Args:
        rows: (n_events,) output row of each event (e.g. ``user * n_scenarios + scenario``).
        items: (n_events,) item rows of ``item_vectors``.
        weights: (n_events,) behaviour weight times time decay.
        n_rows: number of output rows.
        item_vectors: (n_items, dim) float32, zero rows for items without text.
        queries: (n_events,) rows of ``query_vectors``, -1 for events without a query.
        query_vectors: (n_queries, dim) float32.
        query_weight: weight of an event's query relative to its item.
    """
    out = _weighted_rows(rows, items, weights, n_rows, item_vectors)
    if queries is None or query_vectors is None or query_weight <= 0:
        return out
    ok = queries >= 0
    if ok.any():
        out += _weighted_rows(
            rows[ok], queries[ok], weights[ok] * query_weight, n_rows, query_vectors
        )
    return out


def _weighted_rows(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    n_rows: int,
    vectors: FloatMatrix,
) -> npt.NDArray[np.float64]:
    """``sum_events w * vectors[col]`` per output row, float64; reads only the vectors the
    events use (a few events cost O(events x dim), not O(all vectors))."""
    if len(cols) <= 64 and n_rows <= 4096:  # a few events (online updates): no sparse matrix
        out = np.zeros((n_rows, vectors.shape[1]), np.float64)
        np.add.at(out, rows, weights[:, None] * vectors[cols].astype(np.float64))
        return out
    used, pos = np.unique(cols, return_inverse=True)
    x = sp.csr_matrix((weights, (rows, pos.ravel())), shape=(n_rows, len(used)))
    return np.asarray(x @ vectors[used].astype(np.float64))


def user_interest_vectors(
    dataset: Dataset,
    item_emb: FloatMatrix,
    *,
    half_life_s: float,
    query_emb: QueryEmbeddings | None = None,
    per_scenario: bool = True,
    query_weight: float = 1.0,
    now: int | None = None,
) -> dict[str, FloatMatrix]:
    """Behaviour-weighted, time-decayed mean direction of each user's item and query vectors.

    Args:
        dataset: the events to aggregate (e.g. the train part of a split).
        item_emb: float32 ``(dataset.n_items, dim)`` aligned with ``item_idx``; zero rows for
            items without text (``ItemEmbeddings.vectors`` of ``encode_items(dataset, ...)``).
        half_life_s: an event this many seconds older than the reference time counts half;
            ``math.inf`` disables decay.
        query_emb: vectors of the events' search queries (``encode_queries(dataset, ...)``);
            each event with a known query adds its query vector times ``query_weight``.
        per_scenario: one matrix per scenario (keys: scenario names); else one matrix over all
            scenarios under the key ``ALL_SCENARIOS``.
        query_weight: weight of a query relative to the item of the same event.
        now: common reference time (epoch seconds); by default each user's latest event.

    Returns:
        ``{scenario: float32 (n_users, dim)}``, unit rows, zero rows for users without text
        evidence in that scenario.

    Raises:
        SchemaError: ``item_emb`` or ``query_emb`` do not match the dataset or each other.
    """
    item_emb = np.asarray(item_emb, dtype=np.float32)
    if item_emb.ndim != 2 or item_emb.shape[0] != dataset.n_items:
        raise SchemaError(
            f"item_emb has shape {item_emb.shape}, expected ({dataset.n_items}, dim) aligned "
            "with the dataset's item_idx",
            fix="pass encode_items(dataset, encoder).vectors, or ItemEmbeddings.aligned("
            "dataset.item_vocab.to_list())[0]",
        )
    if query_emb is not None and len(query_emb.queries) and query_emb.dim != item_emb.shape[1]:
        raise SchemaError(
            f"query vectors are {query_emb.dim}-d but item vectors {item_emb.shape[1]}-d",
            fix="encode queries and items with the same encoder",
        )
    ev = dataset.events
    n_users, n_scen = dataset.n_users, len(dataset.scenario_vocab)
    w = _decayed_weights(ev, n_users, half_life_s, now)
    users = ev[C.USER_IDX].to_numpy().astype(np.int64)
    rows = users * n_scen + ev[C.SCENARIO_IDX].to_numpy() if per_scenario else users
    n_rows = n_users * n_scen if per_scenario else n_users
    q_idx = None
    if query_emb is not None and len(query_emb.queries) and C.QUERY in ev.columns:
        q_idx = query_emb.indices(ev[C.QUERY].to_list())
    agg = interest_sums(
        rows,
        ev[C.ITEM_IDX].to_numpy().astype(np.int64),
        w,
        n_rows,
        item_emb,
        queries=q_idx,
        query_vectors=None if query_emb is None else query_emb.vectors,
        query_weight=query_weight,
    )
    out = l2_normalize(np.asarray(agg))
    if not per_scenario:
        return {ALL_SCENARIOS: out}
    cube = out.reshape(n_users, n_scen, -1)
    return {
        name: np.ascontiguousarray(cube[:, s, :])
        for s, name in enumerate(dataset.scenario_vocab.to_list())
    }


class ProfileTextConfig(FrozenConfig):
    """How a user's history becomes a profile text.

    Attributes:
        max_items: most recent distinct items listed.
        max_queries: most recent distinct search queries listed.
        item_template: how each item is written (title and category by default, short).
        items_label: written before the items.
        queries_label: written before the queries.
    """

    max_items: int = Field(default=20, gt=0)
    max_queries: int = Field(default=5, ge=0)
    item_template: ItemTextTemplate = ItemTextTemplate(
        fields=(
            TemplateField(column=C.TITLE, max_tokens=12),
            TemplateField(column=C.CATEGORY, label="in ", max_tokens=6),
        ),
        separator=", ",
    )
    items_label: str = "Recently: "
    queries_label: str = "Searched: "


def render_profiles(
    dataset: Dataset, config: ProfileTextConfig | None = None, *, scenario: str | None = None
) -> tuple[list[str], BoolArray]:
    """Each user's recent history as text, most recent first.

    Example: ``"Recently: Heat (1995), in Action; Toy Story (1995), in Animation. Searched:
    heist movies"``. Items without text are left out (no fake text).

    Args:
        dataset: the events to read.
        config: profile settings.
        scenario: only this scenario's events; all scenarios when ``None``.

    Returns:
        ``(texts, has_profile)``: one string per ``user_idx`` (``""`` when the user has no item
        text and no query) and the bool mask of non-empty ones.
    """
    config = config or ProfileTextConfig()
    labels, has_text = render_items(dataset.catalog, config.item_template)
    ev = dataset.events.with_row_index("_order")
    if scenario is not None:
        ev = ev.filter(pl.col(C.SCENARIO_IDX) == dataset.scenario_index(scenario))
    cols = [C.USER_IDX, C.ITEM_IDX]
    if C.QUERY in ev.columns:
        cols.append(C.QUERY)
    grouped = (
        ev.sort([C.USER_IDX, C.TIMESTAMP, "_order"], descending=[False, True, True])
        .group_by(C.USER_IDX, maintain_order=True)
        .agg(cols[1:])
    )
    texts = [""] * dataset.n_users
    for row in grouped.iter_rows(named=True):
        items: list[str] = []
        for i in dict.fromkeys(row[C.ITEM_IDX]):
            if has_text[i]:
                items.append(labels[i])
                if len(items) == config.max_items:
                    break
        queries: list[str] = []
        if config.max_queries:
            recent = (normalize_query(raw) for raw in (row.get(C.QUERY) or []) if raw)
            for q in dict.fromkeys(recent):
                if q:
                    queries.append(q)
                    if len(queries) == config.max_queries:
                        break
        parts = []
        if items:
            parts.append(config.items_label + "; ".join(items))
        if queries:
            parts.append(config.queries_label + "; ".join(queries))
        texts[row[C.USER_IDX]] = ". ".join(parts)
    mask = np.fromiter((bool(t) for t in texts), dtype=bool, count=len(texts))
    return texts, mask


def user_profile_vectors(
    dataset: Dataset,
    encoder: TextEncoder,
    config: ProfileTextConfig | None = None,
    *,
    scenario: str | None = None,
    batch_size: int | None = None,
) -> tuple[FloatMatrix, BoolArray]:
    """Encode each user's profile text (``render_profiles``) as a passage.

    Returns:
        ``(vectors, has_profile)``: float32 ``(n_users, dim)`` with zero rows for users without
        a profile, and the bool mask.
    """
    texts, mask = render_profiles(dataset, config, scenario=scenario)
    rows = np.flatnonzero(mask)
    encoded = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
    out = np.zeros((dataset.n_users, encoded.shape[1] if len(rows) else encoder.dim), np.float32)
    out[rows] = encoded
    return out, mask
