"""What every split shares: input checks, vocabularies of the train part, no leakage."""

from __future__ import annotations

import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.data.split import cold_in_scenario, leave_last_out, ratio_split, temporal_cutoff
from scenerec.errors import ConfigError, SchemaError, UnknownEntityError
from scenerec.schema import C
from tests.data.split.helpers import frame, keys, synthetic_events


def test_bad_inputs_name_the_problem() -> None:
    good = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    with pytest.raises(SchemaError, match="timestamp"):
        leave_last_out(good.drop(C.TIMESTAMP), scenario="a")
    with pytest.raises(SchemaError, match="integer"):
        temporal_cutoff(good.with_columns(pl.col(C.TIMESTAMP).cast(pl.String)), cutoff=1)
    with_null = good.with_columns(
        pl.when(pl.col(C.ROW) == 2).then(None).otherwise(pl.col(C.USER_ID)).alias(C.USER_ID)
    )
    with pytest.raises(SchemaError, match="row 2") as err:
        ratio_split(with_null)
    assert err.value.column == C.USER_ID
    with pytest.raises(UnknownEntityError, match="'zzz'"):
        leave_last_out(good, scenario="zzz")
    with pytest.raises(ConfigError, match="n_valid"):
        leave_last_out(good, scenario="a", n_valid=2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fraction"):
        cold_in_scenario(good, scenario="a", fraction=1.5)


def test_train_dataset_keeps_the_full_vocabularies() -> None:
    events = synthetic_events()
    full = Dataset(events)
    split = leave_last_out(events, scenario="search", n_valid=1)
    train = split.train_dataset(full)
    assert train.n_events == split.train.height
    assert train.vocabularies == full.vocabularies
    assert train.n_items == full.n_items and train.n_users == full.n_users


def test_splits_of_the_synthetic_shop_do_not_leak() -> None:
    events = synthetic_events()
    lo = int(events[C.TIMESTAMP].min())  # type: ignore[arg-type]
    splits = [
        leave_last_out(events, scenario="app"),
        leave_last_out(events, scenario=None, n_valid=1, min_history=3),
        temporal_cutoff(events, cutoff=lo + 80 * 86_400, valid_cutoff=lo + 70 * 86_400),
        cold_in_scenario(events, scenario="web", fraction=0.3),
    ]
    for split in splits:
        assert split.test.height > 0 and split.train.height > 0, split.name
        assert split.info["test_keys_in_train"] == 0, split.name
        assert not keys(split.test) & keys(split.train), split.name
        assert (
            split.train.height
            + split.test.height
            + (0 if split.valid is None else split.valid.height)
            + split.info["n_dropped"]
            == events.height
        )
