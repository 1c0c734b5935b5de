"""predefined wraps the parts a release ships."""

from __future__ import annotations

import pytest

from scenerec.data.split import predefined
from scenerec.errors import DataWarning, SchemaError
from scenerec.schema import C
from tests.data.split.helpers import frame


def test_predefined_wraps_the_given_parts() -> None:
    train = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    test = frame([(0, 2, "a", 3)])
    split = predefined(train, test, valid=frame([(1, 3, "a", 3)]))
    assert split.train.equals(train) and split.test.equals(test)
    assert split.valid is not None and split.valid.height == 1
    assert split.info["test_keys_in_train"] == 0


def test_predefined_warns_about_leakage_and_rejects_mismatched_columns() -> None:
    train = frame([(0, 0, "a", 1), (1, 1, "a", 2)])
    with pytest.warns(DataWarning, match="1 test event"):
        split = predefined(train, frame([(0, 0, "a", 1)]))
    assert split.info["test_keys_in_train"] == 1
    with pytest.raises(SchemaError, match="same columns"):
        predefined(train, frame([(0, 0, "a", 1)]).drop(C.ROW))
