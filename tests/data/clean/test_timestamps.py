"""Timestamp units are detected per input, converted to seconds and reported; implausible values
are quarantined with a reason."""

from __future__ import annotations

import warnings

import pytest

from scenerec.data.clean import TIMESTAMP_OUT_OF_RANGE, CleaningConfig, clean_events
from scenerec.errors import SchemaError
from scenerec.schema import C
from tests.data.clean.helpers import NO_BOTS, detail_of, ev, frame, reason_of

SECOND = 1_700_000_000  # 2023-11-14


def file_in(factor: int, n: int = 20) -> list[dict[str, str]]:
    return [ev(item=f"i{i}", ts=str((SECOND + 60 * i) * factor)) for i in range(n)]


@pytest.mark.parametrize(
    ("unit", "factor"), [("s", 1), ("ms", 1_000), ("us", 10**6), ("ns", 10**9)]
)
def test_a_whole_file_in_one_unit_is_converted_and_reported(unit: str, factor: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a report, not a Python warning
        result = clean_events(frame(file_in(factor)), config=NO_BOTS)
    assert result.events[C.TIMESTAMP].to_list() == [SECOND + 60 * i for i in range(20)]
    assert result.report.timestamp_unit == unit
    assert result.report.to_dict()["timestamp_unit"] == unit
    assert unit == "s" or "converted to seconds" in result.report.timestamp_note


def test_a_value_in_another_unit_than_its_file_is_quarantined() -> None:
    rows = [*file_in(1_000), ev(ts=str(SECOND))]  # one seconds value among milliseconds
    result = clean_events(frame(rows), config=NO_BOTS)
    assert reason_of(result, 21) == TIMESTAMP_OUT_OF_RANGE
    assert "looks like seconds" in detail_of(result, 21) and "milliseconds" in detail_of(result, 21)
    assert result.events.height == 20


def test_the_year_3000_is_quarantined_by_the_default_window() -> None:
    year_3000 = 32_503_680_000
    result = clean_events(frame([*file_in(1), ev(ts=str(year_3000))]), config=NO_BOTS)
    assert reason_of(result, 21) == TIMESTAMP_OUT_OF_RANGE
    assert str(year_3000) in detail_of(result, 21)
    with pytest.raises(SchemaError, match="row 21, column 'timestamp'"):
        clean_events(
            frame([*file_in(1), ev(ts=str(year_3000))]),
            config=CleaningConfig(strict=True, bot_detection=False),
        )


def test_a_set_unit_is_used_as_given_and_iso_keeps_its_own() -> None:
    rows = [*file_in(1_000, 3), ev(ts="2023-11-14T22:13:20Z")]
    cfg = NO_BOTS.model_copy(update={"timestamp_unit": "ms"})
    result = clean_events(frame(rows), config=cfg)
    assert result.events[C.TIMESTAMP].to_list() == [SECOND, SECOND + 60, SECOND + 120, SECOND]
    assert "set by timestamp_unit" in result.report.timestamp_note


def test_positions_stay_positions() -> None:
    result = clean_events(frame([ev(item=f"i{i}", ts=str(i)) for i in range(5)]), config=NO_BOTS)
    assert result.events[C.TIMESTAMP].to_list() == [0, 1, 2, 3, 4]
    assert result.report.timestamp_unit == "s"
