"""Which public format a folder holds (``detect_format``), and loading any of them by name
(``load_path``)."""

from __future__ import annotations

from pathlib import Path

from scenerec.data.public._base import LoadedData
from scenerec.data.public.llmcdsr import load_food_kitchen
from scenerec.data.public.movielens import load_movielens
from scenerec.data.public.recbole import load_recbole
from scenerec.data.public.urllm import load_art_office
from scenerec.errors import SchemaError

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
