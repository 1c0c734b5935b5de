"""Data and protocols of benchmarks/cross_scenario.py (imported by its child processes).

Sources:

* the two cross-domain releases in ``../shared/data`` (``food-kitchen``, ``art-office``), or any
  folder in their formats (``--release NAME=FOLDER``; ``--scenarios A,B`` renames the domains);
* any CSV / Parquet data with a predefined split (``--source NAME=FOLDER``): the folder holds
  ``train``, ``test`` and optionally ``valid`` event files (``.csv``, ``.parquet``, gzip too) with
  ``user_id``, ``item_id``, ``scenario`` (``behavior`` and ``timestamp`` optional: the file order
  is the time order when absent), and optionally ``catalog`` / ``items`` with the item text.

Protocols (each ranks the test targets of a target scenario ``t``):

* ``warm``: the split as given;
* ``cold``: the test users' own training events in ``t`` removed before fitting;
* ``new_items``: every training event of a random 10% of ``t``'s test items removed, so those
  items are known by their text only (the rows whose target is one of them form the
  ``new_items`` group).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
RELEASES = {
    "food-kitchen": "amazon-food-kitchen-llmcdsr",
    "art-office": "amazon-art-office-urllm",
}
NEW_ITEM_SHARE = 0.10


@dataclass
class Source:
    """A data set with a predefined split."""

    name: str
    events: pl.DataFrame
    catalog: pl.DataFrame | None
    train: pl.DataFrame
    valid: pl.DataFrame | None
    test: pl.DataFrame

    @property
    def targets(self) -> list[str]:
        return sorted(self.test["scenario"].unique().to_list())

    def summary(self) -> dict[str, Any]:
        return {
            part: {"events": df.height, "users": df["user_id"].n_unique()}
            for part, df in (("train", self.train), ("valid", self.valid), ("test", self.test))
            if df is not None
        }


def load_source(spec: dict[str, Any]) -> Source:
    """``{"kind": "release"|"files", "name", "path", "scenarios"}`` -> Source."""
    if spec["kind"] == "files":
        return _from_files(spec["name"], Path(spec["path"]))
    from scenerec.data.public import load_path

    path = Path(spec["path"]) if spec.get("path") else SHARED_DATA / RELEASES[spec["name"]]
    if not path.is_dir():
        raise SystemExit(f"{path}: release folder not found; see DESIGN.md (benchmark data)")
    kwargs: dict[str, Any] = {}
    if spec.get("scenarios"):
        kwargs["scenarios"] = tuple(spec["scenarios"])
    loaded = _load_release(load_path, path, spec["name"], kwargs)
    split = loaded.predefined_split
    if split is None:
        raise SystemExit(f"{path}: the release ships no split; use --source with split files")
    return Source(
        spec["name"],
        loaded.events,
        loaded.catalog,
        split["train"],
        split.get("valid"),
        split["test"],
    )


def _load_release(load_path: Any, path: Path, name: str, kwargs: dict[str, Any]) -> Any:
    from scenerec.data.public import detect_format, load_art_office, load_food_kitchen

    fmt = detect_format(path)
    if fmt == "llmcdsr":
        return load_food_kitchen(path, name=name, **kwargs)
    if fmt == "urllm":
        return load_art_office(path, name=name, **kwargs)
    return load_path(path)


def _from_files(name: str, folder: Path) -> Source:
    from scenerec.data.io import read_catalog

    def find(stem: str, required: bool) -> Path | None:
        hits = sorted(p for p in folder.iterdir() if p.name.split(".")[0] == stem)
        if not hits and required:
            raise SystemExit(f"{folder}: no {stem}.csv / {stem}.parquet (needed for --source)")
        return hits[0] if hits else None

    parts = {}
    for stem, required in (("train", True), ("valid", False), ("test", True)):
        path = find(stem, required)
        parts[stem] = None if path is None else _read_events(path)
    cat_path = find("catalog", False) or find("items", False)
    catalog = None if cat_path is None else read_catalog(cat_path)
    if catalog is None:
        warnings.warn(
            f"{folder}: no catalog file: every item is known by its id only", stacklevel=2
        )
    train, test = parts["train"], parts["test"]
    if train is None or test is None:  # find() raised already; this keeps the types honest
        raise SystemExit(f"{folder}: train and test files are required")
    events = pl.concat([p for p in parts.values() if p is not None], how="diagonal_relaxed")
    return Source(name, events, catalog, train, parts["valid"], test)


def _read_events(path: Path) -> pl.DataFrame:
    df = pl.read_parquet(path) if ".parquet" in path.name else pl.read_csv(path, infer_schema=False)
    missing = {"user_id", "item_id", "scenario"} - set(df.columns)
    if missing:
        raise SystemExit(f"{path}: lacks column(s) {sorted(missing)}")
    if "timestamp" not in df.columns:  # the file order is the time order
        df = df.with_columns(pl.int_range(0, pl.len()).over("user_id").alias("timestamp"))
    if "behavior" not in df.columns:
        df = df.with_columns(pl.lit("click").alias("behavior"))
    return df.select(
        pl.col("user_id").cast(pl.String),
        pl.col("item_id").cast(pl.String),
        pl.col("scenario").cast(pl.String),
        pl.col("behavior").cast(pl.String),
        pl.col("timestamp").cast(pl.Int64),
    )


# ------------------------------------------------------------------------------- protocols
def protocol_fits(
    src: Source, protocol: str, scope: str, seed: int
) -> list[tuple[list[str], pl.DataFrame, np.ndarray | None]]:
    """``(targets evaluated, events to fit on, new items or None)`` for one protocol and scope
    (``target``: one fit per target on its events; ``all``: every scenario's events)."""
    train, test = src.train, src.test
    fits: list[tuple[list[str], pl.DataFrame, np.ndarray | None]] = []
    if protocol == "warm" and scope == "all":
        return [(src.targets, train, None)]
    for t in src.targets:
        seen, new = train, None
        if protocol == "cold":
            users = test.filter(pl.col("scenario") == t)["user_id"].unique().implode()
            seen = train.filter(~(pl.col("user_id").is_in(users) & (pl.col("scenario") == t)))
        elif protocol == "new_items":
            items = np.array(sorted(test.filter(pl.col("scenario") == t)["item_id"].unique()))
            rng = np.random.default_rng([seed, 11])
            new = rng.choice(items, size=max(1, int(len(items) * NEW_ITEM_SHARE)), replace=False)
            seen = train.filter(~pl.col("item_id").is_in(pl.Series(new.tolist())))
        fit_on = seen.filter(pl.col("scenario") == t) if scope == "target" else seen
        fits.append(([t], fit_on, new))
    return fits


def degenerate(result: dict[str, Any], train_info: dict[str, Any]) -> str | None:
    """Why a run must not enter a table (NDCG 0 or NaN, or a neural fit that stopped after
    one epoch), or ``None``."""
    nd = result["full"]["all"]["ndcg@10"]
    if nd != nd:
        return "NDCG@10 is NaN"
    if nd == 0:
        return "NDCG@10 is 0 on every test user"
    if train_info.get("epochs_run") == 1 and train_info.get("stopped") != "max_epochs":
        return f"training stopped after one epoch ({train_info.get('stopped')})"
    return None


__all__ = ["RELEASES", "Source", "degenerate", "load_source", "protocol_fits"]
