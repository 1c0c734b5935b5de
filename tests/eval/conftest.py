"""Fixtures of the evaluation tests: tiny train/test splits whose right answers are known."""

from __future__ import annotations

import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.models.popularity import Popularity
from tests.eval.helpers import frame

Setup = tuple[Dataset, pl.DataFrame, pl.DataFrame]
Grouped = tuple[Popularity, Dataset, pl.DataFrame]


@pytest.fixture()
def setup() -> Setup:
    """``(full, train events, test events)``; popularity in app: a (3) > b (2) > c (1) > d (0,
    test only); u1 holds out b as validation (``frame([("u1", "b", "app", 5)])``)."""
    train = frame([
        ("u1", "a", "app", 1), ("u2", "a", "app", 1), ("u3", "a", "app", 1),
        ("u2", "b", "app", 2), ("u3", "b", "app", 2), ("u3", "c", "app", 3),
        ("u1", "x", "web", 4),
    ])  # fmt: skip
    valid = frame([("u1", "b", "app", 5)])
    test = frame([("u1", "c", "app", 6), ("u2", "d", "app", 6)])
    full = Dataset(pl.concat([train, valid, test]))
    return full, train, test


@pytest.fixture()
def grouped() -> Grouped:
    """``(model, train Dataset, test events)`` with one user of each group in app."""
    train = frame([
        ("both", "a", "app", 1), ("both", "x", "web", 1),   # overlapping in app
        ("webonly", "x", "web", 1), ("webonly", "y", "web", 2),  # cold in app
        ("apponly", "a", "app", 1), ("apponly", "b", "app", 2),
    ])  # fmt: skip
    test = frame([
        ("both", "b", "app", 5),
        ("webonly", "a", "app", 5),
        ("apponly", "n", "app", 5),   # n: no training event anywhere
        ("nobody", "a", "app", 5),    # a user with no training events
        ("both", "y", "web", 5),
    ])  # fmt: skip
    ds = Dataset(pl.concat([train, test])).subset(train)
    return Popularity().fit(ds), ds, test
