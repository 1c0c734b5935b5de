"""Adapters for public data-set formats; each returns a :class:`LoadedData`.

=============================  ===========================================================
adapter                        format
=============================  ===========================================================
``load_movielens_100k``        GroupLens ML-100K (``u.data``, ``u.item``, ``u.user``)
``load_movielens_1m``          GroupLens ML-1M (``ratings.dat``, ``movies.dat``, ``users.dat``)
``load_movielens``             either of the two, detected from the files
``load_recbole``               RecBole atomic files (``NAME.inter``/``.item``/``.user``)
``load_amazon``                Amazon reviews 2014/2018, one category file per scenario
``load_food_kitchen``          LLMCDSR Food-Kitchen release (with its predefined split)
``load_art_office``            URLLM Art-Office release (with its predefined split)
=============================  ===========================================================

Adapters map a format to scenerec's tables and nothing more: they do not clean, deduplicate or
filter (``scenerec.data.clean`` does). ``LoadedData.to_dataset()`` builds a ``Dataset``.
"""

from __future__ import annotations

from pathlib import Path

from scenerec.data.sources._base import SC, SPLIT_NAMES, LoadedData, SourceColumns
from scenerec.data.sources.amazon import load_amazon
from scenerec.data.sources.llmcdsr import load_food_kitchen
from scenerec.data.sources.movielens import (
    load_movielens,
    load_movielens_1m,
    load_movielens_100k,
)
from scenerec.data.sources.recbole import load_recbole
from scenerec.data.sources.restricted_pickle import load_builtin_pickle, loads_builtin_pickle
from scenerec.data.sources.urllm import load_art_office
from scenerec.errors import SchemaError

__all__ = [
    "SC",
    "SPLIT_NAMES",
    "LoadedData",
    "SourceColumns",
    "detect_format",
    "load_amazon",
    "load_art_office",
    "load_builtin_pickle",
    "load_food_kitchen",
    "load_movielens",
    "load_movielens_1m",
    "load_movielens_100k",
    "load_path",
    "load_recbole",
    "loads_builtin_pickle",
]

_FORMATS = ("movielens", "recbole", "llmcdsr", "urllm")


def detect_format(path: str | Path) -> str:
    """Which public format a folder holds, from the files in it."""
    p = Path(path)
    if not p.is_dir():
        raise SchemaError(
            "expected a dataset folder", file=p, fix="pass the folder of a public release"
        )
    names = {f.name for f in p.iterdir()}
    if {"num.txt", "item_set_A.pkl"} <= names:
        return "llmcdsr"
    if "AO" in names or "item_listA_F.csv" in names or "DG_src_dataset" in names:
        return "urllm"
    if (
        "ratings.dat" in names
        or "u.data" in names
        or any(
            (p / sub).is_dir() and {"ratings.dat", "u.data"} & {f.name for f in (p / sub).iterdir()}
            for sub in ("ml-1m", "ml-100k")
        )
    ):
        return "movielens"
    if any(n.endswith(".inter") for n in names):
        return "recbole"
    raise SchemaError(
        f"cannot tell which public format this folder holds (files: {sorted(names)[:8]})",
        file=p,
        fix=f"pass --format one of {', '.join(_FORMATS)}",
    )


def load_path(path: str | Path, *, format: str | None = None) -> LoadedData:
    """Load a public-format folder, detecting the format unless ``format`` names it."""
    fmt = format or detect_format(path)
    if fmt == "movielens":
        return load_movielens(path)
    if fmt == "recbole":
        return load_recbole(path)
    if fmt == "llmcdsr":
        return load_food_kitchen(path)
    if fmt == "urllm":
        return load_art_office(path)
    raise SchemaError(f"unknown format {fmt!r}", file=path, fix=f"use one of {', '.join(_FORMATS)}")
