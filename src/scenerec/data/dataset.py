"""The Dataset: cleaned events, catalog and id vocabularies (histories: ``data.histories``).

A ``Dataset`` is what every model fits on. It holds typed polars tables and dense indices
(``user_idx``, ``item_idx``, ``scenario_idx``) assigned by fixed vocabularies, so that the train
part of a split and the full data agree on every index (``subset`` keeps the vocabularies).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from scenerec.data.histories import Histories, weigh_behaviors
from scenerec.errors import SchemaError, UnknownEntityError
from scenerec.schema import (
    CATALOG_TEXT_COLUMNS,
    DEFAULT_BEHAVIOR_WEIGHTS,
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    REQUIRED_EVENT_COLUMNS,
    C,
    IdxArray,
)

_DERIVED = (C.USER_IDX, C.ITEM_IDX, C.SCENARIO_IDX, C.WEIGHT)


def _drop_derived(events: pl.DataFrame) -> pl.DataFrame:
    return events.drop([c for c in _DERIVED if c in events.columns])


class Vocabulary:
    """An ordered mapping between raw ids (str) and dense indices ``0..n-1``.

    Indices never change: ``add`` appends unseen ids in place (online learning grows the
    vocabulary in time proportional to the ids added) and ``retire`` replaces a forgotten id by
    a tombstone, so that it is unknown afterwards while every other index stays.
    """

    def __init__(self, ids: Iterable[str], *, kind: str) -> None:
        self.kind = kind
        self._list: list[str] = list(ids)
        self._series: pl.Series | None = pl.Series(kind, self._list, dtype=pl.String)
        if self._series.n_unique() != len(self._list):
            raise SchemaError(f"{kind} vocabulary has duplicate ids")
        if self._series.null_count():
            raise SchemaError(f"{kind} vocabulary has a null id")

    @classmethod
    def from_series(cls, values: pl.Series, *, kind: str) -> Vocabulary:
        """Sorted unique non-null values (sorted so that the order does not depend on rows)."""
        return cls(values.drop_nulls().unique().sort().to_list(), kind=kind)

    @property
    def ids(self) -> pl.Series:
        """The ids in index order, as a String Series (rebuilt after ``add``)."""
        if self._series is None:
            self._series = pl.Series(self.kind, self._list, dtype=pl.String)
        return self._series

    def __len__(self) -> int:
        return len(self._list)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._lookup

    @cached_property
    def _lookup(self) -> dict[str, int]:
        return {v: i for i, v in enumerate(self._list)}

    def index(self, raw_id: str) -> int:
        """Dense index of one id. Raises UnknownEntityError."""
        try:
            return self._lookup[raw_id]
        except KeyError:
            raise UnknownEntityError(self.kind, raw_id) from None

    def get(self, raw_id: str) -> int | None:
        return self._lookup.get(raw_id)

    def indices(self, raw_ids: pl.Series) -> pl.Series:
        """Vectorised lookup; unknown ids become null. Returns Int64."""
        return raw_ids.cast(pl.String).replace_strict(
            self.ids, pl.arange(0, len(self), eager=True), default=None, return_dtype=pl.Int64
        )

    def to_ids(self, idx: Sequence[int] | IdxArray) -> list[str]:
        ids = self._list
        return [ids[i] for i in np.asarray(idx, dtype=np.int64).tolist()]

    def extend(self, raw_ids: Iterable[str]) -> Vocabulary:
        """A new vocabulary with unseen ids appended (existing indices unchanged)."""
        new = [r for r in dict.fromkeys(raw_ids) if r not in self._lookup]
        return Vocabulary([*self._list, *new], kind=self.kind)

    def add(self, raw_ids: Iterable[str]) -> int:
        """Append unseen ids in place (existing indices unchanged); returns how many were new.
        Costs O(ids given), not O(vocabulary)."""
        lookup, ids, before = self._lookup, self._list, len(self._list)
        for raw in raw_ids:
            if raw not in lookup:
                if raw is None:
                    raise SchemaError(f"{self.kind} id is null", fix="give every event an id")
                lookup[raw] = len(ids)
                ids.append(raw)
        if len(ids) != before:
            self._series = None
        return len(ids) - before

    def retire(self, raw_id: str) -> int | None:
        """Forget an id: it becomes unknown and its index holds a tombstone that no raw id can
        equal (other indices stay). Returns the retired index (``None`` if unknown)."""
        idx = self._lookup.pop(raw_id, None)
        if idx is not None:
            self._list[idx] = f"\x00retired:{idx}"
            self._lookup[self._list[idx]] = idx
            self._series = None
        return idx

    def copy(self) -> Vocabulary:
        """An independent copy (``add`` on it leaves this one unchanged)."""
        out = Vocabulary.__new__(Vocabulary)
        out.kind, out._list, out._series = self.kind, list(self._list), self._series
        return out

    def to_list(self) -> list[str]:
        return list(self._list)


def align_catalog(
    items: Vocabulary, catalog: pl.DataFrame | None, *, keep: Literal["first", "last"] = "first"
) -> pl.DataFrame:
    """One catalog row per vocabulary item, in index order (missing text is null); of repeated
    ``item_id`` rows the ``keep`` one (``first`` or ``last``) counts."""
    base = pl.DataFrame({C.ITEM_ID: items.ids, C.ITEM_IDX: np.arange(len(items))})
    if catalog is None or catalog.is_empty():
        return base.with_columns(pl.lit(None, dtype=pl.String).alias(C.TITLE))
    cat = catalog.with_columns(pl.col(C.ITEM_ID).cast(pl.String)).unique(
        C.ITEM_ID, keep=keep, maintain_order=True
    )
    cat = cat.drop([c for c in (C.ITEM_IDX,) if c in cat.columns])
    return base.join(cat, on=C.ITEM_ID, how="left").sort(C.ITEM_IDX)


class Dataset:
    """Events + catalog + vocabularies.

    Args:
        events: typed events (schema columns; extra columns are kept).
        catalog: items with text columns; may be ``None``. Items in the catalog but without
            events are part of the item vocabulary (new, text-only items).
        users: optional user attributes keyed by ``user_id``.
        behavior_weights: behaviour -> weight used by ``matrix`` and histories; behaviours not
            listed weigh 1.
        vocabularies: reuse these (``users``, ``items``, ``scenarios``, ``behaviors``) instead of
            building them from the data; ids outside them are an error.
    """

    def __init__(
        self,
        events: pl.DataFrame,
        catalog: pl.DataFrame | None = None,
        users: pl.DataFrame | None = None,
        *,
        behavior_weights: Mapping[str, float] | None = None,
        vocabularies: Mapping[str, Vocabulary] | None = None,
        scenario_items: Mapping[int, IdxArray] | None = None,
        name: str = "dataset",
    ) -> None:
        missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in events.columns]
        if missing:
            raise SchemaError(
                f"events table lacks column(s) {missing}",
                fix="clean raw data with scenerec.data.clean first",
            )
        self.name = name
        self.behavior_weights = dict(behavior_weights or DEFAULT_BEHAVIOR_WEIGHTS)
        events = events.with_columns(
            pl.col(c).cast(EVENT_SCHEMA[c]) for c in EVENT_COLUMNS if c in events.columns
        )
        if catalog is not None and C.ITEM_ID not in catalog.columns:
            raise SchemaError(f"catalog lacks column {C.ITEM_ID!r}")
        vocabs = dict(vocabularies or {})
        if "users" not in vocabs:
            vocabs["users"] = Vocabulary.from_series(events[C.USER_ID], kind="user")
        if "items" not in vocabs:
            ids = events[C.ITEM_ID]
            if catalog is not None:
                ids = pl.concat([ids, catalog[C.ITEM_ID].cast(pl.String)])
            vocabs["items"] = Vocabulary.from_series(ids, kind="item")
        if "scenarios" not in vocabs:
            vocabs["scenarios"] = Vocabulary.from_series(events[C.SCENARIO], kind="scenario")
        if "behaviors" not in vocabs:
            vocabs["behaviors"] = Vocabulary.from_series(events[C.BEHAVIOR], kind="behavior")
        self.user_vocab: Vocabulary = vocabs["users"]
        self.item_vocab: Vocabulary = vocabs["items"]
        self.scenario_vocab: Vocabulary = vocabs["scenarios"]
        self.behavior_vocab: Vocabulary = vocabs["behaviors"]

        self.events: pl.DataFrame = events.with_columns(
            self.user_vocab.indices(events[C.USER_ID]).alias(C.USER_IDX),
            self.item_vocab.indices(events[C.ITEM_ID]).alias(C.ITEM_IDX),
            self.scenario_vocab.indices(events[C.SCENARIO]).alias(C.SCENARIO_IDX),
            weigh_behaviors(events[C.BEHAVIOR], self.behavior_weights).alias(C.WEIGHT),
        )
        for col, vocab in (
            (C.USER_IDX, self.user_vocab),
            (C.ITEM_IDX, self.item_vocab),
            (C.SCENARIO_IDX, self.scenario_vocab),
        ):
            n_bad = self.events[col].null_count()
            if n_bad:
                bad = self.events.filter(pl.col(col).is_null()).row(0, named=True)
                raw_col = {C.USER_IDX: C.USER_ID, C.ITEM_IDX: C.ITEM_ID}.get(col, C.SCENARIO)
                raise UnknownEntityError(
                    vocab.kind,
                    bad[raw_col],
                    fix=f"{n_bad} event(s) use ids outside the given {vocab.kind} vocabulary",
                )
        self.catalog: pl.DataFrame = self._align_catalog(catalog)
        self.users = users
        if scenario_items is not None:
            self.__dict__["_scenario_items"] = dict(scenario_items)

    # ------------------------------------------------------------------ construction helpers
    def _align_catalog(self, catalog: pl.DataFrame | None) -> pl.DataFrame:
        return align_catalog(self.item_vocab, catalog)

    def raw_events(self) -> pl.DataFrame:
        """The events without the derived index and weight columns."""
        return _drop_derived(self.events)

    def subset(self, events: pl.DataFrame, *, name: str | None = None) -> Dataset:
        """A Dataset over other events (e.g. the train part of a split) with the same
        vocabularies, catalog and behaviour weights, so indices agree."""
        return Dataset(
            _drop_derived(events),
            self.catalog.drop(C.ITEM_IDX),
            self.users,
            behavior_weights=self.behavior_weights,
            vocabularies=self.vocabularies,
            scenario_items=self._scenario_items,
            name=name or self.name,
        )

    @property
    def vocabularies(self) -> dict[str, Vocabulary]:
        return {
            "users": self.user_vocab,
            "items": self.item_vocab,
            "scenarios": self.scenario_vocab,
            "behaviors": self.behavior_vocab,
        }

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_users(self) -> int:
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        return len(self.item_vocab)

    @property
    def n_events(self) -> int:
        return self.events.height

    @property
    def scenarios(self) -> list[str]:
        return self.scenario_vocab.to_list()

    def scenario_index(self, scenario: str) -> int:
        idx = self.scenario_vocab.get(scenario)
        if idx is None:
            raise UnknownEntityError(
                "scenario", scenario, fix=f"choose one of {self.scenario_vocab.to_list()}"
            )
        return idx

    @cached_property
    def _scenario_items(self) -> dict[int, IdxArray]:
        """Items of each scenario: those with events there, plus catalog items whose
        ``scenario`` column names it (text-only items)."""
        out: dict[int, set[int]] = {}
        pairs = self.events.select(C.SCENARIO_IDX, C.ITEM_IDX).unique()
        for s, i in pairs.iter_rows():
            out.setdefault(s, set()).add(i)
        if C.SCENARIO in self.catalog.columns:
            for item, scen in self.catalog.select(C.ITEM_IDX, C.SCENARIO).drop_nulls().iter_rows():
                s_idx = self.scenario_vocab.get(scen)
                if s_idx is not None:
                    out.setdefault(s_idx, set()).add(item)
        return {s: np.array(sorted(v), dtype=np.int64) for s, v in out.items()}

    def scenario_items(self, scenario: str | None) -> IdxArray:
        """Dense indices of the items that belong to a scenario (all items for ``None``)."""
        if scenario is None:
            return np.arange(self.n_items, dtype=np.int64)
        return self._scenario_items.get(self.scenario_index(scenario), np.zeros(0, np.int64))

    # ------------------------------------------------------------------ derived structures
    @cached_property
    def histories(self) -> Histories:
        """Every user's events across scenarios, time-ordered (ties keep input order)."""
        return Histories.from_events(
            self.events, self.n_users, self.behavior_vocab.to_list(), self.behavior_weights
        )

    def matrix(self, scenario: str | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """User x item interaction matrix (float32 CSR), for one scenario or all.

        Repeated (user, item) events add up their behaviour weights unless ``binary``.
        """
        key = (scenario, binary)
        cache = self.__dict__.setdefault("_matrix_cache", {})
        if key not in cache:
            s = None if scenario is None else self.scenario_index(scenario)
            cache[key] = self.histories.matrix(self.n_items, scenario_idx=s, binary=binary)
        m: sp.csr_matrix = cache[key]
        return m

    def text_of(self, columns: Sequence[str] = CATALOG_TEXT_COLUMNS) -> pl.DataFrame:
        """The catalog's text columns that exist, in item index order."""
        return self.catalog.select([C.ITEM_IDX, *[c for c in columns if c in self.catalog.columns]])

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of the events and the vocabularies (for run manifests)."""
        h = hashlib.sha256()
        for col in (C.USER_IDX, C.ITEM_IDX, C.SCENARIO_IDX, C.TIMESTAMP):
            h.update(self.events[col].to_numpy().tobytes())
        h.update(str((self.n_users, self.n_items, self.scenarios)).encode())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ summaries
    def stats(self) -> dict[str, Any]:
        """Per-scenario figures (users, items, events, behaviours, time span, sparsity)."""
        from scenerec.data.stats import dataset_stats

        return dataset_stats(self)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {self.n_users} users, {self.n_items} items, "
            f"{self.n_events} events, scenarios={self.scenarios})"
        )


__all__ = ["Dataset", "Histories", "Vocabulary", "align_catalog"]
