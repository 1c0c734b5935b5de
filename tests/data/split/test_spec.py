"""SplitSpec: one spec for the CLI and experiments, applied by the same function."""

from __future__ import annotations

import polars as pl
import pytest

from scenerec.data.dataset import Dataset
from scenerec.data.split import (
    SplitSpec,
    cold_in_scenario,
    leave_last_out,
    make_split,
    predefined,
    ratio_split,
    temporal_cutoff,
)
from scenerec.errors import ConfigError
from scenerec.schema import C
from tests.data.split.helpers import frame, synthetic_events


def same(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a.equals(b))


def test_defaults_are_the_documented_ones() -> None:
    spec = SplitSpec()
    assert spec.to_dict() == {
        "method": "leave-last-out",
        "scenario": None,
        "valid": False,
        "cutoff": None,
        "ratios": [0.8, 0.1, 0.1],
        "order": "random",
        "fraction": 0.2,
        "seed": 2020,
    }
    assert SplitSpec.from_yaml(spec.to_yaml()) == spec


# A ratio split of the synthetic shop has simultaneous events in both parts; it warns (tested
# in test_ratio.py).
@pytest.mark.filterwarnings("ignore::scenerec.errors.DataWarning")
def test_each_method_is_the_split_function_with_the_spec_arguments() -> None:
    ev = synthetic_events()
    cut = int(ev[C.TIMESTAMP].quantile(0.9) or 0)
    cases = [
        (SplitSpec(scenario="app", valid=True), leave_last_out(ev, scenario="app", n_valid=1)),
        (SplitSpec(method="temporal"), temporal_cutoff(ev, cutoff=cut)),
        (SplitSpec(method="temporal", cutoff=cut - 5), temporal_cutoff(ev, cutoff=cut - 5)),
        (
            SplitSpec(method="ratio", ratios=(0.7, 0.3), order="time", seed=3),
            ratio_split(ev, ratios=(0.7, 0.3), order="time", seed=3),
        ),
        (
            SplitSpec(method="cold-in-scenario", scenario="web", fraction=0.3),
            cold_in_scenario(ev, scenario="web", fraction=0.3, seed=2020),
        ),
    ]
    for spec, expected in cases:
        got = spec.apply(ev)
        assert got.name == expected.name and got.info == expected.info, spec
        assert got.train.equals(expected.train) and got.test.equals(expected.test), spec
        assert same(got.valid, expected.valid), spec


@pytest.mark.filterwarnings("ignore::scenerec.errors.DataWarning")
def test_make_split_applies_the_spec_to_a_dataset() -> None:
    ev = synthetic_events()
    ds = Dataset(ev)
    spec = SplitSpec(method="ratio")
    got = make_split(ds, spec)
    assert got.info == spec.apply(ds.raw_events()).info


def test_predefined_returns_the_shipped_split_or_says_it_is_missing() -> None:
    given = predefined(frame([(0, 0, "a", 1)]), frame([(0, 1, "a", 2)]))
    spec = SplitSpec(method="predefined")
    assert spec.apply(given.train, given) is given
    with pytest.raises(ConfigError, match="ships its own split"):
        spec.apply(given.train)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "cold-in-scenario"}, "scenario"),
        ({"ratios": (0.8, 0.1, 0.05, 0.05)}, "ratios"),
        ({"ratios": (0.0, 1.0)}, "train and test"),
        ({"fraction": 1.5}, "fraction"),
        ({"method": "random"}, "method"),
        ({"order": "shuffled"}, "order"),
    ],
)
def test_bad_specs_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitSpec.from_dict(fields, source="split")
