"""Small data sets and toy models shared by the evaluation tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from scenerec.data.dataset import Dataset
from scenerec.eval.protocol import RankingModel
from scenerec.models import UserBatch
from scenerec.models.popularity import Popularity
from scenerec.schema import C, FloatMatrix, IdxArray


def frame(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    ev = pl.DataFrame(rows, schema=[C.USER_ID, C.ITEM_ID, C.SCENARIO, C.TIMESTAMP], orient="row")
    return ev.with_columns(pl.lit("click").alias(C.BEHAVIOR))


def ladder(
    n_users: int, held: tuple[str, ...] = ("i10",)
) -> tuple[Dataset, pl.DataFrame, pl.DataFrame]:
    """30 app items with popularity 30, 29, ..., 1 (item i00 most popular).

    Each test user has one web training event and holds out one app item from ``held`` (in
    turn); with i10, exactly 10 candidate negatives (i00..i09) score above it and 19 below.
    """
    rows: list[tuple[str, str, str, int]] = []
    for r in range(30):
        rows += [(f"f{r}", f"i{j:02d}", "app", 1) for j in range(30 - r)]
    for u in range(n_users):
        rows.append((f"t{u}", "w0", "web", 1))
    train = frame(rows)
    test = frame([(f"t{u}", held[u % len(held)], "app", 2) for u in range(n_users)])
    return Dataset(pl.concat([train, test])), train, test


class Unpopularity(Popularity):
    """Ranks the least used items first: a model that is worse on the ladder data."""

    name = "unpopularity"

    def _score(self, users: UserBatch, items: IdxArray) -> FloatMatrix:
        return -super()._score(users, items)


class OnlyRanking:
    """A fitted model seen only through ``RankingModel``: reading anything else (its training
    copy, its config) raises, so an evaluation that works through it cannot have used it."""

    ALLOWED = frozenset({"data_fingerprint", "vocab", "score_users", "rank_users"})

    def __init__(self, inner: RankingModel) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name not in self.ALLOWED:
            raise AttributeError(f"evaluation read {name!r}, which RankingModel does not offer")
        return getattr(self._inner, name)
