"""The catalogue of public data sets: every entry complete, official sources first."""

from __future__ import annotations

import pytest

from scenerec.data.public import get_spec, list_datasets
from scenerec.errors import UnknownEntityError


def test_catalogue_lists_the_public_sets_with_sources() -> None:
    specs = {s.name: s for s in list_datasets()}
    assert {"ml-1m", "ml-100k", "food-kitchen", "art-office"} <= set(specs)
    for spec in specs.values():
        assert spec.homepage and spec.layouts and spec.description
    ml1m = specs["ml-1m"]
    assert ml1m.expected_events == 1_000_209
    assert [s.kind for s in ml1m.sources] == ["archive", "pypi"]  # official first
    assert ml1m.sources[0].location.startswith("https://files.grouplens.org/")
    for name in ("food-kitchen", "art-office"):  # pinned to a commit of the release
        assert all(len(s.location.split("/")[5]) == 40 for s in specs[name].sources)


def test_get_spec_names_the_known_sets() -> None:
    assert get_spec("ml-100k").expected_events == 100_000
    with pytest.raises(UnknownEntityError, match="art-office"):
        get_spec("ml-2m")
