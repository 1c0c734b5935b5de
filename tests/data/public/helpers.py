"""Paths of the shared releases, writers of tiny files and checks shared by the public-data
tests."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from scenerec.data.public import LoadedData
from scenerec.schema import EVENT_SCHEMA, C

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
FOOD_KITCHEN = SHARED / "amazon-food-kitchen-llmcdsr"
ART_OFFICE = SHARED / "amazon-art-office-urllm"


def assert_typed(data: LoadedData) -> None:
    """Every event frame (all events and each split) follows EVENT_SCHEMA."""
    frames = [data.events, *(data.predefined_split or {}).values()]
    for ev in frames:
        for col, dtype in ev.schema.items():
            assert dtype == EVENT_SCHEMA[col], col
        assert ev.select(pl.all().null_count()).row(0) == (0,) * ev.width


def assert_partition(data: LoadedData) -> None:
    """The predefined split's frames partition ``events`` exactly (as multisets of rows)."""
    assert data.predefined_split is not None
    parts = pl.concat(list(data.predefined_split.values()))
    key = list(data.events.columns)
    assert parts.height == data.events.height
    assert parts.sort(key).equals(data.events.sort(key))


# ---------------------------------------------------------------------------- MovieLens
ML1M_RATINGS = "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
ML1M_MOVIES = "10::Misérables, Les (1995)::Drama|Musical\n20::Toy Story (1995)::Animation\n"
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def write_ml1m(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_text(ML1M_RATINGS, encoding="ascii")
    (folder / "movies.dat").write_bytes(ML1M_MOVIES.encode("latin-1"))
    (folder / "users.dat").write_text(ML1M_USERS, encoding="ascii")
    return folder


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------------- shared releases
needs_fk = pytest.mark.skipif(not FOOD_KITCHEN.is_dir(), reason="no ../shared/data copy")
needs_ao = pytest.mark.skipif(not ART_OFFICE.is_dir(), reason="no ../shared/data copy")


def per_scenario(ev: pl.DataFrame) -> dict[str, int]:
    return dict(ev.group_by(C.SCENARIO).len().iter_rows())
